"""What every `ot-admin` command shares: the settings, a database session, and error reporting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import typer
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.config import Settings, describe_settings_error, load_settings
from ot.crypto import Cipher
from ot.db import create_engine
from ot.errors import OtError
from ot.schema import ensure_schema
from ot.secrets import load_or_create_secrets

T = TypeVar("T")


@dataclass
class AdminContext:
    settings: Settings

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session committed when the command succeeds."""
        engine = create_engine(self.settings)
        try:
            await ensure_schema(engine, migrate_if_new=self.settings.is_embedded_database)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                yield session
                await session.commit()
        finally:
            await engine.dispose()

    def cipher(self) -> Cipher:
        return Cipher(load_or_create_secrets(self.settings.data_dir))


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
