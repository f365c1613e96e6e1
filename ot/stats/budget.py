"""A stats query's time budget, enforced by the database itself: SQLite stops a statement from
its progress handler once the deadline has passed; PostgreSQL's `statement_timeout` is set, in
each transaction, to the time left. An engine carries one deadline: it serves one query at a
time (a query process's engine, or `ot-admin`'s)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.errors import QueryTooSlow

# SQLite virtual machine instructions between two looks at the clock: a few hundred
# microseconds of work, so a statement stops within a millisecond or so of its deadline.
PROGRESS_EVERY = 10_000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


class Deadline:
    """When the running query must stop (monotonic seconds), or None between queries."""

    def __init__(self) -> None:
        self.at: float | None = None

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def left_ms(self) -> int | None:
        if self.at is None:
            return None
        return max(1, int((self.at - time.monotonic()) * 1000))


def enforce_deadline(engine: AsyncEngine) -> Deadline:
    """Make every statement of `engine` stop once its deadline (set by `budget`) has passed."""
    deadline = Deadline()
    sync_engine = engine.sync_engine
    if engine.dialect.name == "sqlite":

        def stop_when_late() -> int:
            return 1 if deadline.passed() else 0  # non-zero makes SQLite interrupt the statement

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(
                lambda driver: driver.set_progress_handler(stop_when_late, PROGRESS_EVERY)
            )

    else:

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            left = deadline.left_ms()
            if left is not None:
                # Local to the transaction: the pooled connection goes back without it.
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {left}")

    return deadline


@asynccontextmanager
async def budget(deadline: Deadline, seconds: float) -> AsyncIterator[None]:
    """Everything the engine of `deadline` runs inside has `seconds` in all; a statement still
    running then is stopped and QueryTooSlow raised."""
    deadline.at = time.monotonic() + seconds
    try:
        yield
    except DBAPIError as error:
        # Past the deadline, whatever the database said is the budget's doing: a cancelled
        # statement may also leave its connection invalidated, which must not read as a
        # database that cannot be reached (that would refuse the collector's writes).
        if _stopped_by_deadline(error) or deadline.passed():
            raise too_slow(seconds) from None
        raise
    finally:
        deadline.at = None


def too_slow(seconds: float) -> QueryTooSlow:
    return QueryTooSlow(
        f"the query took longer than {seconds:g} s and was stopped: ask for a shorter date range "
        "or fewer dimensions and filters"
    )


def _stopped_by_deadline(error: DBAPIError) -> bool:
    cause = error.orig
    if isinstance(cause, sqlite3.Error):
        return getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED
