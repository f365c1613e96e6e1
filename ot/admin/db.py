"""`ot-admin db`: the database schema (backups and restores: `ot.admin.backups`)."""

from __future__ import annotations

import asyncio

import typer

from ot.admin.context import context_from, secure_data_folder
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_json
from ot.db import create_engine
from ot.schema import current_revision, head_revision, upgrade

app = AdminTyper(help="The database: its schema, backups and restores.", no_args_is_help=True)


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
