"""`ot-admin`: the operators' commands. Each group lives in its own module."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ot.admin import (
    accounts,
    api_keys,
    audit,
    db,
    encryption_keys,
    goals,
    logimport,
    rights,
    rollups,
    sites,
    stats,
)
from ot.admin.context import make_context, secure_data_folder
from ot.storage import storage_problem

app = typer.Typer(
    help="opentracker operators' commands.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain one-line errors that scripts and logs can read
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(accounts.app, name="account")
app.add_typer(sites.app, name="site")
app.add_typer(api_keys.app, name="token")
app.add_typer(goals.app, name="goal")
app.add_typer(stats.app, name="stats")
app.add_typer(rollups.app, name="rollups")
app.add_typer(audit.app, name="audit")
app.add_typer(encryption_keys.app, name="keys")
app.command("import-log")(logimport.import_log_command)
accounts.app.command("export")(rights.export_command)
app.command("erase")(rights.erase_command)
app.add_typer(rights.retention_app, name="retention")


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="TOML settings file."),
) -> None:
    ctx.obj = make_context(config)
    if ctx.obj.settings.data_dir.exists():  # else made only by `db upgrade --create`
        secure_data_folder(ctx.obj.settings.data_dir)


def main() -> None:
    # What the command creates (database, keys, exports, mails) is the operator's alone. Not in
    # the callback: tests run commands in their own process.
    os.umask(0o077)
    try:
        app()
    except Exception as error:
        # A full disk or a read-only data folder is the operator's to fix: one line, no traceback.
        if (problem := storage_problem(error)) is None:
            raise
        typer.echo(f"error: the database or the data folder cannot be used ({problem})", err=True)
        raise SystemExit(1) from None
