"""`ot-admin stats query`: the Stats API's query from the shell, as a table or v2 JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ot.admin.context import context_from, run
from ot.clock import utcnow
from ot.errors import InvalidInput
from ot.sites.store import get_site
from ot.stats.engine import QueryResult
from ot.stats.processes import answer_here
from ot.stats.query import parse_query
from ot.stats.render import v2_response
from ot.stats.v1 import parse_filters

app = typer.Typer(help="Statistics.", no_args_is_help=True)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


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
    """A v2 query from the command's options; `--filter` takes the v1 syntax
    (`visit:browser==Firefox|Chrome`, `event:page!=/blog/**`) or a v2 JSON filter."""
    if (start is None) != (end is None):
        raise InvalidInput("give both --from and --to, or neither", field="from")
    body: dict[str, Any] = {
        "metrics": _names(metrics),
        "date_range": [start, end] if start and end else period,
        "dimensions": _names(dimensions),
        "filters": [item for text in filters for item in _filters(text)],
        "order_by": [list(item.rsplit(":", 1)) for item in order_by],
        "pagination": {"limit": limit, "offset": 0},
    }
    if date:
        body["date"] = date
    if compare:
        body["include"] = {"comparisons": {"mode": "previous_period"}}
    return body


def print_table(result: QueryResult) -> None:
    query = result.query
    table = Table(
        title=f"{result.site_domain}, {result.time_range.first_day} to {result.time_range.last_day}"
    )
    for name in query.dimensions:
        table.add_column(name)
    for name in query.metrics:
        table.add_column(name, justify="right")
    if result.comparison_range is not None:
        for name in query.metrics:
            table.add_column(f"{name} change", justify="right")
    for row in result.rows:
        cells = [*row.dimensions, *(str(value) for value in row.metrics)]
        if row.comparison is not None:
            cells += [
                f"{change:+}" if change is not None else "" for change in row.comparison.change
            ]
        table.add_row(*cells)
    console = Console(width=200)
    console.print(table)
    if result.total_rows > len(result.rows):
        console.print(f"{len(result.rows)} of {result.total_rows} rows")
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
    site: str = typer.Argument(..., help="Site id or domain."),
    metrics: str = typer.Option(
        "visitors", help="Comma-separated metrics, e.g. visitors,pageviews."
    ),
    dimensions: str = typer.Option(
        "", help="Comma-separated dimensions, e.g. visit:source,time:day."
    ),
    period: str = typer.Option("30d", help="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all."),
    start: str | None = typer.Option(None, "--from", help="First day (YYYY-MM-DD), with --to."),
    end: str | None = typer.Option(None, "--to", help="Last day (YYYY-MM-DD), with --from."),
    date: str | None = typer.Option(None, help="The day a named period ends on (default today)."),
    filters: list[str] = typer.Option(
        [], "--filter", help="visit:browser==Firefox, event:page!=/blog/** or a v2 JSON filter."
    ),
    order_by: list[str] = typer.Option([], "--order-by", help="name:asc or name:desc."),
    limit: int = typer.Option(100, min=1, max=10_000, help="Rows at most."),
    compare: bool = typer.Option(False, help="Compare with the previous period."),
    as_json: bool = typer.Option(False, "--json", help="Print the Stats API v2 answer."),
) -> None:
    """Query a site's statistics, as POST /api/v2/query does."""
    context = context_from(ctx)

    async def action() -> QueryResult:
        body = query_body(
            metrics, dimensions, period, start, end, date, filters, order_by, limit, compare
        )
        query = parse_query(body)
        async with context.session() as session:
            found = await get_site(session, site)
        return await answer_here(context.settings, found, query, now=utcnow())

    result = _answer(action)
    if as_json:
        typer.echo(json.dumps(v2_response(result, result.site_domain), indent=2))
    else:
        print_table(result)
