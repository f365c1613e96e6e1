"""What every `ot-admin` command shares: the settings, a database session, error reporting, and
the actor the audit trail names for the operator (the core functions a command calls write the
entries of their acts)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from ot import paths
from ot.config import Settings, describe_settings_error, load_settings
from ot.errors import Conflict, Forbidden, InvalidInput, NotFound, OtError, Unauthorized
from ot.private_files import secure_data_dir

# The database, the audit trail and the keys are imported where they are used: `ot-admin`'s
# root callback imports this module for every command, `--help` included, and SQLAlchemy with
# the tables, Alembic and cryptography cost most of a second (scripts/bench/startup.py).
if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from ot.security.audit import Actor
    from ot.security.crypto import Cipher

T = TypeVar("T")


@dataclass
class AdminContext:
    settings: Settings

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The command's unit of work (`ot.db.transaction`): committed when the command
        succeeds, rolled back when it is refused or fails, so a refused command changes nothing;
        then the audit trail's head is signed if a checkpoint is due."""
        from ot.db import create_engine, transaction
        from ot.schema import ensure_schema

        engine = create_engine(self.settings)
        try:
            await ensure_schema(engine, migrate_if_new=self.settings.is_embedded_database)
            async with transaction(engine, locked=False, keep_refusals=False) as session:
                yield session
            await _checkpoint_if_due(engine, self.settings)
        finally:
            await engine.dispose()

    def cipher(self) -> Cipher:
        from ot.security.crypto import Cipher
        from ot.security.secrets import load_secrets_of

        return Cipher(load_secrets_of(self.settings))


def operator_actor() -> Actor:
    """Who runs the command, as every command's audit entries name them: the OS user
    (`ot.security.operators.os_user`: the login behind `sudo`, else the login of the process's
    user id; never `$USER`, which cron does not set and anyone can set)."""
    from ot.security.audit import Actor
    from ot.security.operators import os_user

    return Actor.operator(os_user().login)


async def _checkpoint_if_due(engine: Any, settings: Settings) -> None:
    from ot.security.audit_checkpoints import sign_checkpoint

    try:
        await sign_checkpoint(engine, settings)
    except (OSError, RuntimeError) as error:
        # The operator's change is committed; say why the trail was not signed, and go on.
        typer.echo(f"warning: audit checkpoint not signed ({error})", err=True)


def context_from(ctx: typer.Context, *, creating: bool = False) -> AdminContext:
    """The command's context, once its data is known to be there: a command run from another
    folder, or without the server's settings, must not make a fresh empty installation with
    new keys beside the real one. Only `creating` commands (`db upgrade --create`) may."""
    if not isinstance(ctx.obj, AdminContext):
        raise RuntimeError("ot-admin was not initialised")
    if not creating:
        missing = missing_installation(ctx.obj.settings)
        if missing:
            typer.echo(f"error: {missing}", err=True)
            raise typer.Exit(2)
    return ctx.obj


def secure_data_folder(data_dir: Path) -> None:
    """Make the data folder if need be and keep it and our files in it private; a folder that
    cannot be made or read ends the command in one line."""
    try:
        secure_data_dir(data_dir)
    except OSError as error:
        typer.echo(f"error: cannot use the data folder {data_dir}: {error.strerror}", err=True)
        raise typer.Exit(2) from None


def missing_installation(settings: Settings) -> str | None:
    """What is missing of the installation these settings name, in words saying where
    ot-admin looked and how to point it elsewhere; None when it is all there."""
    secrets = settings.secrets_file or paths.secrets_path(settings.data_dir)
    expected = [secrets]
    if settings.is_embedded_database:
        expected.insert(0, paths.sqlite_path(settings.data_dir))
    absent = [path.resolve() for path in expected if not path.exists()]
    if not absent:
        return None
    data_dir = settings.data_dir.resolve()
    if "OT_DATA_DIR" in os.environ:
        source = "set by OT_DATA_DIR"
    elif settings.model_fields_set & {"data_dir"}:
        source = "set by the settings"
    else:
        source = f"the default ./ot-data of the current folder {Path.cwd()}"
    return (
        f"no opentracker installation found: {' and '.join(map(str, absent))} "
        f"{'does' if len(absent) == 1 else 'do'} not exist (data folder {data_dir}, {source}). "
        "Run ot-admin with the settings `ot serve` runs with: from the same folder, with the "
        "same OT_DATA_DIR (and OT_DATABASE_URL, OT_SECRETS_FILE), or --config FILE. "
        "To make a new, empty installation there: ot-admin db upgrade --create"
    )


def make_context(config: Path | None) -> AdminContext:
    try:
        return AdminContext(load_settings(config))
    except ValidationError as error:
        typer.echo(f"error: {describe_settings_error(error)}", err=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


# Exit codes of every command: 0 done, 1 failed, 2 refused (invalid or unknown input; nothing
# was changed), as Click answers a misspelt option.
FAILED = 1
REFUSED = 2


def exit_code_of(error: OtError) -> int:
    """Refused for what the operator can correct in the command line; failed otherwise (the
    database, the disk, a query too slow)."""
    refusals = (InvalidInput, NotFound, Conflict, Forbidden, Unauthorized)
    return REFUSED if isinstance(error, refusals) else FAILED


def run(action: Callable[[], Awaitable[T]]) -> T:
    """Run an async action; a domain error becomes a one-line message and its exit code."""
    try:
        return asyncio.run(action())  # type: ignore[arg-type]
    except OtError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(exit_code_of(error)) from None


def refuse(message: str) -> NoReturn:
    """End the command as refused: one line naming the problem, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(REFUSED)
