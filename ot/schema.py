"""The database schema's version: upgrade it with Alembic, and refuse to run on an outdated one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.db import prepare_sqlite_file
from ot.errors import SchemaOutdated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_COMMAND = "ot-admin db upgrade"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s",
    )
    # Passed as an attribute, not a main option, because ConfigParser would mangle '%' in URLs.
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "no migrations found"
    return head


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking: it runs its own event loop, so call it from a thread when
    inside one)."""
    if database_url.startswith("sqlite"):
        prepare_sqlite_file(database_url)  # Alembic's engine would create it world-readable
    command.upgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def ensure_schema(engine: AsyncEngine, *, migrate_if_new: bool) -> None:
    """Make sure the schema is current. A brand-new embedded database is created on the spot;
    anything else out of date is refused with the command that fixes it."""
    current = await current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None and migrate_if_new:
        await asyncio.to_thread(upgrade, engine.url.render_as_string(hide_password=False))
        return
    state = "has no opentracker schema" if current is None else f"is at revision {current}"
    raise SchemaOutdated(
        f"the database {state}, this version needs {head}: run `{UPGRADE_COMMAND}` first"
    )


async def schema_is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
