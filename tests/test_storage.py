"""When storage fails (a full disk, a read-only database or data folder), the server says so and
nothing breaks worse: `/readyz` reports not ready with the cause, every write answers 503 with
`Retry-After` (the collector, registration, log-in), the cause is logged in words once per
interval rather than once per refused write, and readiness returns when the storage does.
Starting on a read-only data folder exits with one clear line.

The failures are real: on SQLite the data folder is a small tmpfs that the test fills up; on
PostgreSQL the database is switched to read-only (as a standby, or an operator protecting a
nearly full disk, would make it), the one refusal of writes a shared test server can suffer.
Mounting needs root (CAP_SYS_ADMIN): where it is refused, those tests are skipped.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ot import paths
from ot.config import Settings, load_settings
from ot.server.app import create_app
from ot.server.app_keys import STORAGE_HEALTH
from ot.storage import (
    DISK_FULL,
    LOG_INTERVAL_SECONDS,
    READ_ONLY,
    UNREACHABLE,
    StorageHealth,
    storage_problem,
)
from tests.account_support import EMAIL, PASSWORD, log_in, register, registered
from tests.support import CHROME_USER_AGENT, _admin_dsn, event, make_site

HIT_HEADERS = {"User-Agent": CHROME_USER_AGENT}


# --- telling storage failures from bugs ------------------------------------------------------


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), DISK_FULL),
        (OSError(errno.EROFS, "Read-only file system"), READ_ONLY),
        (ConnectionRefusedError(111, "Connect call failed"), UNREACHABLE),
        (
            OperationalError("INSERT", {}, sqlite_error("database or disk is full", 13)),
            DISK_FULL,
        ),
        (
            OperationalError("INSERT", {}, sqlite_error("attempt to write a readonly database", 8)),
            READ_ONLY,
        ),
        # An extended code (SQLITE_IOERR_WRITE) is read by its primary code.
        (OperationalError("INSERT", {}, sqlite_error("disk I/O error", 778)), "I/O error"),
    ],
)
def test_a_failing_disk_or_database_is_told_in_words(error: BaseException, cause: str) -> None:
    assert storage_problem(error) == cause


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        ConnectionResetError(104, "a client hung up"),
        OperationalError("SELECT", {}, sqlite_error("no such table: hit", 1)),
        OperationalError("SELECT", {}, sqlite_error("database is locked", 5)),
    ],
)
def test_bugs_and_contention_are_not_storage_failures(error: BaseException) -> None:
    assert storage_problem(error) is None


@dataclass
class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def storage_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "ot.storage"]


def test_a_lasting_failure_is_logged_once_per_interval_with_the_count_in_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ot.storage")
    clock = FakeClock()
    health = StorageHealth(clock=clock)
    for _ in range(1000):
        health.failed(DISK_FULL)
        clock.now += 0.01  # 1,000 refused writes in 10 s
    [first] = storage_records(caplog)
    assert first.levelname == "ERROR"
    assert first.getMessage().endswith(": disk full")
    assert health.problem == DISK_FULL
    clock.now += LOG_INTERVAL_SECONDS
    health.failed(DISK_FULL)
    [_, second] = storage_records(caplog)
    assert second.getMessage() == "storage is still failing: disk full"
    assert second.failed_writes == 1001  # type: ignore[attr-defined]
    health.succeeded()
    assert health.problem is None
    assert storage_records(caplog)[-1].getMessage() == "storage recovered"
    health.succeeded()  # nothing more to say while it works
    assert len(storage_records(caplog)) == 3


def test_another_cause_is_logged_at_once() -> None:
    health = StorageHealth(clock=FakeClock())
    health.failed(DISK_FULL)
    health.failed(READ_ONLY)
    assert health.problem == READ_ONLY


# --- real storage refusing writes under a running server -------------------------------------


@contextmanager
def small_file_system(mount_point: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of `size_kib` at `mount_point`, unmounted afterwards."""
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "ot-test", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        # Lazily: a connection the server failed to close must not keep the mount alive.
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def fill_up(folder: Path) -> Path:
    """Write a file until the file system has no byte left; the file, to delete later."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


@dataclass
class RefusingStorage:
    """A way to make the test's storage refuse writes, and to make it work again."""

    settings: Settings
    cause: str
    refuse: Any
    restore: Any
    mounted: list[Any] = field(default_factory=list)


@asynccontextmanager
async def storage_that_can_refuse(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[RefusingStorage]:
    """SQLite: the data folder moved onto an 8 MiB tmpfs, filled up to refuse. PostgreSQL: the
    test database made read-only to refuse (and its sessions ended, as a failover would)."""
    if settings.database_url:
        dsn = _admin_dsn(settings.database_url)
        name = make_url(settings.database_url).database

        async def set_read_only(on: bool) -> None:
            connection = await asyncpg.connect(dsn)
            try:
                value = "on" if on else "off"
                # This session may have started read-only itself.
                await connection.execute("SET default_transaction_read_only = off")
                await connection.execute(
                    f"ALTER DATABASE {name} SET default_transaction_read_only = {value}"
                )
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            finally:
                await connection.close()

        async def refuse() -> None:
            await set_read_only(True)

        async def restore() -> None:
            await set_read_only(False)

        yield RefusingStorage(settings, READ_ONLY, refuse, restore)
        return
    with small_file_system(tmp_path / "small-disk", 8 * 1024) as folder:
        for name in os.listdir(settings.data_dir):
            shutil.copy2(settings.data_dir / name, folder / name)
        moved = load_settings(
            data_dir=folder,
            server={"port": 0},
            collector={"batch_wait_ms": 0, "own_process": False},
            log={"access_log": False},
            api={"rate_per_minute": 0},
            accounts=settings.accounts.model_dump(
                include={"password_hash_memory_kib", "password_hash_passes"}
            ),
        )
        fillers: list[Path] = []

        async def refuse() -> None:
            # An empty WAL, so that the next commit has to grow it: until then SQLite would
            # write into the space the WAL file already holds.
            with sqlite3.connect(paths.sqlite_path(folder)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            fillers.append(fill_up(folder))

        async def restore() -> None:
            fillers.pop().unlink()

        yield RefusingStorage(moved, DISK_FULL, refuse, restore)


async def test_failing_storage_makes_the_server_not_ready_and_every_write_answer_503(
    settings: Settings, tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ot.storage")
    async with storage_that_can_refuse(settings, tmp_path) as storage:
        await make_site(storage.settings)
        app = create_app(storage.settings)
        clock = FakeClock()
        app[STORAGE_HEALTH] = StorageHealth(clock=clock)
        client: TestClient = await aiohttp_client(app)
        await registered(client, storage.settings)  # Ada, to log in while the disk is full
        assert (await client.post("/api/event", json=event(), headers=HIT_HEADERS)).status == 202
        assert (await client.get("/readyz")).status == 200

        await storage.refuse()
        caplog.clear()
        for number in range(20):
            hit = event(url=f"https://shop.example/{number}")
            response = await client.post("/api/event", json=hit, headers=HIT_HEADERS)
            assert response.status == 503, await response.text()
            assert int(response.headers["Retry-After"]) >= 1
            assert (await response.json())["error"]["code"] == "storage_unavailable"
        for response in (
            await register(client, email="grace@example.com"),
            await log_in(client, EMAIL, PASSWORD),
        ):
            assert response.status == 503, await response.text()
            assert int(response.headers["Retry-After"]) >= 1
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert storage.cause in (await ready.json())["reason"]

        # Said once, in words; no traceback, no line per refused write.
        problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.getMessage() for r in problems] == [
            f"storage is failing: writes are refused with 503 until it recovers: {storage.cause}"
        ]
        clock.now += LOG_INTERVAL_SECONDS
        assert (await client.post("/api/event", json=event(), headers=HIT_HEADERS)).status == 503
        problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert problems[-1].getMessage() == f"storage is still failing: {storage.cause}"
        assert len(problems) == 2

        await storage.restore()
        assert (await client.get("/readyz")).status == 200
        assert (await client.post("/api/event", json=event(), headers=HIT_HEADERS)).status == 202
        assert (await log_in(client, EMAIL, PASSWORD)).status == 200
        assert storage_records(caplog)[-1].getMessage() == "storage recovered"


@contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """`folder` bind-mounted over itself read-only, as a read-only volume would be."""
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only folder here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def run_command(settings: Settings, *command: str) -> subprocess.CompletedProcess[str]:
    """`ot ...` or `ot-admin ...` as the operator runs it, on the test's settings."""
    program = {"ot": "ot.cli", "ot-admin": "ot.admin.cli"}[command[0]]
    environment = {
        **os.environ,
        "OT_DATA_DIR": str(settings.data_dir),
        "OT_DATABASE_URL": settings.database_url,
        "OT_SERVER__PORT": "0",
    }
    return subprocess.run(
        [sys.executable, "-c", f"from {program} import main; main()", *command[1:]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_starting_on_a_read_only_data_folder_exits_with_one_clear_line(
    settings: Settings,
) -> None:
    await make_site(settings)  # secrets and the database exist: only writing is refused
    with read_only_folder(settings.data_dir):
        served = run_command(settings, "ot", "serve")
        administered = run_command(settings, "ot-admin", "accounts", "create", "Example B.V.")
    assert served.returncode == 2
    [line] = (served.stdout + served.stderr).splitlines()
    assert f"cannot start: the data folder {settings.data_dir} cannot be written" in line
    assert READ_ONLY in line
    if not settings.database_url:  # with PostgreSQL the database itself is writable
        assert administered.returncode == 1
        assert (administered.stdout + administered.stderr).splitlines() == [
            f"error: the database or the data folder cannot be used ({READ_ONLY})"
        ]
