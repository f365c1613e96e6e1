"""When storage fails: telling a failing disk or database (full, read-only, I/O errors,
unreachable) from a bug, in words, and keeping track of it per process so that readiness can
say so and the log says it once in a while rather than once per refused write."""

from __future__ import annotations

import errno
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("ot.storage")

DISK_FULL = "disk full"
READ_ONLY = "read-only storage"
IO_ERROR = "I/O error"
NO_PERMISSION = "no permission to write the data"
UNREACHABLE = "database unreachable"
OUT_OF_RESOURCES = "database out of resources"
DAMAGED = "database file damaged or not a database"
CANNOT_OPEN = "database file cannot be opened"

# How often a lasting failure is logged again; every refused write is counted in between.
LOG_INTERVAL_SECONDS = 60.0

_OS_ERRORS = {
    errno.ENOSPC: DISK_FULL,
    errno.EDQUOT: DISK_FULL,
    errno.EFBIG: DISK_FULL,  # a file size limit: to the writer it is a full disk
    errno.EROFS: READ_ONLY,
    errno.EACCES: NO_PERMISSION,
    errno.EPERM: NO_PERMISSION,
    errno.EIO: IO_ERROR,
}
_SQLITE_ERRORS = {
    sqlite3.SQLITE_FULL: DISK_FULL,
    sqlite3.SQLITE_READONLY: READ_ONLY,
    sqlite3.SQLITE_IOERR: IO_ERROR,
    sqlite3.SQLITE_CANTOPEN: CANNOT_OPEN,
    sqlite3.SQLITE_PERM: NO_PERMISSION,
    sqlite3.SQLITE_CORRUPT: DAMAGED,
    sqlite3.SQLITE_NOTADB: DAMAGED,
}
_UNREACHABLE_ERRNOS = (errno.EHOSTUNREACH, errno.ENETUNREACH)
# PostgreSQL's SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_POSTGRES_ERRORS = {
    "53100": DISK_FULL,
    "25006": READ_ONLY,  # read_only_sql_transaction: a standby, or writes switched off
    "58030": IO_ERROR,
    "53000": OUT_OF_RESOURCES,
    "53200": OUT_OF_RESOURCES,
    "53300": OUT_OF_RESOURCES,
    "57P01": UNREACHABLE,  # admin_shutdown
    "57P02": UNREACHABLE,  # crash_shutdown
    "57P03": UNREACHABLE,  # cannot_connect_now
}


class StorageFailed(Exception):
    """Storage failed where the original error could not be kept (in another process)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def storage_problem(error: BaseException) -> str | None:
    """The cause in words when `error` means the storage is failing (a full disk, read-only
    storage, I/O errors, a database that cannot be reached), None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = _cause_of(current)
        if cause is not None:
            return cause
        current = current.__cause__ or current.__context__
    return None


def _cause_of(error: BaseException) -> str | None:
    if isinstance(error, StorageFailed):
        return error.problem
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return UNREACHABLE
        return _cause_of(error.orig) if error.orig is not None else None
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return None if code is None else _SQLITE_ERRORS.get(code & 0xFF)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate.startswith("08"):  # connection_exception and its kinds
            return UNREACHABLE
        return _POSTGRES_ERRORS.get(sqlstate)
    if isinstance(error, OSError):
        # Not every OSError is storage's: a client hanging up (ConnectionResetError) is not.
        # asyncpg raises the socket's own error when the database cannot be reached.
        if isinstance(error, ConnectionRefusedError) or error.errno in _UNREACHABLE_ERRNOS:
            return UNREACHABLE
        return _OS_ERRORS.get(error.errno or 0)
    return None


def unwritable_folder(folder: Path) -> str | None:
    """Why no file can be made in `folder` (made first if missing), in words; None if one can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return storage_problem(error) or error.strerror or type(error).__name__
    return None


async def probe_write(engine: AsyncEngine) -> None:
    """A write that changes nothing but has to reach the disk: the schema's version row
    rewritten as it is, committed. Raises what the database raises when it takes no writes."""
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = version_num"))


class StorageHealth:
    """Whether this process's writes currently fail for a reason of storage.

    Writers report each failure and each success. A failure is logged with its cause at once,
    then at most once per `log_every` seconds with the number of writes refused meanwhile (a
    full disk under traffic once logged a line per hit); a success after failures is logged
    once as the recovery."""

    def __init__(
        self,
        *,
        log_every: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_report: Callable[[str | None], None] | None = None,
    ) -> None:
        self._log_every = log_every
        self._clock = clock
        # Told each failure and each recovery: the collector's own process tells the server's
        # (see `reported`).
        self._on_report = on_report
        self._problem: str | None = None
        self._failing_since = 0.0
        self._logged_at = 0.0
        self._failures = 0

    @property
    def problem(self) -> str | None:
        """The cause in words while writes fail, None while they succeed."""
        return self._problem

    def failed(self, cause: str) -> None:
        if self._on_report is not None:
            self._on_report(cause)
        now = self._clock()
        if self._problem is None:
            self._failing_since = now
            self._failures = 0
        self._failures += 1
        if cause != self._problem:  # a new failure, or another cause
            self._problem = cause
            self._log(now, "storage is failing: writes are refused with 503 until it recovers")
        elif now - self._logged_at >= self._log_every:
            self._log(now, "storage is still failing")

    def succeeded(self) -> None:
        if self._problem is None:
            return
        if self._on_report is not None:
            self._on_report(None)
        log.info(
            "storage recovered",
            extra={
                "cause": self._problem,
                "failed_writes": self._failures,
                "failing_seconds": round(self._clock() - self._failing_since, 1),
            },
        )
        self._problem = None

    def reported(self, problem: str | None) -> None:
        """What another process's writes found (the collector's own process, which logged it):
        taken as this process's state, so that readiness says it."""
        if problem is not None and self._problem is None:
            self._failing_since = self._clock()
            self._failures = 0
        self._problem = problem

    def _log(self, now: float, message: str) -> None:
        log.error(
            f"{message}: {self._problem}",
            extra={
                "cause": self._problem,
                "failed_writes": self._failures,
                "failing_seconds": round(now - self._failing_since, 1),
            },
        )
        self._logged_at = now
