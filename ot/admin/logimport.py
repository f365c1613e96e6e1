"""`ot-admin import-log`: import web server access logs into a site."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ot.admin.context import AdminContext, context_from, refuse, run
from ot.admin.output import ProgressDrawing, plural, progress_display
from ot.errors import InvalidInput
from ot.logimport import state
from ot.logimport.formats import LogFormat, apache_format, goaccess_format
from ot.logimport.importer import ImportOptions, LogImporter
from ot.logimport.report import ImportReport
from ot.models import Site
from ot.sites.store import get_site

DEFAULT_FORMAT = "combined"


def import_log_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain to import into."),
    files: list[str] = typer.Argument(..., help="Log files: plain, .gz, or - for standard input."),
    log_format_name: str = typer.Option(
        DEFAULT_FORMAT,
        "--format",
        help="combined, common, vhost_combined, or an Apache LogFormat string.",
    ),
    goaccess_log_format: str | None = typer.Option(
        None, "--log-format", help="A GoAccess log format (or COMBINED, VCOMBINED, COMMON, ...)."
    ),
    date_format: str = typer.Option("", help="GoAccess --date-format, e.g. %d/%b/%Y."),
    time_format: str = typer.Option("", help="GoAccess --time-format, e.g. %H:%M:%S."),
    include_static: bool = typer.Option(
        False, "--include-static/--exclude-static", help="Import static files (.css, .png, ...)."
    ),
    include_crawlers: bool = typer.Option(
        False, "--include-crawlers/--exclude-crawlers", help="Import requests of crawlers."
    ),
    include_not_found: bool = typer.Option(
        False, "--include-404/--exclude-404", help="Import requests answered 404."
    ),
    follow: bool = typer.Option(
        False, "--follow", help="Keep importing lines appended to the last file until Ctrl-C."
    ),
    batch_size: int = typer.Option(5_000, min=1, max=100_000, help="Hits per transaction."),
    forget: bool = typer.Option(
        False,
        "--forget",
        help="Import nothing: forget how far the files were imported, so that the next import "
        "reads them from their start (lines already stored are found stored).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import access logs into a site.

    Importing a log again adds only what was appended since.

    \b
    Example:
      ot-admin import-log example.com /var/log/nginx/access.log*
    """
    context = context_from(ctx)
    if forget:
        _forget_positions(context, site, files, as_json=as_json)
        return
    log_format = _log_format(log_format_name, goaccess_log_format, date_format, time_format)
    options = ImportOptions(
        include_static=include_static,
        include_crawlers=include_crawlers,
        include_not_found=include_not_found,
        follow=follow,
        batch_size=batch_size,
    )
    if follow and files[-1] == "-":
        refuse("--follow needs a file to follow, not standard input")

    async def find_site() -> Site:
        async with context.session() as session:
            return await get_site(session, site)

    found = run(find_site)
    stop = threading.Event()
    with _stop_on_signals(stop), _import_progress() as progress:
        importer = LogImporter(
            context.settings,
            found,
            log_format,
            options,
            actor=context.actor,
            stop=stop,
            progress=progress,
        )
        report = run(lambda: importer.run(files))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_summary(report, Console(file=sys.stdout, highlight=False))


def _forget_positions(context: AdminContext, site: str, files: list[str], *, as_json: bool) -> None:
    """`--forget`: the recorded positions of the files are forgotten, in one transaction."""

    async def forget() -> tuple[Site, list[tuple[str, int | None]]]:
        async with context.session() as session:
            found = await get_site(session, site)
            return found, await state.forget_positions(session, found, files, actor=context.actor)

    found, forgotten = run(forget)
    if as_json:
        answer = {
            "site": found.domain,
            "forgotten": [{"file": name, "lines_read": lines} for name, lines in forgotten],
        }
        typer.echo(json.dumps(answer, indent=2))
        return
    for name, lines in forgotten:
        if lines is None:
            typer.echo(f"{name}: nothing recorded: the next import reads it from its start")
        else:
            typer.echo(
                f"{name}: forgot that {lines:,} lines were imported: the next import reads it "
                "from its start, and finds stored what it stored before"
            )


def _log_format(
    name: str, goaccess_log_format: str | None, date_format: str, time_format: str
) -> LogFormat:
    try:
        if goaccess_log_format is not None:
            if name != DEFAULT_FORMAT:
                raise InvalidInput("give either --format or --log-format, not both")
            return goaccess_format(goaccess_log_format, date_format, time_format)
        if date_format or time_format:
            raise InvalidInput("--date-format and --time-format go with --log-format")
        if "%" not in name and name.lower() not in ("combined", "common", "vhost_combined"):
            raise InvalidInput(
                f"unknown log format {name!r}: use combined, common, vhost_combined, "
                "an Apache LogFormat string, or --log-format"
            )
        return apache_format(name)
    except InvalidInput as error:
        refuse(error.message)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the import after committing what was read."""

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, request_stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _ImportProgress:
    """A bar per file: lines read, lines per second, and bytes for plain files (drawn as
    `ot.admin.output.ProgressDrawing` draws: from the import's own progress calls)."""

    def __init__(self, drawing: ProgressDrawing) -> None:
        self._drawing = drawing
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, tuple[float, int]] = {}

    def __call__(
        self, name: str, lines: int, offset: int, size: int | None, finished: bool
    ) -> None:
        now = time.monotonic()
        if name not in self._tasks:
            self._tasks[name] = self._drawing.add(name, total=size, lines=0, rate=0.0)
            self._started[name] = (now, lines)
        started, first_lines = self._started[name]
        elapsed = max(now - started, 1e-6)
        rate = (lines - first_lines) / elapsed
        # A log whose size is unknown (gzip, a stream) is complete when its end is reached.
        total = size if size is not None else (offset if finished else None)
        self._drawing.update(
            self._tasks[name],
            finished=finished,  # a small log is read before the next redraw would be due
            completed=offset,
            total=total,
            lines=lines,
            rate=rate,
        )


@contextmanager
def _import_progress() -> Iterator[_ImportProgress | None]:
    with progress_display(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[lines]:,} lines"),
        TextColumn("{task.fields[rate]:,.0f} lines/s"),
        TimeElapsedColumn(),
    ) as drawing:
        yield None if drawing is None else _ImportProgress(drawing)


def print_summary(report: ImportReport, console: Console) -> None:
    """The summary for people: what was read and stored, then GoAccess's figures."""
    summary = report.as_dict()
    figures = summary["goaccess"]
    stopped = " (stopped)" if report.stopped else ""
    console.print(f"Access-log import into {report.site}{stopped}")
    for file in summary["files"]:
        start = f" from line {file['started_at_line'] + 1:,}" if file["started_at_line"] else ""
        note = f" — {file['note']}" if file["note"] else ""
        console.print(f"  {file['name']}: {plural(file['lines_read'], 'line')} read{start}{note}")
    counts = Table.grid(padding=(0, 2))
    counts.add_column(justify="left")
    counts.add_column(justify="right")
    rows: list[tuple[str, Any]] = [
        ("lines read", summary["lines_read"]),
        ("imported", summary["imported"]),
        ("already imported", summary["already_imported"]),
    ]
    rows += [(f"skipped: {reason}", count) for reason, count in summary["skipped"].items()]
    if summary["not_stored"]:
        rows.append(("not stored: no page in the request", summary["not_stored"]))
    rows.append(("malformed", summary["malformed"]["count"]))
    for label, value in rows:
        counts.add_row(label, f"{value:,}")
    console.print(counts)
    for malformed in summary["malformed"]["first"]:
        console.print(
            f"  malformed: {malformed['file']} line {malformed['line']}: {malformed['reason']}"
        )
    # GoAccess counts skipped lines as it counts those its --ignore-* options leave out: among
    # the requests, not among the valid ones.
    console.print(
        f"GoAccess's figures for the {plural(figures['total_requests'], 'line')} read (the lines "
        "skipped count as lines GoAccess is told to ignore):"
    )
    console.print(
        f"  total requests {figures['total_requests']:,} (every line read), "
        f"valid {figures['valid_requests']:,} (not skipped), "
        f"failed {figures['failed_requests']:,} (malformed); "
        f"unique visitors {figures['unique_visitors']:,}; "
        f"requested files {figures['unique_files']:,}; 404s {figures['not_found_requests']:,}; "
        f"bandwidth {figures['bandwidth']:,} bytes"
    )
    statuses = ", ".join(f"{code}: {hits:,}" for code, hits in figures["status_codes"].items())
    console.print(f"  status codes: {statuses or 'none'}")
    # One row per request, method and protocol, as in GoAccess's requests panel; "---" where
    # the line named no known method or protocol, as GoAccess shows it.
    top = Table(title="Top requested files", title_justify="left")
    top.add_column("hits", justify="right")
    top.add_column("visitors", justify="right")
    top.add_column("method")
    top.add_column("protocol")
    top.add_column("request", overflow="fold")
    for entry in figures["top_requests"]:
        top.add_row(
            f"{entry['hits']:,}",
            f"{entry['visitors']:,}",
            entry["method"] or "---",
            entry["protocol"] or "---",
            entry["request"],
        )
    console.print(top)
