"""The database schema's version: upgrade it with Alembic, and refuse to run on an outdated one."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.db import prepare_sqlite_file
from ot.errors import SchemaOutdated

# Alembic is imported only to migrate: every command checks the schema, and importing Alembic
# and its view of the migrations (it runs every migration file) took a tenth of a simple
# command's time (scripts/bench/startup.py).
if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_COMMAND = "ot-admin db upgrade"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps
# `revision: str = "a3f9c1d27e58"` and `down_revision: str | None = "46c1f9ff5664"` (or None).
_REVISION_LINE = re.compile(r'^(revision|down_revision)\b[^=\n]*=\s*(?:"(\w+)"|None)\s*$', re.M)


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

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
    """The newest migration's revision, read from the migration files' `revision` and
    `down_revision` lines without importing them; Alembic's answer when they are shaped
    otherwise (a merge, say). tests/test_startup_imports.py checks both agree."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text()))
        if "revision" not in found or "down_revision" not in found:
            return alembic_head_revision()
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        return alembic_head_revision()
    return heads.pop()


def alembic_head_revision() -> str:
    """The head revision as Alembic finds it, running the migration files."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "no migrations found"
    return head


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking: it runs its own event loop, so call it from a thread when
    inside one)."""
    if database_url.startswith("sqlite"):
        prepare_sqlite_file(database_url)  # Alembic's engine would create it world-readable
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it has no schema."""
    async with engine.connect() as connection:
        return await connection.run_sync(_version_in)


def _version_in(connection: Connection) -> str | None:
    """What Alembic's `MigrationContext.get_current_revision` answers, read without Alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    found = list(versions)
    if len(found) > 1:
        raise RuntimeError(f"the database is at several revisions at once: {', '.join(found)}")
    return found[0] if found else None


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
