"""Rollups: per-day sums with exact uniques, kept by a job, equal to what the raw tables say."""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from ot.admin.cli import app as admin
from ot.config import Settings, load_settings
from ot.db import ROLLUP_LOCK_ID, read_one_snapshot
from ot.ingest.hit import PAGEVIEW
from ot.models import Site
from ot.privacy import VisitorMode
from ot.rollups.dimensions import HIT_COLUMNS, PAGEVIEW_PAGE, TOTAL, VISIT_COLUMNS
from ot.rollups.job import write_week
from ot.rollups.read import MAX_RUNS, Spans, Sums, complete_through, current_through, read_sums
from ot.rollups.rolling import (
    known_ordinals,
    next_ordinal,
    read_day,
    roll_day,
    week_of,
    week_rows,
    write_day,
)
from ot.rollups.schedule import LOCK_FILE
from tests import support
from tests.conftest import assert_quiet_log, start_server, stop_server
from tests.generated_hits import (
    AFTER,
    DAYS,
    ZONE,
    Engines,
    hit,
    roll,
    store,
    traffic,
)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


async def expected(
    settings: Settings, site: Site, dimension: str, first: date, last: date
) -> dict[str, Sums]:
    """What the raw tables say, computed here in Python from the rows themselves."""
    zone = ZoneInfo(site.timezone)
    hit_rows = await support.rows(
        settings,
        "SELECT h.*, v.entry_page, v.exit_page, v.referrer_source AS visit_source, "
        "v.referrer AS visit_referrer, v.utm_source AS v_utm_source, "
        "v.utm_medium AS v_utm_medium, v.utm_campaign AS v_utm_campaign, "
        "v.utm_content AS v_utm_content, v.utm_term AS v_utm_term, v.country AS v_country, "
        "v.region AS v_region, v.city AS v_city, v.browser AS v_browser, "
        "v.browser_version AS v_browser_version, v.os AS v_os, v.os_version AS v_os_version, "
        "v.device AS v_device FROM hit h JOIN visit v ON v.id = h.visit_id WHERE h.site_id = :s",
        s=site.id,
    )
    visit_rows = await support.rows(settings, "SELECT * FROM visit WHERE site_id = :s", s=site.id)

    def visit_value(row: dict[str, Any], prefix: str) -> str:
        column = VISIT_COLUMNS[dimension]
        if column in ("entry_page", "exit_page"):
            return str(row[column])
        if prefix:
            return str(
                row[
                    "visit_source"
                    if column == "referrer_source"
                    else "visit_referrer"
                    if column == "referrer"
                    else f"v_{column}"
                ]
            )
        return str(row[column])  # fmt: skip

    sums: dict[str, Sums] = {}
    people: dict[str, set[int]] = defaultdict(set)
    visits: dict[str, set[int]] = defaultdict(set)
    for row in hit_rows:
        if not first <= _utc(row["timestamp"]).astimezone(zone).date() <= last:
            continue
        if dimension == TOTAL:
            value = ""
        elif dimension == PAGEVIEW_PAGE:
            if row["name"] != PAGEVIEW:
                continue
            value = row["pathname"]
        elif dimension in HIT_COLUMNS:
            value = row[HIT_COLUMNS[dimension]]
        else:
            value = visit_value(row, "v_")
        target = sums.setdefault(value, Sums())
        people[value].add(row["visitor_id"])
        visits[value].add(row["visit_id"])
        target.events += 1
        target.pageviews += row["name"] == PAGEVIEW
    for value, target in sums.items():
        target.visitors, target.hit_visits = len(people[value]), len(visits[value])
    if dimension in HIT_COLUMNS or dimension == PAGEVIEW_PAGE:
        return sums
    for row in visit_rows:
        if not first <= _utc(row["started_at"]).astimezone(zone).date() <= last:
            continue
        value = "" if dimension == TOTAL else visit_value(row, "")
        target = sums.setdefault(value, Sums())
        target.visits += 1
        target.visit_pageviews += row["pageviews"]
        target.bounces += bool(row["is_bounce"])
        target.duration += row["duration_seconds"]
    return sums


def comparable(sums: dict[str, Sums]) -> dict[str, tuple[int, ...]]:
    return {
        value: (
            s.visitors,
            s.hit_visits,
            s.pageviews,
            s.events,
            s.visits,
            s.visit_pageviews,
            s.bounces,
            s.duration,
        )
        for value, s in sums.items()
    }


async def rolled(
    engines: Engines, site: Site, dimension: str, first: date, last: date, **options: Any
) -> dict[str, Sums]:
    async with engines.reader.connect() as connection:
        found, total = await read_sums(
            connection, site.id or 0, dimension, first, last, exact_visits=True, **options
        )
    assert total >= len(found)
    return {value: sums for (_, value), sums in found.items()}


ALL_DIMENSIONS = [TOTAL, PAGEVIEW_PAGE, *HIT_COLUMNS, *VISIT_COLUMNS]


@pytest.mark.parametrize(
    "first, last", [(DAYS[0], DAYS[0]), (DAYS[1], DAYS[1]), (DAYS[0], DAYS[-1])]
)
async def test_every_rolled_dimension_equals_the_raw_tables_over_days_and_ranges(
    settings: Settings, engines: Engines, cookie_site: Site, first: date, last: date
) -> None:
    await store(engines, traffic(cookie_site.id or 0))
    await roll(engines)
    for dimension in ALL_DIMENSIONS:
        want = await expected(settings, cookie_site, dimension, first, last)
        got = await rolled(engines, cookie_site, dimension, first, last)
        assert comparable(got) == comparable(want), dimension


async def test_uniques_over_several_days_count_each_visitor_once(
    engines: Engines, cookie_site: Site
) -> None:
    zone = ZoneInfo(ZONE)
    site_id = cookie_site.id or 0
    # The same three visitors every day: 9 daily uniques, 3 people.
    await store(engines, [
        hit(site_id, visitor, datetime(d.year, d.month, d.day, 12, tzinfo=zone), "/")
        for d in DAYS for visitor in (1, 2, 3)
    ])  # fmt: skip
    await roll(engines)
    total = (await rolled(engines, cookie_site, TOTAL, DAYS[0], DAYS[-1]))[""]
    assert (total.visitors, total.daily_visitors, total.pageviews) == (3, 9, 9)


async def test_the_top_rows_by_visitors_are_exact_even_when_daily_sums_mislead(
    engines: Engines, cookie_site: Site
) -> None:
    zone = ZoneInfo(ZONE)
    site_id = cookie_site.id or 0
    hits = []
    for number, day in enumerate(DAYS):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
        # /loyal: the same 10 people each day (daily sums 30, exact 10).
        hits += [hit(site_id, visitor, noon, "/loyal") for visitor in range(1, 11)]
        # /new: 8 new people each day (daily sums 24, exact 24).
        hits += [hit(site_id, 100 + 8 * number + i, noon, "/new") for i in range(8)]
        # Ten small pages with one visitor each.
        hits += [hit(site_id, 500 + i, noon, f"/small/{i}") for i in range(10)]
    await store(engines, sorted(hits, key=lambda h: h.timestamp))
    await roll(engines)
    top = await rolled(engines, cookie_site, "event:page", DAYS[0], DAYS[-1], top=1)
    best = max(top, key=lambda value: top[value].visitors)
    assert (best, top[best].visitors) == ("/new", 24)
    assert top["/loyal"].visitors == 10  # resolved, since its bound (30) beat 24
    async with engines.reader.connect() as connection:
        _, total = await read_sums(connection, site_id, "event:page", DAYS[0], DAYS[-1], top=1)
    assert total == 12


async def test_a_top_list_needing_more_candidates_than_the_first_page_fetches_more(
    engines: Engines, cookie_site: Site
) -> None:
    zone = ZoneInfo(ZONE)
    site_id = cookie_site.id or 0
    hits = []
    for number, day in enumerate(DAYS):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
        # Twelve pages seen by the same 10 people each day: bound 30 each, exact 10. Each must
        # be resolved before /new (bound and exact 24) is known to be first: more candidates
        # than the database hands over at first for a top 1.
        hits += [hit(site_id, visitor, noon, f"/loyal/{page}")
                 for page in range(12) for visitor in range(1, 11)]  # fmt: skip
        hits += [hit(site_id, 100 + 8 * number + i, noon, "/new") for i in range(8)]
    await store(engines, sorted(hits, key=lambda h: h.timestamp))
    await roll(engines)
    every = await rolled(engines, cookie_site, "event:page", DAYS[0], DAYS[-1])
    top = await rolled(engines, cookie_site, "event:page", DAYS[0], DAYS[-1], top=1)
    assert max(top, key=lambda value: (top[value].visitors, value)) == "/new"
    assert len(top) > 4  # more than the first page of candidates (3 per key asked + 1)
    assert comparable(top) == {value: comparable(every)[value] for value in top}
    async with engines.reader.connect() as connection:
        chosen, total = await read_sums(
            connection, site_id, "event:page", DAYS[0], DAYS[-1], top=1,
            values={"/new", "/loyal/3"},
        )  # fmt: skip
    assert (sorted(value for _, value in chosen), total) == (["/loyal/3", "/new"], 2)


async def test_a_late_hit_makes_its_day_pending_and_the_next_run_rolls_it_again(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    site_id = cookie_site.id or 0
    await store(engines, traffic(site_id))
    await roll(engines)
    zone = ZoneInfo(ZONE)
    backdated = hit(site_id, 777, datetime(2026, 3, 28, 9, tzinfo=zone), "/late")
    await store(engines, [backdated])
    before = await rolled(engines, cookie_site, "event:page", DAYS[0], DAYS[0])
    assert "/late" not in before  # rollups lag the raw tables until the next run
    await roll(engines)
    after = await rolled(engines, cookie_site, "event:page", DAYS[0], DAYS[0])
    want = await expected(settings, cookie_site, "event:page", DAYS[0], DAYS[0])
    assert comparable(after) == comparable(want)
    assert after["/late"].visitors == 1


async def test_a_hit_going_on_with_a_visit_begun_the_day_before_rolls_that_day_again_too(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    # A cookie visit goes on past midnight as long as its hits keep coming: its last page
    # (the exit page of its hits on the first day too) changes with a hit an hour later.
    site_id = cookie_site.id or 0
    zone = ZoneInfo(ZONE)
    start = datetime(2026, 3, 28, 23, 40, tzinfo=zone)
    await store(engines, [hit(site_id, 5, start + timedelta(minutes=20 * n), f"/p{n}")
                          for n in range(4)])  # fmt: skip
    await roll(engines)
    await store(engines, [hit(site_id, 5, start + timedelta(minutes=80), "/bye")])  # 01:00
    await roll(engines, AFTER + timedelta(minutes=1))
    for dimension in ("visit:exit_page", TOTAL):
        want = await expected(settings, cookie_site, dimension, DAYS[0], DAYS[0])
        got = await rolled(engines, cookie_site, dimension, DAYS[0], DAYS[0])
        assert comparable(got) == comparable(want), dimension
    exits = await rolled(engines, cookie_site, "visit:exit_page", DAYS[0], DAYS[0])
    assert set(exits) == {"/bye"}


async def test_a_day_whose_hits_change_while_it_is_rolled_stays_pending_for_the_next_run(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    # An erasure (or a late hit) between reading a day and finishing its week must not lose
    # the day's mark: the rolled rows predate the change.
    site_id = cookie_site.id or 0
    zone = ZoneInfo(ZONE)
    await store(engines, traffic(site_id))
    await roll(engines)
    day = DAYS[0]
    async with engines.writer.begin() as connection:
        await connection.execute(
            text("INSERT INTO rollup_pending_day (site_id, day) VALUES (:s, :d)"),
            {"s": site_id, "d": day},
        )
    async with engines.reader.connect() as connection:
        facts = await connection.run_sync(read_day, site_id, day, zone)
        known = await connection.run_sync(known_ordinals, site_id, facts.visitor_ids)
        first_free = await connection.run_sync(next_ordinal, site_id)
    rolled_day = roll_day(facts, site_id, known, first_free)
    async with engines.writer.begin() as connection:
        await connection.run_sync(write_day, site_id, rolled_day)
        # Meanwhile an erasure deletes one of the day's hits and marks the day (already marked).
        await connection.execute(
            text("DELETE FROM hit WHERE id = (SELECT min(id) FROM hit WHERE site_id = :s "
                 "AND timestamp >= :start AND timestamp < :end)"),
            {"s": site_id, "start": _utc_text(day, zone, settings),
             "end": _utc_text(day + timedelta(days=1), zone, settings)},
        )  # fmt: skip
    monday = week_of(day)
    async with engines.reader.connect() as connection:
        rows = await connection.run_sync(week_rows, site_id, monday)
    async with engines.writer.begin() as connection:
        await connection.run_sync(write_week, site_id, monday, rows, [rolled_day], zone)
    pending = await support.rows(settings, "SELECT day FROM rollup_pending_day")
    assert [str(row["day"]) for row in pending] == [day.isoformat()]
    await roll(engines, AFTER + timedelta(minutes=1))
    assert await support.rows(settings, "SELECT day FROM rollup_pending_day") == []
    for dimension in (TOTAL, "event:page"):
        want = await expected(settings, cookie_site, dimension, day, day)
        got = await rolled(engines, cookie_site, dimension, day, day)
        assert comparable(got) == comparable(want), dimension


async def test_a_value_with_visits_and_no_hits_rolls_into_its_week_and_reads(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    """Rows rolled when the day's hits and visits were read apart (PostgreSQL's READ COMMITTED,
    before the job read one snapshot) can hold a value with visits and no hits: its bitmaps are
    empty, and the week and the dashboards still read them."""
    site_id = cookie_site.id or 0
    zone = ZoneInfo(ZONE)
    await store(engines, traffic(site_id))
    await roll(engines)
    day = DAYS[0]
    async with engines.reader.connect() as connection:
        facts = await connection.run_sync(read_day, site_id, day, zone)
        known = await connection.run_sync(known_ordinals, site_id, facts.visitor_ids)
        first_free = await connection.run_sync(next_ordinal, site_id)
    for name, values in facts.visits.items():  # one more visit, of a page no hit shows
        values.append("/only-in-visits" if name == "visit:exit_page" else values[0])
    rolled_day = roll_day(facts, site_id, known, first_free)
    monday = week_of(day)
    async with engines.writer.begin() as connection:
        await connection.run_sync(write_day, site_id, rolled_day)
    async with engines.reader.connect() as connection:
        rows = await connection.run_sync(week_rows, site_id, monday)
    async with engines.writer.begin() as connection:
        await connection.run_sync(write_week, site_id, monday, rows, [rolled_day], zone)
    week = await rolled(engines, cookie_site, "visit:exit_page", monday, monday + timedelta(6))
    assert (week["/only-in-visits"].visits, week["/only-in-visits"].visitors) == (1, 0)


async def test_the_rollup_job_reads_a_day_from_one_snapshot(engines: Engines) -> None:
    async with engines.reader.connect() as connection:
        await read_one_snapshot(connection)
        if connection.dialect.name == "postgresql":
            level = (await connection.execute(text("SHOW transaction_isolation"))).scalar()
            assert level == "repeatable read"
        else:  # SQLite: a read transaction holds one WAL snapshot from its first read
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


def _utc_text(day: date, zone: ZoneInfo, settings: Settings) -> Any:
    """A local midnight as the database compares it with a hit's time."""
    moment = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    if settings.database_url.startswith("postgresql"):
        return moment
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_rollups_are_current_through_the_day_before_their_first_change() -> None:
    zone = ZoneInfo("America/New_York")
    today = date(2026, 11, 10)
    current = {"first_pending": None, "first_changed": None, "zone": zone, "today": today}
    # Complete through today and nothing since: every day, and the days ahead (no hits there).
    assert current_through(today, **current) == date.max
    assert current_through(date(2026, 11, 1), **current) == date(2026, 11, 1)
    assert current_through(None, **current) is None
    # A day marked to roll again, or a visit changed by a hit that came after the last run
    # (its start in the site's zone: 03:30 UTC is the evening before in New York).
    marked = {**current, "first_pending": date(2026, 11, 4)}
    assert current_through(today, **marked) == date(2026, 11, 3)
    changed = {**current, "first_changed": datetime(2026, 11, 10, 3, 30, tzinfo=UTC)}
    assert current_through(today, **changed) == date(2026, 11, 8)
    both = {**marked, "first_changed": datetime(2026, 11, 10, 12, tzinfo=UTC)}
    assert current_through(today, **both) == date(2026, 11, 3)


async def test_complete_through_is_today_after_a_run_and_unknown_before(
    engines: Engines, cookie_site: Site
) -> None:
    async with engines.reader.connect() as connection:
        assert await complete_through(connection, cookie_site) is None
    await store(engines, traffic(cookie_site.id or 0))
    await roll(engines)
    async with engines.reader.connect() as connection:
        assert (
            await complete_through(connection, cookie_site)
            == AFTER.astimezone(ZoneInfo(ZONE)).date()
        )


async def test_a_site_that_changes_time_zone_is_rolled_again_in_its_new_zone(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    await store(engines, traffic(cookie_site.id or 0))
    await roll(engines)
    async with engines.writer.begin() as connection:
        await connection.execute(
            text("UPDATE site SET timezone = 'America/New_York' WHERE id = :s"),
            {"s": cookie_site.id},
        )
    cookie_site.timezone = "America/New_York"
    async with engines.reader.connect() as connection:
        assert await complete_through(connection, cookie_site) is None  # raw until rolled again
    await roll(engines)
    for dimension in (TOTAL, "event:page", "visit:source"):
        want = await expected(settings, cookie_site, dimension, DAYS[0], DAYS[1])
        got = await rolled(engines, cookie_site, dimension, DAYS[0], DAYS[1])
        assert comparable(got) == comparable(want), dimension


async def test_ot_admin_rollups_run_rolls_what_is_pending_and_then_nothing(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    await store(engines, traffic(cookie_site.id or 0))
    runner = CliRunner()
    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}
    first = await asyncio.to_thread(runner.invoke, admin, ["rollups", "run"], env=environment)
    assert first.exit_code == 0, first.output
    assert re.match(r"rolled up \d+ days? of 1 site \(\d+ rows?\)", first.output)
    assert "rolled up 0 days" not in first.output
    again = await asyncio.to_thread(runner.invoke, admin, ["rollups", "run"], env=environment)
    assert again.exit_code == 0, again.output
    assert again.output.startswith("rolled up 0 days of 1 site")


def test_ot_serve_keeps_the_rollups_up_to_date_in_a_process_of_its_own(
    tmp_path: Path, databases: support.DatabaseFactory
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(
        support.make_site(settings, timezone=ZONE, visitor_mode=VisitorMode.COOKIE)
    )
    log_path = tmp_path / "server.log"
    process, base_url, _ = start_server(
        settings, log_path, extra_env={"OT_ROLLUPS__INTERVAL_SECONDS": "0.2"}
    )
    try:
        children = _spawned_children(process.pid)
        assert len(children) == 1, "one rollup process beside the server"
        body = json.dumps({"n": "pageview", "u": "https://shop.example/rolled", "d": site.domain})
        request = urllib.request.Request(
            f"{base_url}/api/event", data=body.encode(),
            headers={"User-Agent": support.CHROME_USER_AGENT, "Content-Type": "text/plain"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 202
        deadline = time.monotonic() + 60  # ends as soon as the rollup is there
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not found:
            found = support.run_sync(
                support.rows(
                    settings,
                    "SELECT value, pageviews FROM rollup_day "
                    "WHERE dimension = 'event:page' AND span_days = 1",
                )
            )
            time.sleep(0.1)
        assert found == [{"value": "/rolled", "pageviews": 1}]
    finally:
        stop_server(process)
    assert process.returncode == 0
    assert not any(_alive(child) for child in children), "the rollup process stopped too"
    assert_quiet_log(log_path)


def _spawned_children(pid: int) -> list[int]:
    """Child processes started by multiprocessing's spawn (not its resource tracker)."""
    deadline = time.monotonic() + 60  # a long wait only on a machine busy with parallel tests
    while time.monotonic() < deadline:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        spawned = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        if spawned:
            return spawned
        time.sleep(0.05)
    return []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def test_a_range_reads_its_whole_weeks_from_week_rows_and_the_rest_from_days(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    site_id = cookie_site.id or 0
    days = [date(2026, 3, 2) + timedelta(days=n) for n in range(21)]  # Mon 2 March to Sun 22
    await store(engines, traffic(site_id, seed=9, days=days, visitors=6))
    await roll(engines)
    first, last = date(2026, 3, 4), date(2026, 3, 20)  # Wed to Fri: one whole week inside
    before = (await rolled(engines, cookie_site, TOTAL, first, last))[""]
    assert comparable({"": before}) == comparable(
        await expected(settings, cookie_site, TOTAL, first, last)
    )
    async with engines.writer.begin() as connection:
        marked = await connection.execute(
            text(
                "UPDATE rollup_day SET pageviews = pageviews + 1000 "
                "WHERE span_days = 7 AND dimension = '' AND day = :monday"
            ),
            {"monday": date(2026, 3, 9)},
        )
    assert marked.rowcount == 1
    after = (await rolled(engines, cookie_site, TOTAL, first, last))[""]
    assert after.pageviews == before.pageviews + 1000  # the week row was read, not its days


async def test_a_second_rollup_run_at_the_same_time_does_nothing_and_says_so(
    settings: Settings, engines: Engines, cookie_site: Site
) -> None:
    await store(engines, traffic(cookie_site.id or 0))
    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}
    async with engines.reader.connect() as connection:
        holder = await _hold_rollup_lock(settings, connection)
        try:
            busy = await asyncio.to_thread(
                CliRunner().invoke, admin, ["rollups", "run"], env=environment
            )
        finally:
            await holder()
    assert busy.exit_code == 1, busy.output
    assert "another process is rolling up right now" in busy.output
    assert await support.rows(settings, "SELECT * FROM rollup_day") == []


async def _hold_rollup_lock(settings: Settings, connection: Any) -> Any:
    """Take the lock a rollup run takes (a file on SQLite, an advisory lock on PostgreSQL)."""
    if connection.dialect.name == "sqlite":
        lock = open(settings.data_dir / LOCK_FILE, "a")  # noqa: SIM115 - released below
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

        async def release_file() -> None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

        return release_file
    await connection.execute(text(f"SELECT pg_advisory_lock({ROLLUP_LOCK_ID})"))

    async def release_advisory() -> None:
        await connection.execute(text(f"SELECT pg_advisory_unlock({ROLLUP_LOCK_ID})"))

    return release_advisory


def test_the_rollup_process_stops_when_its_server_is_killed_outright(
    tmp_path: Path, databases: support.DatabaseFactory
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    support.run_sync(support.make_site(settings))
    process, _, _ = start_server(
        settings, tmp_path / "server.log", extra_env={"OT_ROLLUPS__INTERVAL_SECONDS": "0.2"}
    )
    [rollups] = _spawned_children(process.pid)
    process.kill()
    process.wait()
    # The orphan notices within half a second once running, but on a machine busy with parallel
    # tests it may still be importing its modules (seconds of CPU) when its server is killed.
    deadline = time.monotonic() + 60
    while _alive(rollups) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(rollups), "the rollup process outlived its server"


@given(
    first=st.dates(date(1970, 1, 1), date(2999, 1, 1)),
    length=st.integers(0, 4000),
    monthly=st.booleans(),
)
def test_a_range_is_read_as_spans_covering_each_of_its_days_once_in_few_statements(
    first: date, length: int, monthly: bool
) -> None:
    last = first + timedelta(days=length)
    bucket_of = (lambda day: f"{day.year}-{day.month:02}") if monthly else None
    spans = Spans.of(first, last, bucket_of)
    covered: list[date] = []
    for span, start, end in spans.runs:
        while start <= end:
            days = [start + timedelta(days=n) for n in range(span)]
            if bucket_of is not None:
                assert len({bucket_of(day) for day in days}) == 1  # a span is in one bucket
            covered += days
            start += timedelta(days=span)
    assert sorted(covered) == [first + timedelta(days=n) for n in range(length + 1)]
    # One SELECT per run, joined into one compound SELECT: SQLite allows 500 terms.
    assert len(spans.runs) <= MAX_RUNS
