"""JSON that came from outside: strict JSON (no NaN or Infinity) nested no deeper than any
request of ours needs, so no code that reads it recursively can run out of stack."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ot.errors import InvalidInput

# The deepest request we take is a stats query's filter tree: `and`/`or`/`not` add two levels
# each. 32 leaves room for any filter a person would write; Python's parser itself gives up
# near 1,000 levels, and the code walking a filter tree would fail well before that.
MAX_DEPTH = 32


def parse_json(text: str | bytes, *, field: str, exact_decimals: bool = False) -> Any:
    """The value `text` holds, or InvalidInput naming `field`. `exact_decimals` reads numbers
    with a fraction as `Decimal` (12.34 stays 12.34) instead of float."""
    try:
        value = _loads(text, exact_decimals=exact_decimals)
    except RecursionError:
        raise _too_deep(field) from None
    except json.JSONDecodeError as error:
        where = f"{error.msg} at line {error.lineno} column {error.colno}"  # quotes nothing sent
        raise InvalidInput(f"{field} is not valid JSON ({where})", field=field) from None
    except (ValueError, ArithmeticError):
        # ValueError: bytes that are not UTF-8, NaN or Infinity, or an integer too long to
        # convert; ArithmeticError: a number whose exponent Decimal cannot hold.
        raise InvalidInput(f"{field} is not valid JSON", field=field) from None
    opening = text.count("[") + text.count("{") if isinstance(text, str) else _openings(text)
    # Fewer brackets than the limit, strings included, cannot nest deeper: no walk needed.
    if opening > MAX_DEPTH and depth_exceeds(value, MAX_DEPTH):
        raise _too_deep(field)
    return value


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` are nested more than `limit` levels deep (the
    outermost one is level 1). Iterative: the value may be as deep as the parser allows."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _openings(text: bytes) -> int:
    return text.count(b"[") + text.count(b"{")


def _too_deep(field: str) -> InvalidInput:
    return InvalidInput(f"{field} is nested deeper than {MAX_DEPTH} levels", field=field)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# Made once: `json.loads` with options builds a decoder and its scanner for every body, ~1 % of
# a collector hit. Shared as the json module shares its own default decoder.
_DECODERS = {
    False: json.JSONDecoder(parse_constant=_reject_constant),
    True: json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant),
}


def _loads(text: str | bytes, *, exact_decimals: bool) -> Any:
    """`json.loads` with our decoders: bytes in any JSON encoding, a leading BOM refused."""
    if isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODERS[exact_decimals].decode(text)
