"""`ot-admin db backup` and `ot-admin db restore` (see `ot.backups`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ot.admin.context import context_from, run
from ot.admin.output import progress_bar


def backup_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help="The backup to write (a new file)."),
) -> None:
    """Back up the database and its keys while the server runs.

    FILE gets the database, FILE.keys the keys that read it: keep the two apart. FILE holds
    customer information only as ciphertexts. Both are readable by you alone.

    \b
    Example:
      ot-admin db backup /var/backups/opentracker-2026-12-06.db
    """
    from ot.backups import BackupReport, back_up

    context = context_from(ctx)

    async def action() -> BackupReport:
        # The backup records itself in a transaction of its own; the context's engine signs
        # the trail's head afterwards if a checkpoint is due, as after any command.
        async with context.engine():
            with progress_bar("backing up") as progress:
                return await back_up(context.settings, file, actor=context.actor, progress=progress)

    report = run(action)
    typer.echo(
        f"backed up to {report.database_file} ({report.bytes:,} bytes, sha256 "
        f"{report.database_sha256}); its keys: {report.keys_file}"
    )


def restore_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help="A backup made by `db backup`."),
    keys: Path | None = typer.Option(
        None, "--keys", metavar="KEYS_FILE", help="Its keys file, if not FILE.keys."
    ),
    yes: bool = typer.Option(False, "--yes", help="Replace the installation without asking."),
) -> None:
    """Put a backup in place of the database and keys.

    Stop the server first: a running server keeps the database it opened.

    \b
    Example:
      ot-admin db restore /var/backups/opentracker-2026-12-06.db --yes
    """
    from ot.backups import restore

    context = context_from(ctx, creating=True)
    if not yes:
        typer.confirm(
            "This replaces the database and the keys of this installation with the backup's. "
            "Is the server stopped, and do you want to go on?",
            abort=True,
        )

    async def action() -> None:
        with progress_bar("restoring") as progress:
            await restore(context.settings, file, keys, actor=context.actor, progress=progress)

    run(action)
    typer.echo(f"restored from {file}; start the server again")
