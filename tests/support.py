"""Helpers the tests share: databases to test on, reading tables back, and sending hits through
the real ingest path."""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.sessions import StartedSession, start_session
from ot.accounts.store import create_account
from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from ot.schema import upgrade
from ot.security.audit import Actor
from ot.security.crypto import Cipher
from ot.security.secrets import load_or_create_secrets, load_secrets_of
from ot.sites.store import add_site

# Who the trail names for what the tests' helpers set up through the core, as an operator would.
TEST_OPERATOR = Actor.operator("tests")
# Leaves the entries of that setup out of the trail a test reads (SQL, on `audit_entry`).
NOT_SETUP = f"actor <> '{TEST_OPERATOR}'"
POSTGRES_URL_VARIABLE = "OPENTRACKER_TEST_POSTGRES_URL"
# Per process: several test runs may share one PostgreSQL server.
TEMPLATE_DATABASE = f"ot_test_template_{os.getpid()}"
CHROME_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def _admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _database_url(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Fresh, migrated databases in milliseconds: each test copies a template migrated once.

    On PostgreSQL a copy (CREATE DATABASE ... TEMPLATE) and a drop (which forces a checkpoint)
    take from a tenth of a second to a second each on a busy machine. Background threads do
    both: one keeps the next tests' databases made ahead, the other drops finished tests'
    databases, so a test waits for neither."""

    SPARES = 2

    def __init__(self, root: Path) -> None:
        self._root = root
        self._sqlite_template: Path | None = None
        self._postgres_ready = False
        # Copies in one thread, first in first out: the template is migrated before the first
        # copy. Drops in several: each waits for a checkpoint, which drops waiting together share
        # (one thread fell behind on a busy machine, and the run's end waited half a minute).
        self._copying = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database-copies")
        self._dropping = ThreadPoolExecutor(max_workers=4, thread_name_prefix="database-drops")
        self._spares: collections.deque[Future[str]] = collections.deque()
        self._drops: list[Future[None]] = []
        self._lock = threading.Lock()

    async def sqlite(self, data_dir: Path) -> str:
        if self._sqlite_template is None:
            template_dir = self._root / "sqlite-template"
            template_dir.mkdir(parents=True)
            path = template_dir / "opentracker.sqlite3"
            await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
            self._sqlite_template = path
        # As opentracker makes its data folder: readable by its owner only (else every start
        # would warn that it tightened it).
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy(self._sqlite_template, data_dir / "opentracker.sqlite3")
        return ""  # the embedded default: SQLite in the data folder

    async def postgres(self) -> str:
        """A new database copied from the template; `drop_postgres` it when done."""
        url = postgres_url()
        assert url is not None
        with self._lock:
            while len(self._spares) <= self.SPARES:
                self._spares.append(self._copying.submit(self._copy_template))
            ready = self._spares.popleft()
        return _database_url(url, await asyncio.wrap_future(ready))

    async def drop_postgres(self, database_url: str) -> None:
        """Drop a database made by `postgres` in the background; `close` waits for it."""
        name = make_url(database_url).database
        assert name is not None
        with self._lock:
            self._drops.append(self._dropping.submit(self._drop_sync, name))

    def close(self) -> None:
        """Drop the spare copies and the template once every drop is done; raise the first error
        a background copy or drop met."""
        with self._lock:
            spares, self._spares = list(self._spares), collections.deque()
            drops, self._drops = self._drops, []
        self._copying.shutdown(wait=True)
        for spare in spares:
            drops.append(self._dropping.submit(self._drop_sync, spare.result()))
        if self._postgres_ready:
            drops.append(self._dropping.submit(self._drop_sync, TEMPLATE_DATABASE))
        self._dropping.shutdown(wait=True)
        for drop in drops:
            drop.result()

    def _copy_template(self) -> str:
        url = postgres_url()
        assert url is not None
        if not self._postgres_ready:
            asyncio.run(
                _admin_execute(
                    url,
                    f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE} WITH (FORCE)",
                    f"CREATE DATABASE {TEMPLATE_DATABASE}",
                )
            )
            upgrade(_database_url(url, TEMPLATE_DATABASE))
            self._postgres_ready = True
        name = f"ot_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_execute(url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}"))
        return name

    def _drop_sync(self, name: str) -> None:
        url = postgres_url()
        assert url is not None
        asyncio.run(_admin_execute(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _admin_execute(url: str, *statements: str) -> None:
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


# Engines the helpers below share within one test, by database and event loop. Each engine opens
# connections of its own, and on PostgreSQL every new connection to a new database costs the
# server milliseconds of CPU (it loads the catalogs afresh): a test made about ten of them.
_shared_engines: dict[tuple[str, asyncio.AbstractEventLoop], AsyncEngine | None] = {}


@asynccontextmanager
async def sharing_engines(settings: Settings) -> AsyncIterator[None]:
    """While open, the helpers called from this event loop on this database share one engine,
    disposed on leaving (the `settings` fixture opens it around each test)."""
    key = (settings.effective_database_url, asyncio.get_running_loop())
    _shared_engines[key] = None
    try:
        yield
    finally:
        engine = _shared_engines.pop(key)
        if engine is not None:
            await engine.dispose()


@asynccontextmanager
async def helper_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine for a helper: the test's shared one where `sharing_engines` is open, else a
    new one disposed after use (as in code run through `run_sync`, on an event loop of its own)."""
    key = (settings.effective_database_url, asyncio.get_running_loop())
    if key in _shared_engines:
        engine = _shared_engines[key]
        if engine is None:
            engine = _shared_engines[key] = create_engine(settings)
        yield engine
        return
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


async def make_site(settings: Settings, domain: str = "shop.example", **options: Any) -> Site:
    """An account owning one site, created through the core as an operator would."""
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        cipher = Cipher(load_or_create_secrets(settings.data_dir))
        account = await create_account(session, cipher, "Test Shop B.V.", actor=TEST_OPERATOR)
        assert account.id is not None
        site = await add_site(session, account.id, domain, actor=TEST_OPERATOR, **options)
        await session.commit()
        return site


async def rows(settings: Settings, query: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a SQL query, read straight from the database."""
    async with helper_engine(settings) as engine, engine.connect() as connection:
        result = await connection.execute(text(query), params)
        return [dict(row._mapping) for row in result]


async def hits(settings: Settings) -> list[dict[str, Any]]:
    """Every stored hit, oldest first, with `props` as a dict."""
    import json

    found = await rows(settings, "SELECT * FROM hit ORDER BY id")
    for row in found:
        if isinstance(row["props"], str):
            row["props"] = json.loads(row["props"])
    return found


_thread_pool = ThreadPoolExecutor(max_workers=1)


def run_sync(coroutine: Any) -> Any:
    """Run a coroutine from synchronous test code, even where an event loop is running."""
    return _thread_pool.submit(asyncio.run, coroutine).result()


def event(
    name: str = "pageview",
    url: str = "https://shop.example/",
    domain: str = "shop.example",
    **fields: Any,
) -> dict[str, Any]:
    """A Plausible Events API body."""
    return {"name": name, "url": url, "domain": domain, **fields}


async def store_hits(
    client: TestClient,
    events: Sequence[dict[str, Any]],
    *,
    user_agent: str = CHROME_USER_AGENT,
    ip: str = "203.0.113.7",
) -> None:
    """Send events through the real ingest path (POST /api/event) and insist each is accepted."""
    for body in events:
        response = await client.post(
            "/api/event",
            json=body,
            headers={"User-Agent": user_agent, "X-Forwarded-For": ip},
        )
        assert response.status == 202, await response.text()


async def error_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """The `error` object of a refusal, after checking its status and shape."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    error: dict[str, Any] = (await response.json())["error"]
    assert set(error) == {"code", "message", "field"}
    assert error["message"]
    return error


async def logged_in(settings: Settings, account_id: int) -> StartedSession:
    """A session for the account, as a successful log-in starts it (tokens in plaintext)."""
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        started = await start_session(session, account_id, settings.accounts)
        await session.commit()
        return started


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def installed(settings: Settings) -> Settings:
    """These settings' whole installation, as `ot serve` or `ot-admin db upgrade --create`
    leaves it: the database (made by the caller) and the keys, so that ot-admin finds it."""
    load_secrets_of(settings)
    return settings


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0
) -> None:
    """Wait until `condition()` holds, and no longer: a busy machine only makes it later (only a
    generous deadline fails it)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)
