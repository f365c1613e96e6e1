"""`ot-admin rollups`: bring the dashboards' per-day rollups up to date by hand."""

from __future__ import annotations

import typer

from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import plural
from ot.db import create_engine
from ot.rollups.job import RollupReport
from ot.rollups.schedule import run_by_hand

app = AdminTyper(help="Per-day rollups for fast dashboards.", no_args_is_help=True)


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Roll up every day that new hits touched.

    `ot serve` does it every few seconds.

    \b
    Example:
      ot-admin rollups run
    """
    context = context_from(ctx)
    settings = context.settings

    async def roll_up() -> RollupReport | None:
        async with context.engine(for_writes=True) as writer:
            reader = create_engine(settings)
            try:
                return await run_by_hand(settings, reader, writer, actor=context.actor)
            finally:
                await reader.dispose()

    report = run(roll_up)
    if report is None:
        typer.echo("another process is rolling up right now; nothing done")
        raise typer.Exit(1)
    typer.echo(
        f"rolled up {plural(report.days_rolled, 'day')} of {plural(report.sites, 'site')} "
        f"({plural(report.rows_written, 'row')}) in {report.seconds:.1f} s"
    )
