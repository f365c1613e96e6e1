"""Running the rollup job every few seconds until told to stop (the server's rollup process)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import paths
from ot.clock import utcnow
from ot.config import Settings
from ot.db import ROLLUP_LOCK_ID, create_engine, is_sqlite
from ot.private_files import ensure_private_dir
from ot.rollups.job import RollupReport, run_rollups
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.storage import storage_problem

log = logging.getLogger("ot.rollups")
LOCK_FILE = paths.ROLLUPS_LOCK_FILE


async def keep_rolled_up(settings: Settings, stop: asyncio.Event) -> None:
    """Run the job every `settings.rollups.interval_seconds` until `stop` is set. A failing
    database is logged and tried again at the next interval, never fatal."""
    reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
    try:
        while not stop.is_set():
            try:
                await run_once(settings, reader, writer, stop)
            except (SQLAlchemyError, OSError) as error:
                log.warning(
                    "rollup run failed",
                    extra={"error": type(error).__name__, "cause": storage_problem(error)},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.rollups.interval_seconds)
    finally:
        await reader.dispose()
        await writer.dispose()


async def run_once(
    settings: Settings,
    reader: AsyncEngine,
    writer: AsyncEngine,
    stop: asyncio.Event | None = None,
) -> RollupReport | None:
    """One run, unless another process is running one (None then)."""
    async with _exclusive(settings, writer) as allowed:
        if not allowed:
            return None
        report = await run_rollups(
            reader,
            writer,
            now=utcnow(),
            stop=stop,
        )
    if report.days_rolled:
        log.info(
            "rolled up",
            extra={"days": report.days_rolled, "rows": report.rows_written,
                   "seconds": round(report.seconds, 2)},
        )  # fmt: skip
    return report


async def run_by_hand(
    settings: Settings, reader: AsyncEngine, writer: AsyncEngine, *, actor: Actor
) -> RollupReport | None:
    """One run asked for by an operator, kept in the audit trail (the server's runs every few
    seconds are not: they would bury the acts of people); None when another process is running
    one."""
    report = await run_once(settings, reader, writer)
    if report is not None:
        async with AsyncSession(writer) as session:
            await audit.record(
                session,
                AuditAction.ROLLUPS_RAN,
                actor=actor,
                details={"days": report.days_rolled, "sites": report.sites},
            )
            await session.commit()
    return report


@contextlib.asynccontextmanager
async def _exclusive(settings: Settings, engine: AsyncEngine) -> AsyncIterator[bool]:
    """Whether this process may run the job now: a lock file beside the SQLite database (one
    host's `ot serve` and `ot-admin` share it), or a session lock on PostgreSQL that several
    hosts' servers agree on."""
    if is_sqlite(engine):
        ensure_private_dir(settings.data_dir)
        descriptor = os.open(settings.data_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    async with engine.connect() as connection:
        allowed = await _try_lock(connection)
        try:
            yield allowed
        finally:
            if allowed:
                await connection.execute(text(f"SELECT pg_advisory_unlock({ROLLUP_LOCK_ID})"))
                await connection.commit()


async def _try_lock(connection: AsyncConnection) -> bool:
    result = await connection.execute(text(f"SELECT pg_try_advisory_lock({ROLLUP_LOCK_ID})"))
    await connection.commit()
    return bool(result.scalar())
