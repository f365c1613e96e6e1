"""Database engines: SQLite (WAL) as the embedded default, PostgreSQL for production."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import paths
from ot.config import Durability, Settings
from ot.errors import OtError
from ot.private_files import create_private_file, ensure_private_dir, tighten_file
from ot.regex import sqlite_regexp

# PostgreSQL advisory lock that serialises writer transactions across processes, as SQLite's
# write lock does: the writer reads open visits and then updates them, which must not interleave.
WRITER_LOCK_ID = 727_001
ROLLUP_LOCK_ID = 727_002  # one rollup job at a time across hosts sharing a PostgreSQL database
# Serialises changes of accounts (e-mail addresses above all) on PostgreSQL: two registrations of
# one address must not both find it free.
ACCOUNTS_LOCK_ID = 727_004

# How each durability mode (`OT_COLLECTOR__DURABILITY`) is asked of each database, on the
# connections that write hits only. SQLite in WAL mode: FULL syncs the WAL file at every
# commit; NORMAL writes the commit into the WAL file (the operating system holds it should our
# process die) and syncs only at checkpoints, so a power cut may take the last commits but never
# leaves the database inconsistent. PostgreSQL: `off` answers a commit once it is in the
# server's WAL buffers, which its WAL writer flushes within about 3 x wal_writer_delay; `full`
# keeps the server's own setting (`on` by default: flushed before the answer).
SQLITE_SYNCHRONOUS = {Durability.FULL: "FULL", Durability.PROCESS: "NORMAL"}
POSTGRES_SYNCHRONOUS_COMMIT = {Durability.PROCESS: "off"}


async def start_writing(session: AsyncSession) -> None:
    """Begin a transaction that will read and then write. On SQLite it takes the write lock
    first: a transaction that has read cannot wait for the lock later (it fails at once when
    another connection committed meanwhile), one that starts by writing can. On PostgreSQL it
    serialises account changes (`ACCOUNTS_LOCK_ID`)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:id)"), {"id": ACCOUNTS_LOCK_ID}
        )
    else:
        # A write statement that changes nothing still takes SQLite's write lock.
        await connection.execute(text("UPDATE account SET id = id WHERE 0 = 1"))


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, *, locked: bool = True, keep_refusals: bool = True
) -> AsyncIterator[AsyncSession]:
    """One unit of work: a session committed when the block ends; anything unexpected rolls it
    back. `locked` starts it with `start_writing`.

    `keep_refusals` decides what a refusal (`OtError`) keeps. Requests keep it (the default):
    the core records failed log-ins, throttling counters and their audit entries before
    refusing, and a refusal must not erase them. Operators' commands pass False: a refused
    command changes nothing, so an operator can correct the command and run it again."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        try:
            if locked:
                await start_writing(session)
            yield session
        except OtError:
            if keep_refusals:
                await session.commit()
            raise
        await session.commit()


def lost_the_write_lock(error: BaseException) -> bool:
    """Whether SQLite refused a write to a transaction that had read: another connection held
    the write lock, or had committed since the transaction's snapshot ("database is locked",
    at once: the wait of `busy_timeout` is only for transactions that start by writing)."""
    cause = error.orig if isinstance(error, OperationalError) else None
    code = getattr(cause, "sqlite_errorcode", None)
    if not isinstance(cause, sqlite3.OperationalError) or code is None:
        return False
    return code & 0xFF == sqlite3.SQLITE_BUSY  # the extended codes say which of the two


async def read_one_snapshot(connection: AsyncConnection) -> None:
    """Make the connection's next transaction read one snapshot of the database, for work that
    reads several statements which must agree. PostgreSQL's default (READ COMMITTED) gives each
    statement its own: REPEATABLE READ, set before the transaction begins. SQLite's
    transactions read one snapshot already."""
    if connection.dialect.name == "postgresql":
        await connection.execution_options(isolation_level="REPEATABLE READ")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(settings: Settings, *, for_writes: bool = False) -> AsyncEngine:
    """An async engine. `for_writes` makes SQLite transactions take the write lock at BEGIN
    (BEGIN IMMEDIATE), so that a read-then-write transaction cannot deadlock with another writer."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        ensure_private_dir(settings.data_dir)
        prepare_sqlite_file(url)
        # A pool as large as a burst of requests (a dashboard's panels) reaches: past
        # pool_size, a connection is closed when returned and opened again by the next burst
        # (a thread, the file, the schema read: ~3 ms each on a large database). The last one
        # returned is the next one lent (LIFO): its thread is awake and its cache warm.
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_size=15, pool_use_lifo=True
        )
        _configure_sqlite(engine, begin="BEGIN IMMEDIATE" if for_writes else "BEGIN")
        return engine
    return _create_postgres_engine(url)


def create_hit_engine(settings: Settings) -> Engine | AsyncEngine:
    """The engine hits are committed through (the collector's writer, access-log imports), in
    the durability mode of `settings.collector.durability`: on SQLite the writer's synchronous
    engine (`create_sqlite_writer_engine`), on PostgreSQL an async engine of its own.

    Only hits may be written with less than `full`, so nothing else may use this engine: a hit
    lost to a power cut costs a count one page view, while a lost account change, payment,
    invoice number or audit entry that was confirmed breaks a promise (an invoice number used
    twice, a gap in the audit chain). Every other write goes through `create_engine`, always
    `full`."""
    if settings.effective_database_url.startswith("sqlite"):
        return create_sqlite_writer_engine(settings)
    synchronous_commit = POSTGRES_SYNCHRONOUS_COMMIT.get(settings.collector.durability)
    server_settings = {"synchronous_commit": synchronous_commit} if synchronous_commit else {}
    return _create_postgres_engine(settings.effective_database_url, server_settings)


def _create_postgres_engine(url: str, server_settings: dict[str, str] | None = None) -> AsyncEngine:
    connect_args = {"server_settings": server_settings} if server_settings else {}
    return create_async_engine(
        url, pool_size=5, max_overflow=5, pool_pre_ping=True, connect_args=connect_args
    )


async def dispose_engine(engine: Engine | AsyncEngine) -> None:
    """Close an engine's pooled connections, whichever kind `create_hit_engine` made."""
    if isinstance(engine, AsyncEngine):
        await engine.dispose()
    else:
        engine.dispose()


def prepare_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only before SQLite does (it would
    make it 0644); SQLite gives its -wal and -shm files the database file's mode. An empty file
    is an empty database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    create_private_file(path)
    for suffix in paths.SQLITE_COMPANIONS:
        tighten_file(path.with_name(path.name + suffix))


def create_sqlite_writer_engine(settings: Settings) -> Engine:
    """A synchronous engine (stdlib sqlite3) for the writer on SQLite (see ot.ingest.writer),
    in the durability mode of `settings.collector.durability`: it writes hits only (see
    `create_hit_engine`).

    Its commits never checkpoint the WAL: a checkpoint inside a commit writes and syncs the main
    database file and held a batch up for tens of milliseconds; `checkpoint_wal` does it aside."""
    url = settings.effective_database_url.replace("sqlite+aiosqlite://", "sqlite+pysqlite://", 1)
    engine = create_sync_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    _configure_sqlite(
        engine,
        begin="BEGIN IMMEDIATE",
        autocheckpoint=False,
        synchronous=SQLITE_SYNCHRONOUS[settings.collector.durability],
    )
    return engine


def checkpoint_wal(engine: Engine) -> tuple[int, int, int]:
    """Copy committed pages from the WAL into the database file without blocking anyone.
    Returns SQLite's answer: (busy, frames in the WAL, frames checkpointed)."""
    # On the driver's connection: SQLAlchemy would open a transaction, inside which SQLite
    # refuses to checkpoint.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            raise RuntimeError("SQLite gave no answer to wal_checkpoint")
        busy, frames, checkpointed = row
        return int(busy), int(frames), int(checkpointed)
    finally:
        connection.close()


def _configure_sqlite(
    engine: AsyncEngine | Engine,
    *,
    begin: str,
    autocheckpoint: bool = True,
    synchronous: str = "FULL",
) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is answered; NORMAL only for hits, and only when
        # asked for (see SQLITE_SYNCHRONOUS).
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        # In place of SQLAlchemy's REGEXP on Python's backtracking `re` (see ot.regex).
        dbapi_connection.create_function("regexp", 2, sqlite_regexp, deterministic=True)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
