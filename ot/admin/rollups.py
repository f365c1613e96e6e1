"""`ot-admin rollups`: bring the dashboards' per-day rollups up to date by hand."""

from __future__ import annotations

import typer

from ot.admin.context import context_from, operator_actor, run
from ot.db import create_engine
from ot.rollups.job import RollupReport
from ot.rollups.schedule import run_by_hand
from ot.schema import ensure_schema

app = typer.Typer(help="Per-day rollups for fast dashboards.", no_args_is_help=True)


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Roll up every day that new hits touched (`ot serve` does it every few seconds)."""
    context = context_from(ctx)
    settings = context.settings

    async def roll_up() -> RollupReport | None:
        reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
        try:
            await ensure_schema(reader, migrate_if_new=settings.is_embedded_database)
            return await run_by_hand(settings, reader, writer, actor=operator_actor())
        finally:
            await reader.dispose()
            await writer.dispose()

    report = run(roll_up)
    if report is None:
        typer.echo("another process is rolling up right now; nothing done")
        raise typer.Exit(1)
    typer.echo(
        f"rolled up {report.days_rolled} days of {report.sites} sites "
        f"({report.rows_written} rows) in {report.seconds:.1f} s"
    )
