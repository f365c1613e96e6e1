"""What every `ot-admin` command shares: the settings, a database session, error reporting, and
the audit trail every operator action that changes data is written to."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import audit
from ot.audit_checkpoints import sign_checkpoint
from ot.config import Settings, describe_settings_error, load_settings
from ot.crypto import Cipher
from ot.db import create_engine
from ot.errors import OtError
from ot.schema import ensure_schema
from ot.secrets import load_secrets_of

T = TypeVar("T")


@dataclass
class AdminContext:
    settings: Settings

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session committed when the command succeeds; then the audit trail's head is signed
        if a checkpoint is due."""
        engine = create_engine(self.settings)
        try:
            await ensure_schema(engine, migrate_if_new=self.settings.is_embedded_database)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                yield session
                await session.commit()
            await _checkpoint_if_due(engine, self.settings)
        finally:
            await engine.dispose()

    def cipher(self) -> Cipher:
        return Cipher(load_secrets_of(self.settings))

    async def record(
        self, action: str, *, account_id: int | None = None, details: dict[str, Any] | None = None
    ) -> None:
        """Write an operator action to the audit trail in a transaction of its own (for commands
        that do their work outside `session()`)."""
        async with self.session() as session:
            await record_operator_action(session, action, account_id=account_id, details=details)


def operator_actor() -> str:
    """Who runs the command: the login behind sudo, else the login."""
    login = os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
    return f"operator:{login}"


async def record_operator_action(
    session: AsyncSession,
    action: str,
    *,
    account_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write an operator action to the audit trail in the command's own transaction, so it is
    kept exactly when the change is. Details hold ids and counts, never personal data."""
    await audit.record(
        session, action, actor=operator_actor(), account_id=account_id, details=details
    )


async def _checkpoint_if_due(engine: Any, settings: Settings) -> None:
    try:
        await sign_checkpoint(engine, settings)
    except (OSError, RuntimeError) as error:
        # The operator's change is committed; say why the trail was not signed, and go on.
        typer.echo(f"warning: audit checkpoint not signed ({error})", err=True)


def context_from(ctx: typer.Context) -> AdminContext:
    if not isinstance(ctx.obj, AdminContext):
        raise RuntimeError("ot-admin was not initialised")
    return ctx.obj


def make_context(config: Path | None) -> AdminContext:
    try:
        return AdminContext(load_settings(config))
    except ValidationError as error:
        typer.echo(f"error: {describe_settings_error(error)}", err=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def run(action: Callable[[], Awaitable[T]]) -> T:
    """Run an async action; a domain error becomes a one-line message and exit code 1."""
    try:
        return asyncio.run(action())  # type: ignore[arg-type]
    except OtError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
