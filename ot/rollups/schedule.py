"""Running the rollup job every few seconds until told to stop (the server's rollup process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ot.clock import utcnow
from ot.config import Settings
from ot.db import ROLLUP_LOCK_ID, create_engine, is_sqlite
from ot.rollups.job import RollupReport, run_rollups

log = logging.getLogger("ot.rollups")


async def keep_rolled_up(settings: Settings, stop: asyncio.Event) -> None:
    """Run the job every `settings.rollups.interval_seconds` until `stop` is set. A failing
    database is logged and tried again at the next interval, never fatal."""
    reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
    try:
        while not stop.is_set():
            try:
                await run_once(settings, reader, writer, stop)
            except (SQLAlchemyError, OSError) as error:
                log.warning("rollup run failed", extra={"error": type(error).__name__})
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
    async with _exclusive(writer) as allowed:
        if not allowed:
            return None
        report = await run_rollups(
            reader,
            writer,
            now=utcnow(),
            visit_timeout=timedelta(minutes=settings.collector.visit_timeout_minutes),
            stop=stop,
        )
    if report.days_rolled:
        log.info(
            "rolled up",
            extra={"days": report.days_rolled, "rows": report.rows_written,
                   "seconds": round(report.seconds, 2)},
        )  # fmt: skip
    return report


@contextlib.asynccontextmanager
async def _exclusive(engine: AsyncEngine) -> AsyncIterator[bool]:
    """On PostgreSQL, a session lock that several hosts' servers agree on. SQLite is one host's
    file, written by one `ot serve` whose rollup process is the only one running the job."""
    if is_sqlite(engine):
        yield True
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
