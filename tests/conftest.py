"""Fixtures shared by the whole suite: settings on a fresh database (SQLite and PostgreSQL),
an in-process app client, and a real `ot serve` process on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ot.client import CredentialStore
from ot.clock import ManualClock
from ot.config import Settings, load_settings
from ot.db import create_engine
from ot.models import Site
from ot.privacy import VisitorMode
from ot.server import create_app
from tests import support
from tests.account_support import registered
from tests.generated_hits import ZONE, Engines

BACKENDS = ["sqlite", "postgresql"]
# Argon2 with OWASP's parameters takes ~35 ms of CPU per hash or log-in; tests hash hundreds of
# passwords and check hashing, not its cost. test_passwords.py checks the defaults are OWASP's.
TEST_PASSWORD_HASHING = {"password_hash_memory_kib": 64, "password_hash_passes": 1}


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.DatabaseFactory]:
    """Migrates one template database per backend for the whole run, so tests start fast."""
    factory = support.DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


def _require_postgres() -> None:
    if support.postgres_url() is None:
        if os.environ.get("CI"):
            pytest.fail(f"{support.POSTGRES_URL_VARIABLE} is not set: CI must test PostgreSQL")
        pytest.skip(f"PostgreSQL tests need {support.POSTGRES_URL_VARIABLE}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.sqlite_only`: tests of a front door whose database work is the API's,
    already tested on both databases (the TUI's), run once, on SQLite."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("settings") == "postgresql"
        if on_postgres and item.get_closest_marker("sqlite_only"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=BACKENDS)
async def settings(
    request: pytest.FixtureRequest, tmp_path: Path, databases: support.DatabaseFactory
) -> AsyncIterator[Settings]:
    """Settings on a fresh, migrated database: each test runs once on SQLite, once on PostgreSQL."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        database_url = await databases.sqlite(data_dir)
    else:
        _require_postgres()
        database_url = await databases.postgres()
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        server={"port": 0},
        # On the test's event loop: tests/test_collector_process.py and the tests that run a
        # real `ot serve` use the collector's own process.
        collector={"batch_wait_ms": 0, "own_process": False},
        log={"access_log": False},
        # Tests send many requests from one address in a burst; the limits' own tests
        # (test_http_hygiene.py) build apps with limits of their own.
        api={"rate_per_minute": 0},
        accounts=TEST_PASSWORD_HASHING,
    )
    support.installed(settings)  # the keys too, so that ot-admin finds the installation
    async with support.sharing_engines(settings):
        yield settings
    if database_url:
        await databases.drop_postgres(database_url)


@pytest.fixture
async def site(settings: Settings) -> Site:
    """The site hits are sent to in most tests: shop.example, default privacy settings."""
    return await support.make_site(settings)


@pytest.fixture
def clock() -> ManualClock:
    """The clock the in-process server's rate limits and log-in throttling read: it stands still
    until the test moves it, so no answer depends on how fast a busy machine runs."""
    return ManualClock()


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any, clock: ManualClock) -> TestClient:
    """The server in-process, on the test's database, reading the test's `clock`. `settings`
    comes first so that its database is dropped only after the server has stopped (fixtures end
    in reverse order)."""
    return await aiohttp_client(create_app(settings, clock=clock))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real `ot serve` process on a loopback port, and its database to read back."""

    base_url: str
    site_domain: str
    site_id: int
    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path
    environment: dict[str, str] = field(default_factory=dict)

    def hits(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = support.run_sync(support.hits(self.settings))
        return result

    def wait_for_hits(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.hits()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    settings: Settings, log_path: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """Start `ot serve` on a loopback port and wait until it is ready.

    One worker listens on port 0 and the kernel picks a free port, read back from the server's
    "listening" log line: a port picked here and handed over could be taken meanwhile by another
    test (tests run in parallel). Several workers must share a fixed port (SO_REUSEPORT): that
    one is picked here, and picked again should another socket take it first."""
    attempts = 3
    while True:
        attempts -= 1
        port = 0 if workers == 1 else free_port()
        environment = {
            **os.environ,
            "OT_DATA_DIR": str(settings.data_dir),
            "OT_DATABASE_URL": settings.database_url,
            "OT_SERVER__HOST": "127.0.0.1",
            "OT_SERVER__PORT": str(port),
            "OT_SERVER__WORKERS": str(workers),
            "OT_LOG__ACCESS_LOG": "false",
            "OT_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB": str(
                TEST_PASSWORD_HASHING["password_hash_memory_kib"]
            ),
            "OT_ACCOUNTS__PASSWORD_HASH_PASSES": str(TEST_PASSWORD_HASHING["password_hash_passes"]),
            **(extra_env or {}),
        }
        log_start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "ot", "serve"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base_url = wait_until_ready(process, log_path, log_start, port)
        except PortTaken:
            stop_server(process)
            if attempts == 0:
                raise
            continue
        return process, base_url, environment


class PortTaken(RuntimeError):
    """Another socket took the port picked for the server before the server could listen."""


def _log_since(log_path: Path, log_start: int) -> str:
    with log_path.open("rb") as log:
        log.seek(log_start)
        return log.read().decode(errors="replace")


def _listening_port(log: str) -> int | None:
    """The port of the server's "listening" log line."""
    for line in log.splitlines():
        if '"listening"' in line:
            address = json.loads(line)["addresses"][0]
            return int(address.rsplit(":", 1)[1])
    return None


def wait_until_ready(
    process: subprocess.Popen[bytes], log_path: Path, log_start: int, port: int
) -> str:
    """The server's base URL once /readyz answers 200."""
    import urllib.request

    # A safety net, not a speed requirement: a loaded machine (load 20 on 2 cores, seen in the
    # suite) can take over a minute to start the supervisor and its workers.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = _log_since(log_path, log_start)
        if '"cannot listen"' in log:
            raise PortTaken(log)
        if process.poll() is not None:
            raise RuntimeError(f"ot serve exited with {process.returncode}:\n{log}")
        listening = port or _listening_port(log)
        if listening:
            base_url = f"http://127.0.0.1:{listening}"
            try:
                with urllib.request.urlopen(f"{base_url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return base_url
            except OSError:
                pass
        time.sleep(0.05)
    process.kill()
    process.wait()  # reaped here, so no later test inherits its ResourceWarning
    raise RuntimeError(f"ot serve did not become ready:\n{log_path.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def live_server(tmp_path: Path, databases: support.DatabaseFactory) -> Iterator[LiveServer]:
    """A real `ot serve` subprocess on a free loopback port with a fresh SQLite data folder and
    one site, shop.example (cookieless, Do-Not-Track respected)."""
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(support.make_site(settings))
    log_path = tmp_path / "server.log"
    process, base_url, environment = start_server(settings, log_path)
    server = LiveServer(
        base_url, site.domain, site.id or 0, settings, process, log_path, environment
    )
    try:
        yield server
    finally:
        stop_server(process)
    assert_quiet_log(log_path)


def assert_quiet_log(log_path: Path) -> None:
    """A server that ran normally logged no warning and no error."""
    noisy = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if '"level": "warning"' in line or '"level": "error"' in line
    ]
    assert noisy == [], "the server logged problems:\n" + "\n".join(noisy)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client for talking to live servers."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def engines(settings: Settings) -> AsyncIterator[Engines]:
    """A reading and a writing engine on the test's database."""
    reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
    yield Engines(reader, writer)
    await reader.dispose()
    await writer.dispose()


@pytest.fixture
async def cookie_site(settings: Settings) -> Site:
    """A cookie-mode site in Europe/Amsterdam, for tests of hits made in code."""
    return await support.make_site(settings, timezone=ZONE, visitor_mode=VisitorMode.COOKIE)


@pytest.fixture
def tui_credentials(tmp_path: Path) -> CredentialStore:
    """The TUI's config folder, the test's own: no test reads or writes the user's real one."""
    return CredentialStore(tmp_path / "config" / "opentracker")


@pytest.fixture
async def ada(client: TestClient, settings: Settings) -> int:
    """Ada's account, registered and verified through the API (tests.account_support's EMAIL
    and PASSWORD log her in)."""
    return await registered(client, settings)
