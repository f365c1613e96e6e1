"""`ot-admin db`: the database schema (backups and restores: `ot.admin.backups`)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from ot.admin.context import context_from, run, secure_data_folder
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_json
from ot.db import create_engine
from ot.schema import current_revision, head_revision, upgrade

app = AdminTyper(
    help="The database: its schema, checks, backups and restores.", no_args_is_help=True
)


@app.command("upgrade")
def upgrade_command(
    ctx: typer.Context,
    create: bool = typer.Option(
        False,
        "--create",
        help="Make a new, empty installation (database and keys) if there is none.",
    ),
) -> None:
    """Apply every pending migration.

    \b
    Example:
      ot-admin db upgrade
    """
    context = context_from(ctx, creating=create)
    settings = context.settings
    secure_data_folder(settings.data_dir)
    context.cipher()  # the keys, made with the installation (never later, beside its data)
    upgrade(settings.effective_database_url)
    typer.echo(f"database schema is at {head_revision()}")


@app.command("status")
def status_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Show the schema's revision and whether it is current.

    Exit code 1 when it is not.

    \b
    Example:
      ot-admin db status --json
    """
    settings = context_from(ctx).settings

    async def read() -> str | None:
        engine = create_engine(settings)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(read())
    head = head_revision()
    if as_json:
        print_json({"current": current, "expected": head, "up_to_date": current == head})
    else:
        typer.echo(f"current: {current or 'none'}\nexpected: {head}")
    if current != head:
        raise typer.Exit(1)


@app.command("check")
def check_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Check the installation: schema, storage, keys, audit trail.

    Changes nothing. Exit code 1 when a check fails, naming what to run.

    \b
    Example:
      ot-admin db check
    """
    from ot.integrity import check_installation

    context = context_from(ctx)

    async def check() -> list[Any]:
        engine = create_engine(context.settings)
        try:
            return await check_installation(engine, context.settings)
        finally:
            await engine.dispose()

    checks = run(check)
    if as_json:
        print_json([{"check": c.name, "ok": c.ok, "said": c.said} for c in checks])
    else:
        for each in checks:
            typer.echo(f"{each.name:<12} {'ok' if each.ok else 'FAILED':<7} {each.said}")
    if not all(each.ok for each in checks):
        raise typer.Exit(1)
