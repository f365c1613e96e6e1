"""How `ot-admin` commands print what they found: for people, a header line and tab-separated
rows (which `cut` and `column -t` read too); for scripts (`--json`), one JSON document on
standard output whose keys are the header's names and do not change."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import typer

JSON_HELP = "Print one JSON document instead, for scripts."


def json_option() -> Any:
    """The `--json` option every command that prints something takes."""
    return typer.Option(False, "--json", help=JSON_HELP)


def print_json(document: object) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def print_listing(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    *,
    as_json: bool,
    shown: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    """Rows as a JSON array of objects with these keys; else a table on a terminal, or a header
    line and one tab-separated line per row for a pipe. `shown` says how a column's value is
    written in the text (default `str`, None as -)."""
    if as_json:
        print_json([{name: row[name] for name in columns} for row in rows])
        return
    shown = shown or {}
    lines = [[shown.get(name, _text)(row[name]) for name in columns] for row in rows]
    if sys.stdout.isatty():
        _print_table(columns, lines)
        return
    typer.echo("\t".join(columns))
    for line in lines:
        typer.echo("\t".join(line))


def print_fields(shown: Mapping[str, object]) -> None:
    """One record, a field per line: its name in words, its value (lists joined, nested
    records as "name value" pairs, nothing as -)."""
    width = max(len(name) for name in shown)
    for name, value in shown.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v is not None)
        typer.echo(f"{name.replace('_', ' '):<{width}}  {'-' if value in (None, '') else value}")


def _print_table(columns: Sequence[str], lines: list[list[str]]) -> None:
    from rich.console import Console  # here: only a terminal needs it
    from rich.table import Table

    table = Table(*columns)
    for line in lines:
        table.add_row(*line)
    Console(file=sys.stdout, highlight=False).print(table)


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean "visitors"?)` for a near miss among the known names, else nothing."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 visit`, `2 visits`, `1,200 visits`; `nouns` for a plural not made with -s."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def duration_text(seconds: float) -> str:
    """A duration as people read it: `34s`, `2m 04s`, `1h 02m 03s`."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02}m {secs:02}s"
    if minutes:
        return f"{minutes}m {secs:02}s"
    return f"{secs}s"


# Metrics that are percentages, and the one that is a duration in seconds (as the engine answers).
PERCENT_METRICS = frozenset({"bounce_rate", "conversion_rate", "percentage"})
DURATION_METRICS = frozenset({"visit_duration"})


def metric_text(name: str, value: object) -> str:
    """A metric's value with its unit: `27 %`, `2m 34s`; others as they are."""
    if value is None:
        return ""
    if name in PERCENT_METRICS:
        return f"{value} %"
    if name in DURATION_METRICS and isinstance(value, int | float):
        return duration_text(value)
    return str(value)
