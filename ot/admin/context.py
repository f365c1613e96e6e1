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
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from ot.admin.permissions import Permission
    from ot.security.audit import Actor
    from ot.security.crypto import Cipher
    from ot.security.operators import Operator, OsUser

T = TypeVar("T")


@dataclass
class AdminContext:
    settings: Settings
    # The operator running the command, once `context_from` has checked them.
    operator: Operator | None = None
    # A command that shows customer data: what to write to the trail (`operator.read`) in its
    # first unit of work, so that the entry is kept exactly when the read happened.
    read: dict[str, Any] | None = None

    @property
    def actor(self) -> Actor:
        """Who the audit entries of the command's acts name: the operator checked."""
        if self.operator is None:
            raise RuntimeError("the operator was not checked: get the context with context_from")
        return self.operator.actor

    @asynccontextmanager
    async def engine(self, *, for_writes: bool = False) -> AsyncIterator[AsyncEngine]:
        """The database, for work whose core function runs transactions of its own (it takes
        an engine): the schema made sure of first; once the work succeeded, the audit trail's
        head signed if a checkpoint is due, as after every command's unit of work. `for_writes`
        as `ot.db.create_engine` has it."""
        from ot.db import create_engine
        from ot.schema import ensure_schema

        engine = create_engine(self.settings, for_writes=for_writes)
        try:
            await ensure_schema(engine, migrate_if_new=self.settings.is_embedded_database)
            yield engine
            await _checkpoint_if_due(engine, self.settings)
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def session(self, *, keep_refusals: bool = False) -> AsyncIterator[AsyncSession]:
        """The command's unit of work (`ot.db.transaction`) on `engine()`: committed when the
        command succeeds, rolled back when it is refused or fails, so a refused command changes
        nothing. `keep_refusals` for acts whose core records a refusal (a disclosure's four
        eyes): that entry alone is kept. It takes the write lock first (`ot.db.start_writing`):
        nearly every command writes (its act, or the trail's `operator.read`), and on SQLite a
        transaction that read before writing fails at once ("database is locked") when the
        running server committed meanwhile, where one that starts by writing waits its turn."""
        from ot.db import transaction

        async with (
            self.engine() as engine,
            transaction(engine, locked=True, keep_refusals=keep_refusals) as session,
        ):
            if self.read is not None:
                await self._record_read(session)
            yield session

    async def _record_read(self, session: AsyncSession) -> None:
        from ot.security.operators import record_read

        assert self.operator is not None and self.read is not None
        await record_read(session, self.operator, self.read["command"], self.read["arguments"])
        self.read = None

    def cipher(self) -> Cipher:
        from ot.security.crypto import Cipher
        from ot.security.secrets import load_secrets_of

        return Cipher(load_secrets_of(self.settings))


async def _checkpoint_if_due(engine: AsyncEngine, settings: Settings) -> None:
    from ot.security.audit_checkpoints import sign_checkpoint

    try:
        await sign_checkpoint(engine, settings)
    except (OSError, RuntimeError) as error:
        # The operator's change is committed; say why the trail was not signed, and go on.
        typer.echo(f"warning: audit checkpoint not signed ({error})", err=True)


def context_from(ctx: typer.Context, *, creating: bool = False) -> AdminContext:
    """The command's context, once its data is known to be there and the OS user running it is
    an operator allowed to (`ot.admin.permissions`); a refusal ends the command before it does
    anything, written to the audit trail. A command run from another folder, or without the
    server's settings, must not make a fresh empty installation with new keys beside the real
    one: only `creating` commands (`db upgrade --create`) may."""
    if not isinstance(ctx.obj, AdminContext):
        raise RuntimeError("ot-admin was not initialised")
    missing = missing_installation(ctx.obj.settings)
    if missing and not creating:
        typer.echo(f"error: {missing}", err=True)
        raise typer.Exit(2)
    if ctx.obj.operator is None:
        from ot.admin.permissions import permission_of

        command = command_words(ctx)
        permission = permission_of(command)
        arguments = {
            name: "(withheld)" if name in permission.withheld else str(value)
            for name, value in ctx.params.items()
            if value is not None and value is not False and name != "as_json"
        }
        settings = ctx.obj.settings
        ctx.obj.operator = run(
            lambda: authorize(settings, command, permission, schema_expected=not missing)
        )
        if permission.reads_customer_data:
            ctx.obj.read = {"command": command, "arguments": arguments}
    return ctx.obj


def command_words(ctx: typer.Context) -> str:
    """The command after `ot-admin` ("sites add"), without its arguments: by its own names,
    also when typed by an alias ("site add")."""
    words: list[str] = []
    level: Any = ctx
    while level.parent is not None:
        words.append(level.command.name or level.info_name or "")
        level = level.parent
    return " ".join(reversed(words))


def installation_user(settings: Settings) -> OsUser:
    """The OS user running the command (`ot.security.operators.os_user`), the data folder's
    owner being the installation's."""
    from ot.security.operators import os_user

    try:
        owner_uid: int | None = settings.data_dir.stat().st_uid
    except OSError:
        owner_uid = None  # not made yet: only `db upgrade --create` gets here
    return os_user(owner_uid=owner_uid)


async def authorize(
    settings: Settings,
    command: str,
    permission: Permission,
    *,
    schema_expected: bool = True,
) -> Operator:
    """The operator allowed to run `command`, checked in a transaction of its own that keeps
    a refusal's audit entry."""
    from ot.db import create_engine, transaction
    from ot.models import OperatorRole
    from ot.security.operators import Operator, OperatorRefused, acting_operator, require_role

    user = installation_user(settings)
    if permission.service and user.is_the_service:
        return Operator(user.login, frozenset(), service=True)
    engine = create_engine(settings) if schema_expected else None
    try:
        if engine is None or not await _has_operators(engine):
            # No schema yet (before the first `db upgrade`): nobody is appointed, so only the
            # bootstrap applies, and there is no trail to write a refusal to.
            if user.may_bootstrap and OperatorRole.ADMIN in permission.roles:
                return Operator(user.login, frozenset({OperatorRole.ADMIN}), bootstrap=True)
            raise OperatorRefused(
                f"{user.login} may not run `ot-admin {command}`: the installation has no operators "
                "yet, and "
                "only root or the owner of the data folder acts before the first is appointed",
                login=user.login,
                role=None,
            )
        async with transaction(engine, locked=False, keep_refusals=True) as session:
            operator = await acting_operator(session, user, act=command)
            await require_role(session, operator, permission.roles, act=command)
        return operator
    finally:
        if engine is not None:
            await engine.dispose()


async def _has_operators(engine: AsyncEngine) -> bool:
    from sqlalchemy import inspect

    async with engine.connect() as connection:
        return bool(
            await connection.run_sync(lambda sync: inspect(sync).has_table("operator_appointment"))
        )


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
