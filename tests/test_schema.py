"""The schema's version (`ot.schema`): a new embedded database is made on the spot, anything out of
date is refused with the command that fixes it, and migrations go down and up on both backends."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import ot.models
from ot.config import Settings, load_settings
from ot.db import create_engine
from ot.errors import SchemaOutdated
from ot.schema import (
    MIGRATIONS_DIR,
    UPGRADE_COMMAND,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    schema_is_current,
    upgrade,
)
from tests import support

ot.models.every_table()  # registers every table on SQLModel.metadata

# A revision no migration has: what a database left behind by another version looks like.
FOREIGN_REVISION = "0123456789ab"
APP_TABLES = set(SQLModel.metadata.tables)


async def stamp(settings: Settings, revision: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
            )
    finally:
        await engine.dispose()


async def revision_of(settings: Settings) -> str | None:
    engine = create_engine(settings)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def table_names(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def ensure(settings: Settings, *, migrate_if_new: bool) -> None:
    engine = create_engine(settings)
    try:
        await ensure_schema(engine, migrate_if_new=migrate_if_new)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings on a database with no tables at all, as an operator first points us at."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        yield load_settings(data_dir=data_dir)
        return
    url = support.postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {support.POSTGRES_URL_VARIABLE}")
    name = f"ot_test_empty_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    yield load_settings(data_dir=data_dir, database_url=database_url)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def test_a_new_embedded_database_is_created_on_first_use(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "fresh")
    await ensure(settings, migrate_if_new=True)
    assert (tmp_path / "fresh" / "opentracker.sqlite3").is_file()
    assert await revision_of(settings) == head_revision()
    assert await table_names(settings) >= APP_TABLES


async def test_an_empty_database_is_created_only_where_migrating_is_allowed(
    empty_settings: Settings,
) -> None:
    """The production rule: the embedded database makes itself, a server database never does."""
    if empty_settings.is_embedded_database:
        await ensure(empty_settings, migrate_if_new=empty_settings.is_embedded_database)
        assert await revision_of(empty_settings) == head_revision()
        return
    with pytest.raises(SchemaOutdated) as caught:
        await ensure(empty_settings, migrate_if_new=empty_settings.is_embedded_database)
    assert "has no opentracker schema" in caught.value.message
    assert f"`{UPGRADE_COMMAND}`" in caught.value.message
    assert await table_names(empty_settings) == set(), "nothing was created on the side"


async def test_an_empty_database_is_refused_when_migrating_is_not_allowed(
    empty_settings: Settings,
) -> None:
    with pytest.raises(SchemaOutdated, match=re.escape(UPGRADE_COMMAND)):
        await ensure(empty_settings, migrate_if_new=False)


@pytest.mark.parametrize("migrate_if_new", [True, False])
async def test_a_database_at_another_revision_is_refused_with_the_upgrade_command(
    settings: Settings, migrate_if_new: bool
) -> None:
    await stamp(settings, FOREIGN_REVISION)
    with pytest.raises(SchemaOutdated) as caught:
        await ensure(settings, migrate_if_new=migrate_if_new)
    message = caught.value.message
    assert f"run `{UPGRADE_COMMAND}`" in message
    assert FOREIGN_REVISION in message
    assert head_revision() in message
    assert caught.value.code == "schema_outdated"
    assert await revision_of(settings) == FOREIGN_REVISION, "nothing was migrated behind our back"


async def test_a_downgraded_database_is_refused_unless_it_may_be_created(
    settings: Settings,
) -> None:
    url = settings.effective_database_url
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    with pytest.raises(SchemaOutdated, match=re.escape(UPGRADE_COMMAND)):
        await ensure(settings, migrate_if_new=False)


async def test_a_current_database_is_accepted_as_it_is(settings: Settings) -> None:
    before = await table_names(settings)
    await ensure(settings, migrate_if_new=False)
    engine = create_engine(settings)
    try:
        assert await schema_is_current(engine)
    finally:
        await engine.dispose()
    assert await table_names(settings) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
async def test_ot_serve_refuses_an_outdated_database_and_says_how_to_fix_it(
    settings: Settings, workers: int
) -> None:
    await stamp(settings, FOREIGN_REVISION)
    environment = {
        **os.environ,
        "OT_DATA_DIR": str(settings.data_dir),
        "OT_DATABASE_URL": settings.database_url,
        "OT_SERVER__HOST": "127.0.0.1",
        "OT_SERVER__PORT": str(_free_port()),
        "OT_SERVER__WORKERS": str(workers),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ot",
        "serve",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode(errors="replace")
    assert process.returncode != 0, log
    assert UPGRADE_COMMAND in log
    assert FOREIGN_REVISION in log
    assert await revision_of(settings) == FOREIGN_REVISION


async def test_migrations_go_down_and_up_cleanly(settings: Settings) -> None:
    url = settings.effective_database_url
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    assert await revision_of(settings) is None
    assert await table_names(settings) <= {"alembic_version"}, "downgrade left tables behind"

    await asyncio.to_thread(upgrade, url)
    assert await revision_of(settings) == head_revision()
    assert await table_names(settings) >= APP_TABLES

    await asyncio.to_thread(upgrade, url)  # again: nothing to do, nothing breaks
    assert await revision_of(settings) == head_revision()


async def test_the_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == [], "the models changed without a migration: run alembic revision"


def test_the_migrations_form_one_line_with_dated_file_names() -> None:
    scripts = ScriptDirectory.from_config(alembic_config(""))
    assert scripts.get_heads() == [head_revision()]
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}_[0-9a-f]{12}_\w+\.py", path.name), path.name
