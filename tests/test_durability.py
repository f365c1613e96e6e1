"""No acknowledged hit is ever lost: a hit is answered only once committed, so `kill -9` loses
nothing that got a 2xx, in either durability mode; each mode sets what it promises on the
connections that write hits, and on those only; a full queue answers 503 instead of growing;
SIGTERM drains the queue."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot import paths
from ot.config import Durability, Settings
from ot.db import WRITER_LOCK_ID
from ot.logimport.writer import Database
from ot.models import Site
from ot.server.app import create_app
from ot.server.app_keys import ENGINE, HIT_ENGINE, WRITE_ENGINE
from tests.conftest import assert_quiet_log, start_server, stop_server
from tests.support import (
    CHROME_USER_AGENT,
    _admin_dsn,
    event,
    eventually,
    hits,
    make_site,
    rows,
    store_hits,
)

HEADERS = {"User-Agent": CHROME_USER_AGENT, "Content-Type": "text/plain"}


async def send(session: aiohttp.ClientSession, base_url: str, event_id: str) -> int:
    body = event(url=f"https://shop.example/p/{event_id}", eid=event_id)
    try:
        async with session.post(f"{base_url}/api/event", json=body, headers=HEADERS) as response:
            return response.status
    except (TimeoutError, aiohttp.ClientError):
        return 0  # no answer: not acknowledged


def metric(body: str, name: str) -> float:
    """The value of an unlabelled metric in a /metrics answer (0 before it is first set)."""
    lines = [line for line in body.splitlines() if line.startswith(f"{name} ")]
    return float(lines[0].split()[1]) if lines else 0.0


async def queued_hits(session: aiohttp.ClientSession, base_url: str) -> float:
    """Hits the server holds for its writer: the queue-depth gauge, set on every enqueue."""
    async with session.get(f"{base_url}/metrics") as response:
        return metric(await response.text(), "ot_write_queue_hits")


async def keep_sending(
    session: aiohttp.ClientSession, base_url: str, prefix: str, answers: dict[str, int]
) -> None:
    for number in range(100_000):
        event_id = f"{prefix}-{number}"
        answers[event_id] = await send(session, base_url, event_id)
        if answers[event_id] == 0:
            return


@pytest.mark.parametrize("durability", list(Durability))
async def test_kill_9_under_load_loses_no_acknowledged_hit(
    settings: Settings, tmp_path: Path, durability: Durability
) -> None:
    """Both modes promise this: `process` leaves a commit to the operating system (SQLite) or
    to PostgreSQL, which outlive the killed server; only a power cut separates the modes."""
    await make_site(settings)
    process, base_url, _ = start_server(
        settings, tmp_path / "server.log", extra_env={"OT_COLLECTOR__DURABILITY": durability}
    )
    answers: dict[str, int] = {}
    try:
        # Only a dead server ends a request early (its connection resets); a busy one may take
        # seconds to answer, and a sender that timed out would stop sending.
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            senders = [
                asyncio.create_task(keep_sending(session, base_url, f"c{n}", answers))
                for n in range(20)
            ]

            async def enough_acknowledged() -> bool:
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert not all(sender.done() for sender in senders), answers
                return sum(1 for status in answers.values() if status == 202) >= 500

            await eventually(enough_acknowledged, "500 hits acknowledged", timeout=120)
            os.kill(process.pid, signal.SIGKILL)
            await asyncio.wait_for(asyncio.gather(*senders), 30)
    finally:
        process.kill()
        process.wait()
    acknowledged = {event_id for event_id, status in answers.items() if status == 202}
    stored = {row["event_id"] for row in await hits(settings)}
    assert len(acknowledged) >= 500
    assert acknowledged - stored == set(), "acknowledged hits lost by kill -9"
    # Anything stored but unanswered was in the batch being committed when the process died:
    # the tracker's retry with the same event id will not count it twice.
    assert stored <= set(answers)


# Each mode, and what it sets on the connections that write hits: SQLite's `synchronous`,
# PostgreSQL's `synchronous_commit`.
WHAT_EACH_MODE_SETS = [(Durability.FULL, "FULL", "on"), (Durability.PROCESS, "NORMAL", "off")]


def with_durability(settings: Settings, durability: Durability) -> Settings:
    collector = settings.collector.model_copy(update={"durability": durability})
    return settings.model_copy(update={"collector": collector})


def read_commit_setting(connection: Connection) -> str:
    """What `connection` does at commit: SQLite's `PRAGMA synchronous` by name, or
    PostgreSQL's `synchronous_commit`."""
    if connection.dialect.name == "sqlite":
        level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]
    return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())


async def commit_setting(engine: Engine | AsyncEngine) -> str:
    """What a connection of `engine`'s pool does at commit (see `read_commit_setting`)."""
    if isinstance(engine, Engine):
        with engine.connect() as connection:
            return read_commit_setting(connection)
    async with engine.connect() as connection:
        return await connection.run_sync(read_commit_setting)


@pytest.mark.parametrize(("durability", "on_sqlite", "on_postgresql"), WHAT_EACH_MODE_SETS)
async def test_each_durability_mode_sets_what_it_promises_on_the_hit_writers_connections_only(
    aiohttp_client: Any,
    settings: Settings,
    site: Site,
    durability: Durability,
    on_sqlite: str,
    on_postgresql: str,
) -> None:
    client = await aiohttp_client(create_app(with_durability(settings, durability)))
    await store_hits(client, [event(eid="through-the-writer")])
    app = client.server.app
    expected = on_postgresql if settings.database_url.startswith("postgresql") else on_sqlite
    full = "on" if settings.database_url.startswith("postgresql") else "FULL"
    assert await commit_setting(app[HIT_ENGINE]) == expected
    # Accounts, billing, audit and everything else the server writes stay `full`.
    assert await commit_setting(app[WRITE_ENGINE]) == full
    assert await commit_setting(app[ENGINE]) == full
    assert [row["event_id"] for row in await hits(settings)] == ["through-the-writer"]


@pytest.mark.parametrize(("durability", "on_sqlite", "on_postgresql"), WHAT_EACH_MODE_SETS)
async def test_an_access_log_import_writes_its_hits_in_the_collectors_durability_mode(
    settings: Settings, durability: Durability, on_sqlite: str, on_postgresql: str
) -> None:
    database = Database(with_durability(settings, durability))
    try:
        found = await database.run(read_commit_setting)
    finally:
        await database.close()
    assert found == (on_postgresql if settings.database_url.startswith("postgresql") else on_sqlite)


@contextmanager
def sqlite_write_lock(settings: Settings) -> Iterator[None]:
    """Another process holding SQLite's write lock: the collector's writer has to wait."""
    connection = sqlite3.connect(paths.sqlite_path(settings.data_dir), isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@asynccontextmanager
async def writer_blocked(settings: Settings) -> AsyncIterator[None]:
    """Another session holding the writer's lock, on either backend."""
    if settings.database_url:
        connection = await asyncpg.connect(_admin_dsn(settings.database_url))
        await connection.execute("SELECT pg_advisory_lock($1)", WRITER_LOCK_ID)
        try:
            yield
        finally:
            await connection.close()
    else:
        with sqlite_write_lock(settings):
            yield


async def test_a_full_queue_answers_503_with_retry_after_and_keeps_what_it_took(
    settings: Settings, tmp_path: Path
) -> None:
    await make_site(settings)
    process, base_url, _ = start_server(
        settings, tmp_path / "server.log", extra_env={"OT_COLLECTOR__QUEUE_SIZE": "5"}
    )
    try:
        async with aiohttp.ClientSession() as session:
            # Warm up site and salt caches so that only the writer is blocked below.
            assert await send(session, base_url, "warm-up") == 202
            async with writer_blocked(settings):
                waiting = [
                    asyncio.create_task(send(session, base_url, f"queued-{n}")) for n in range(5)
                ]

                async def queue_full() -> bool:
                    return await queued_hits(session, base_url) == 5

                await eventually(queue_full, "the 5 requests queued")
                async with session.post(
                    f"{base_url}/api/event", json=event(eid="one-too-many"), headers=HEADERS
                ) as response:
                    assert response.status == 503
                    assert int(response.headers["Retry-After"]) >= 1
                    assert (await response.json())["error"]["code"] == "overloaded"
                assert not any(task.done() for task in waiting)  # nothing answered before commit
            assert await asyncio.gather(*waiting) == [202] * 5
            async with session.get(f"{base_url}/metrics") as response:
                assert 'code="overloaded"' in await response.text()
    finally:
        stop_server(process)
    stored = {row["event_id"] for row in await hits(settings)}
    assert stored == {"warm-up", *(f"queued-{n}" for n in range(5))}


async def test_the_queue_depth_gauge_counts_every_hit_waiting_behind_a_stuck_writer(
    client: TestClient, settings: Settings, site: Site
) -> None:
    """An operator sees the queue grow while the database is stuck (and the tests above wait
    on it): the gauge follows every hit queued, not only those the writer has taken."""
    await store_hits(client, [event(eid="warm-up")])  # site and salt cached: only the writer waits

    async def send_in_process(event_id: str) -> int:
        response = await client.post("/api/event", json=event(eid=event_id), headers=HEADERS)
        return response.status

    def queued(count: int) -> Callable[[], Awaitable[bool]]:
        async def holds() -> bool:
            body = await (await client.get("/metrics")).text()
            return metric(body, "ot_write_queue_hits") == count

        return holds

    async with writer_blocked(settings):
        first = asyncio.create_task(send_in_process("first"))
        await eventually(queued(1), "the first hit queued")  # the writer took it, and waits
        second = asyncio.create_task(send_in_process("second"))
        await eventually(queued(2), "the second hit queued behind it")
    assert await asyncio.gather(first, second) == [202, 202]
    await eventually(queued(0), "the queue emptied once committed")


async def test_sigterm_commits_every_queued_hit_before_exiting(
    settings: Settings, tmp_path: Path
) -> None:
    await make_site(settings)
    log = tmp_path / "server.log"
    process, base_url, _ = start_server(settings, log)
    async with aiohttp.ClientSession() as session:
        assert await send(session, base_url, "warm-up") == 202
        async with writer_blocked(settings):
            waiting = [
                asyncio.create_task(send(session, base_url, f"queued-{n}")) for n in range(20)
            ]

            async def all_queued() -> bool:
                return await queued_hits(session, base_url) == 20

            async def draining() -> bool:
                return "draining" in log.read_text()

            await eventually(all_queued, "the 20 requests queued")
            process.send_signal(signal.SIGTERM)
            await eventually(draining, "the server draining after SIGTERM")
            assert process.poll() is None  # still draining while the database is busy
        answers = await asyncio.gather(*waiting)
    assert process.wait(30) == 0, log.read_text()
    assert_quiet_log(log)
    assert answers == [202] * 20
    assert len(await hits(settings)) == 21
    assert "draining" in log.read_text()


def test_workers_share_one_port_and_stop_together(tmp_path: Path) -> None:
    from ot.config import load_settings
    from tests.support import DatabaseFactory, run_sync

    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=run_sync(DatabaseFactory(tmp_path).sqlite(data_dir))
    )
    run_sync(make_site(settings))
    log = tmp_path / "server.log"
    process, base_url, _ = start_server(settings, log, workers=2)

    async def traffic() -> list[int]:
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(send(session, base_url, f"w-{n}") for n in range(200)))

    def listening_workers() -> set[str]:
        return {
            line.split('"pid": ')[1].split("}")[0].split(",")[0]
            for line in log.read_text().splitlines()
            if '"listening"' in line
        }

    try:
        # The server answers as soon as its first worker listens; the second may follow later.
        deadline = time.monotonic() + 30
        while len(listening_workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(listening_workers()) == 2, log.read_text()
        assert run_sync(traffic()) == [202] * 200
    finally:
        stop_server(process)
    assert process.returncode == 0, log.read_text()
    assert len(run_sync(hits(settings))) == 200
    assert subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True).stdout == b""


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_failing_database_answers_503_and_the_writer_survives(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await store_hits(client, [event(eid="before")])
    # Sabotage the table under the running server, as a broken disk or a bad migration would.
    connection = sqlite3.connect(paths.sqlite_path(settings.data_dir))
    connection.execute("ALTER TABLE hit RENAME TO hit_elsewhere")
    connection.commit()
    response = await client.post("/api/event", json=event(eid="during"), headers=HEADERS)
    assert response.status == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "storage_unavailable"
    connection.execute("ALTER TABLE hit_elsewhere RENAME TO hit")
    connection.commit()
    connection.close()
    await store_hits(client, [event(eid="after")])  # the writer is still there
    assert [row["event_id"] for row in await hits(settings)] == ["before", "after"]


async def write_failures(client: TestClient) -> float:
    """Failed batch commits so far, from /metrics (counters live as long as the process)."""
    return metric(await (await client.get("/metrics")).text(), "ot_write_failures_total")


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_failing_database_does_not_make_the_writer_spin_on_drop_counts(
    client: TestClient, settings: Settings, site: Site
) -> None:
    failures_before = await write_failures(client)
    connection = sqlite3.connect(paths.sqlite_path(settings.data_dir))
    connection.execute("ALTER TABLE dropped_hits RENAME TO dropped_elsewhere")
    connection.commit()
    bot = {**HEADERS, "User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    response = await client.post("/api/event", json=event(), headers=bot)
    assert response.status == 202  # a bot is acknowledged; its count waits for the database

    async def tried() -> bool:
        return await write_failures(client) > failures_before

    await eventually(tried, "the writer trying to store the drop count")
    # A correct writer stays at its count however long we look; one in a loop would climb
    # within these few round trips through the event loop the writer shares with the test.
    for _ in range(10):
        failed_batches = await write_failures(client) - failures_before
        assert failed_batches in (1, 2)  # tried once (and once alone), not again and again
        await asyncio.sleep(0.05)
    connection.execute("ALTER TABLE dropped_elsewhere RENAME TO dropped_hits")
    connection.commit()
    connection.close()
    await store_hits(client, [event()])
    dropped = await rows(settings, "SELECT reason, count FROM dropped_hits")
    assert dropped == [{"reason": "bot", "count": 1}]
