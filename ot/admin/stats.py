"""`ot-admin stats query`: the Stats API's query from the shell, as a table or v2 JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date as date_cls
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ot.admin.context import context_from, refuse, run
from ot.admin.help import AdminTyper
from ot.admin.output import did_you_mean, metric_text, plural
from ot.clock import utcnow
from ot.errors import InvalidInput
from ot.sites.store import get_site
from ot.stats.engine import QueryResult
from ot.stats.processes import answer_here
from ot.stats.query import (
    EVENT_DIMENSIONS,
    METRICS,
    NAMED_RANGES,
    PROPS_PREFIX,
    TIME_DIMENSIONS,
    VISIT_DIMENSIONS,
    Query,
    is_known_dimension,
    parse_query,
)
from ot.stats.render import v2_response
from ot.stats.v1 import parse_filters

app = AdminTyper(help="Statistics.", no_args_is_help=True)


# The query's parts as the command line names them, for the core's messages ("#/metrics/0: ...").
OPTION_OF_FIELD = {
    "metrics": "--metrics",
    "dimensions": "--dimensions",
    "date_range": "--period/--from/--to",
    "date": "--date",
    "filters": "--filter",
    "order_by": "--order-by",
    "pagination": "--limit",
    "include": "--compare",
}
ORDER_BY_SHAPE = "expected NAME:asc or NAME:desc (e.g. visitors:desc), or NAME alone for desc"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _metrics(text: str) -> list[str]:
    metrics = _names(text)
    for metric in metrics:
        if metric not in METRICS:
            raise InvalidInput(
                f'--metrics: unknown metric "{metric}"{did_you_mean(metric, METRICS)}; '
                f"the metrics are {', '.join(METRICS)}"
            )
    return metrics


def _dimensions(text: str) -> list[str]:
    dimensions = _names(text)
    for dimension in dimensions:
        if not is_known_dimension(dimension):
            known = [*EVENT_DIMENSIONS, *VISIT_DIMENSIONS, *TIME_DIMENSIONS]
            hint = did_you_mean(dimension, known) or (
                f"; the dimensions are {', '.join(known)} and {PROPS_PREFIX}NAME"
            )
            raise InvalidInput(f'--dimensions: unknown dimension "{dimension}"{hint}')
    return dimensions


def _period(period: str) -> str:
    if period not in NAMED_RANGES:
        raise InvalidInput(
            f'--period: unknown period "{period}"{did_you_mean(period, NAMED_RANGES)}; '
            f"the periods are {', '.join(NAMED_RANGES)}, or give --from and --to"
        )
    return period


def _day(option: str, text: str) -> str:
    """The day as given, once it reads as one (the ISO form sorts as the days do)."""
    try:
        return date_cls.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidInput(f'{option}: "{text}" is not a day written YYYY-MM-DD') from None


def _order_by(item: str, queried: list[str]) -> list[str]:
    """`NAME:asc`, `NAME:desc`, or `NAME` alone for descending (the biggest first, as a
    top list reads); NAME is one of the query's metrics or dimensions."""
    name, colon, direction = item.rpartition(":")
    if not colon or direction not in ("asc", "desc"):
        name, direction = item, "desc"
    if name not in queried:
        head = item.rpartition(":")[0]
        if head in queried:  # a known name with a misspelt direction: visitors:down
            raise InvalidInput(f'--order-by: {ORDER_BY_SHAPE}, got "{item}"')
        raise InvalidInput(
            f'--order-by: "{name}" is neither a metric of --metrics nor a dimension of '
            f"--dimensions{did_you_mean(name, queried)} (those are: {', '.join(queried)})"
        )
    return [name, direction]


def _filters(text: str) -> list[Any]:
    if not text.lstrip().startswith("["):
        return parse_filters(text)
    try:
        return [json.loads(text)]
    except ValueError:
        raise InvalidInput(f"--filter {text} is not valid JSON", field="filter") from None


def query_body(
    metrics: str,
    dimensions: str,
    period: str,
    start: str | None,
    end: str | None,
    date: str | None,
    filters: list[str],
    order_by: list[str],
    limit: int,
    compare: bool,
) -> dict[str, Any]:
    """A v2 query from the command's options, each checked in the command line's words;
    `--filter` takes the v1 syntax (`visit:browser==Firefox|Chrome`, `event:page!=/blog/**`)
    or a v2 JSON filter."""
    if (start is None) != (end is None):
        raise InvalidInput("give both --from and --to, or neither", field="from")
    if start is not None and end is not None and _day("--from", start) > _day("--to", end):
        raise InvalidInput(f"--from {start} is after --to {end}")
    chosen_metrics, chosen_dimensions = _metrics(metrics), _dimensions(dimensions)
    queried = [*chosen_metrics, *chosen_dimensions]
    body: dict[str, Any] = {
        "metrics": chosen_metrics,
        "date_range": (
            [_day("--from", start), _day("--to", end)] if start and end else _period(period)
        ),
        "dimensions": chosen_dimensions,
        "filters": [item for text in filters for item in _filters(text)],
        "order_by": [_order_by(item, queried) for item in order_by],
        "pagination": {"limit": limit, "offset": 0},
    }
    if date:
        body["date"] = _day("--date", date)
    if compare:
        body["include"] = {"comparisons": {"mode": "previous_period"}}
    return body


def parse_options(**options: Any) -> Query:
    """The query the options ask for; refused (exit code 2) in the command line's words."""
    try:
        return parse_query(query_body(**options))
    except InvalidInput as error:
        refuse(in_command_line_words(error))


def in_command_line_words(error: InvalidInput) -> str:
    """The core's message with its JSON path ("#/date_range: ...") named as the option."""
    path, colon, rest = error.message.partition(": ")
    option = OPTION_OF_FIELD.get(error.field or "")
    if option is None:
        return error.message
    if colon and path.startswith("#"):
        return f"{option}: {rest}"
    return f"{option}: {error.message}"


def print_table(result: QueryResult) -> None:
    """The answer as a table, each metric with its unit, under a line naming site and days.
    On a terminal the table fits its width; piped, it is never wrapped."""
    query = result.query
    table = Table()
    for name in query.dimensions:
        table.add_column(name)
    for name in query.metrics:
        table.add_column(name, justify="right")
    if result.comparison_range is not None:
        for name in query.metrics:
            table.add_column(f"{name} change", justify="right")
    for row in result.rows:
        cells = [
            *row.dimensions,
            *(
                metric_text(name, value)
                for name, value in zip(query.metrics, row.metrics, strict=True)
            ),
        ]
        if row.comparison is not None:
            cells += [
                f"{change:+}" if change is not None else "" for change in row.comparison.change
            ]
        table.add_row(*cells)
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(
        f"{result.site_domain}, {result.time_range.first_day} to {result.time_range.last_day}"
    )
    console.print(table)
    if result.total_rows > len(result.rows):
        console.print(f"{len(result.rows)} of {plural(result.total_rows, 'row')}")
    for warning in result.warnings:
        console.print(f"note: {warning}")


def _answer(action: Callable[[], Awaitable[QueryResult]]) -> QueryResult:
    """Run the query: a refusal (`run`) or any failure is one line and exit code 1, never a
    traceback; the database's own words say what went wrong."""
    try:
        return run(action)
    except typer.Exit:
        raise
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        typer.echo(f"error: the database could not answer the query ({reason})", err=True)
        raise typer.Exit(1) from None
    except Exception as error:  # a bug: say so in one line, not with a stack trace
        typer.echo(f"error: the query failed ({type(error).__name__}: {error})", err=True)
        raise typer.Exit(1) from None


@app.command("query")
def query_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., metavar="SITE", help="Site id or domain."),
    metrics: str = typer.Option(
        "visitors",
        metavar="METRIC,...",
        help=f"Comma-separated metrics: {', '.join(METRICS)}.",
    ),
    dimensions: str = typer.Option(
        "",
        metavar="DIMENSION,...",
        help="Comma-separated dimensions to split by, e.g. visit:source,time:day.",
    ),
    period: str = typer.Option("30d", metavar="PERIOD", help=f"One of {', '.join(NAMED_RANGES)}."),
    start: str | None = typer.Option(
        None, "--from", metavar="DAY", help="First day (YYYY-MM-DD), with --to."
    ),
    end: str | None = typer.Option(
        None, "--to", metavar="DAY", help="Last day (YYYY-MM-DD), with --from."
    ),
    date: str | None = typer.Option(
        None, metavar="DAY", help="The day a named period ends on (default today)."
    ),
    filters: list[str] = typer.Option(
        [],
        "--filter",
        metavar="FILTER",
        help="visit:browser==Firefox, event:page!=/blog/** or a v2 JSON filter (repeatable).",
    ),
    order_by: list[str] = typer.Option(
        [],
        "--order-by",
        metavar="NAME[:asc|:desc]",
        help="Sort by a metric or dimension of the query, e.g. visitors:desc; NAME alone "
        "sorts biggest first (repeatable).",
    ),
    limit: int = typer.Option(100, min=1, max=10_000, metavar="ROWS", help="Rows at most."),
    compare: bool = typer.Option(False, help="Compare with the previous period."),
    as_json: bool = typer.Option(False, "--json", help="Print the Stats API v2 answer."),
) -> None:
    """Query a site's statistics, as POST /api/v2/query does.

    \b
    Example:
      ot-admin stats query example.com --period 7d \\
        --dimensions visit:source --order-by visitors:desc
    """
    context = context_from(ctx)

    query = parse_options(
        metrics=metrics,
        dimensions=dimensions,
        period=period,
        start=start,
        end=end,
        date=date,
        filters=filters,
        order_by=order_by,
        limit=limit,
        compare=compare,
    )

    async def action() -> QueryResult:
        async with context.session() as session:
            found = await get_site(session, site)
        return await answer_here(context.settings, found, query, now=utcnow())

    result = _answer(action)
    if as_json:
        typer.echo(json.dumps(v2_response(result, result.site_domain), indent=2))
    else:
        print_table(result)
