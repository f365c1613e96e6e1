"""How `ot-admin` commands print what they found: for people, a header line and tab-separated
rows (which `cut` and `column -t` read too); for scripts (`--json`), one JSON document on
standard output whose keys are the header's names and do not change. Long work shows a progress
bar on a terminal's standard error (`progress_bar`)."""

from __future__ import annotations

import difflib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, TaskID

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


# --- progress -------------------------------------------------------------------------------

# The most often a bar is redrawn: the work reports far more often than people can read.
PROGRESS_REDRAW_SECONDS = 0.1

# What the core's long functions take as `progress`: units done, and the total when known.
ProgressCallback = Callable[[int, int | None], None]


def progress_shown() -> bool:
    """Whether progress is drawn: only when standard error is a terminal (never into a pipe, a
    log file or cron's mail)."""
    return sys.stderr.isatty()


class ProgressDrawing:
    """rich's progress display, drawn from the work's own progress calls rather than by rich's
    refresh thread: nothing writes to the terminal while the command is not reporting, and a
    single-threaded command may fork (the log import's writer process, see
    ot.logimport.writer). Redrawn at most every PROGRESS_REDRAW_SECONDS, and always at the end."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._drawn_at = float("-inf")

    def add(self, description: str, total: int | None, **fields: Any) -> TaskID:
        return self._progress.add_task(description, total=total, **fields)

    def update(self, task: TaskID, *, finished: bool = False, **changes: Any) -> None:
        self._progress.update(task, **changes)
        now = time.monotonic()
        if finished or now - self._drawn_at >= PROGRESS_REDRAW_SECONDS:
            self._progress.refresh()
            self._drawn_at = now


@contextmanager
def progress_display(*columns: ProgressColumn | str) -> Iterator[ProgressDrawing | None]:
    """A display of these columns on standard error, gone when the work is done (what the
    command prints then says what was done); None when standard error is no terminal. Never
    on standard output, where `--json` writes its document."""
    if not progress_shown():
        yield None
        return
    from rich.console import Console  # here: only a terminal needs it
    from rich.progress import Progress

    progress = Progress(
        *columns,
        # A terminal: `progress_shown` said so (and a test that makes it say so sees the bar).
        console=Console(file=sys.stderr, force_terminal=True),
        transient=True,
        auto_refresh=False,  # no refresh thread: see ProgressDrawing
    )
    with progress:
        yield ProgressDrawing(progress)


@contextmanager
def progress_bar(description: str, *, unit: str | None = None) -> Iterator[ProgressCallback | None]:
    """One bar for a long command (`progress_display`): the callback to hand to the core
    function's `progress`, None when nothing is drawn. The bar counts `unit`s ("12/40
    accounts"), or shows a percentage when the units mean nothing to people (database pages);
    without a total it only shows that the work goes on."""
    if not progress_shown():
        yield None  # before importing rich: the usual case under cron and in scripts
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[ProgressColumn | str] = [TextColumn("{task.description}"), BarColumn()]
    if unit is None:
        columns.append(TaskProgressColumn())
    else:
        columns += [MofNCompleteColumn(separator="/"), unit]
    with progress_display(*columns, TimeElapsedColumn()) as drawing:
        if drawing is None:
            yield None
            return
        task = drawing.add(description, total=None)

        def advance(done: int, total: int | None = None) -> None:
            finished = total is not None and done >= total
            drawing.update(task, completed=done, total=total, finished=finished)

        yield advance
