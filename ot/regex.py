"""Regular expressions from outside (the Stats API's `matches` filters) run on RE2, as
Plausible's do on ClickHouse: matching takes time linear in the text, whatever the pattern.

Python's `re` backtracks: one pattern such as `(a+)+$` against a long page path would keep
SQLite's REGEXP (which calls Python, holding the interpreter lock) busy for hours, and with it
the collector serving the same process. RE2 also refuses what it cannot match in linear time
(backreferences, lookaround), which the query check reports as an invalid expression.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print each refused pattern to stderr


class InvalidPattern(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidPattern(str(reason)) from None


def sqlite_regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite's `value REGEXP pattern`: whether the pattern occurs in the value, NULL for
    NULL, as PostgreSQL's `~`."""
    if pattern is None or value is None:
        return None
    return compile_pattern(pattern).search(value) is not None
