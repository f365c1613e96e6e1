"""Two collectors, one PostgreSQL database: the first step past one machine (docs/scaling.md).

Two `ot serve` processes started on their own, each with a data folder of its own as two hosts
behind a load balancer would have (the keys shared, as a mounted secret would share them), take
the hits of the same visitors in turn. A visitor's hits still make one visit, the stats API
counts each visitor and visit once on either host, and a hit retried at both is stored once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ot import paths
from ot.clock import utcnow
from ot.config import Settings
from ot.db import ROLLUP_LOCK_ID, create_engine
from ot.ingest.visitors import SaltKeeper
from tests.conftest import assert_quiet_log, start_server, stop_server
from tests.stats_support import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, token_for
from tests.support import _admin_dsn, event, make_site, rows

pytestmark = pytest.mark.parametrize("settings", ["postgresql"], indirect=True)

# Same address, browser and site: the same visitor on a cookieless site, whichever host answers.
# Enough of them at once that both hosts' writers have batches to commit at the same moments.
BROWSERS = (FIREFOX_LINUX, CHROME_WINDOWS, SAFARI_IPHONE)
VISITORS = {
    f"visitor-{number}": (f"198.51.100.{number}", BROWSERS[number % len(BROWSERS)])
    for number in range(1, 21)
}
PAGES_PER_VISITOR = 6


@dataclass
class Host:
    """One `ot serve` as a host of its own would run it."""

    base_url: str
    log_path: Path


@pytest.fixture
def two_hosts(settings: Settings, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    """Two independent `ot serve` processes on two ports, each with a data folder of its own,
    sharing the PostgreSQL database and, as docs/scaling.md asks, the keys: the secrets file
    (encrypted IPs and visitor ids read alike on every host) and the audit signing key."""
    shared = {
        "OT_SECRETS_FILE": str(paths.secrets_path(settings.data_dir)),
        "OT_AUDIT__SIGNING_KEY_FILE": str(paths.audit_signing_key_path(settings.data_dir)),
    }
    started: list[tuple[Any, Host]] = []
    try:
        for name in ("host-a", "host-b"):
            data_dir = tmp_path / name
            data_dir.mkdir(mode=0o700)
            log_path = tmp_path / f"{name}.log"
            process, base_url, _ = start_server(
                settings,
                log_path,
                extra_env={"OT_DATA_DIR": str(data_dir), **shared},
            )
            started.append((process, Host(base_url, log_path)))
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            stop_server(process)
    for _, host in started:
        assert_quiet_log(host.log_path)


def wait_past_midnight_if_close() -> None:
    """A cookieless visitor id changes with the UTC day (its salt does): hits sent across
    midnight are rightly two visitors. Close to midnight, wait until the day has turned."""
    now = utcnow()
    next_midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    if next_midnight - now < timedelta(minutes=2):
        while utcnow() < next_midnight:
            time.sleep(0.5)


async def send(
    session: aiohttp.ClientSession, host: Host, visitor: str, body: dict[str, Any]
) -> None:
    ip, user_agent = VISITORS[visitor]
    headers = {"User-Agent": user_agent, "X-Forwarded-For": ip}
    async with session.post(f"{host.base_url}/api/event", json=body, headers=headers) as answer:
        assert answer.status == 202, await answer.text()


async def visit_both_hosts(
    session: aiohttp.ClientSession, hosts: tuple[Host, Host], visitor: str
) -> None:
    """The visitor's pageviews two at a time, one to each host at once; then a signup whose
    tracker, unsure it got through, sends it with the same event id to both hosts at once."""
    for number in range(0, PAGES_PER_VISITOR, 2):
        await asyncio.gather(
            *(
                send(session, host, visitor, event(url=f"https://shop.example/p/{number + turn}"))
                for turn, host in enumerate(hosts)
            )
        )
    signup = event("Signup", url="https://shop.example/signup", eid=f"signup-of-{visitor}")
    await asyncio.gather(*(send(session, host, visitor, signup) for host in hosts))


async def stats_of(session: aiohttp.ClientSession, host: Host, token: str, day: date) -> Any:
    body = {
        "site_id": "shop.example",
        "metrics": ["visitors", "visits", "pageviews", "events", "views_per_visit"],
        "date_range": [day.isoformat(), day.isoformat()],
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{host.base_url}/api/v2/query", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        return (await answer.json())["results"]


async def test_two_collectors_on_one_database_keep_each_visitor_in_one_visit_and_each_event_once(
    settings: Settings, two_hosts: tuple[Host, Host]
) -> None:
    site = await make_site(settings)
    token = await token_for(settings, site.account_id)
    wait_past_midnight_if_close()
    day = utcnow().date()
    async with aiohttp.ClientSession() as session:
        # Every answer is a 202 sent after the commit: nothing is left to wait for.
        await asyncio.gather(*(visit_both_hosts(session, two_hosts, v) for v in VISITORS))
        answers = [await stats_of(session, host, token, day) for host in two_hosts]

    hits = await rows(settings, "SELECT visitor_id, visit_id, name, event_id FROM hit")
    signups = [hit for hit in hits if hit["name"] == "Signup"]
    assert sorted(hit["event_id"] for hit in signups) == sorted(
        f"signup-of-{visitor}" for visitor in VISITORS
    ), "an event id sent to both hosts is stored once"
    assert len(hits) == len(VISITORS) * (PAGES_PER_VISITOR + 1)
    visits_of: dict[int, set[int]] = {}
    for hit in hits:
        visits_of.setdefault(hit["visitor_id"], set()).add(hit["visit_id"])
    assert len(visits_of) == len(VISITORS), "each visitor is known by one id on both hosts"
    assert all(len(visits) == 1 for visits in visits_of.values()), visits_of
    visits = await rows(settings, "SELECT visitor_id, pageviews, events FROM visit")
    assert sorted((visit["pageviews"], visit["events"]) for visit in visits) == [
        (PAGES_PER_VISITOR, 1)
    ] * len(VISITORS)

    people, per_visit = len(VISITORS), PAGES_PER_VISITOR
    pageviews = people * per_visit
    # visitors, visits, pageviews, events (pageviews and signups), pageviews per visit
    totals = [people, people, pageviews, pageviews + people, per_visit]
    expected = [{"metrics": totals, "dimensions": []}]
    assert answers == [expected, expected], "both hosts count each visitor and visit once"


async def test_a_collector_makes_the_days_salt_while_a_rollup_run_holds_its_lock(
    settings: Settings,
) -> None:
    """Every host's first hit of a day (and of its start) makes or reads the day's salt under a
    lock; a rollup run on any host, however long, must not hold it up."""
    rollup_run = await asyncpg.connect(_admin_dsn(settings.database_url))
    engine = create_engine(settings, for_writes=True)
    try:
        await rollup_run.execute("SELECT pg_advisory_lock($1)", ROLLUP_LOCK_ID)
        # A safety net, not a speed requirement: held up, it would wait for the rollup run.
        salt = await asyncio.wait_for(SaltKeeper(engine).salt_for(utcnow()), timeout=60)
        assert len(salt) == 32
    finally:
        await engine.dispose()
        await rollup_run.close()
