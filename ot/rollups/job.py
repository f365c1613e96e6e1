"""The rollup job: mark the local days that new hits touched, roll them again, and record
through which day each site's rollups are complete.

One run at a time (`ot.rollups.schedule` holds a lock: a file beside SQLite, an advisory lock on
PostgreSQL), because a run numbers new visitors' ordinals outside its write transactions. A run
is safe to interrupt anywhere, since a day stays pending until its rows are written.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from ot.db import read_one_snapshot
from ot.models import RollupPendingDay, Site
from ot.rollups.rolling import (
    BITMAP,
    HIT,
    PROGRESS,
    ROLLUP,
    VISIT,
    RolledDay,
    hits_fingerprint,
    known_ordinals,
    next_ordinal,
    read_day,
    replace_span,
    roll_day,
    week_of,
    week_rows,
    write_day,
)

SITE = Site.__table__  # type: ignore[attr-defined]
PENDING = RollupPendingDay.__table__  # type: ignore[attr-defined]
# Past this many new hits, their days are found by UTC date in SQL (and widened by a day each
# way for any zone) instead of hit by hit: a first run over millions of hits.
EXACT_SCAN_LIMIT = 50_000


@dataclass
class RollupReport:
    sites: int = 0
    days_rolled: int = 0
    rows_written: int = 0
    seconds: float = 0.0


async def run_rollups(
    reader: AsyncEngine,
    writer: AsyncEngine,
    *,
    now: datetime,
    stop: asyncio.Event | None = None,
) -> RollupReport:
    """One run over every site. `writer` takes SQLite's write lock at BEGIN (see ot.db);
    `reader` does not, so reading a day never holds the collector's writer up. Setting `stop`
    ends the run after the day being rolled; what is left stays pending."""
    started = time.perf_counter()
    report = RollupReport()
    async with reader.connect() as connection:
        marks = await connection.run_sync(_find_marks)
    async with writer.begin() as connection:
        pending = await connection.run_sync(_mark_pending, marks)
    zones = marks.zones
    for site_id, zone in zones.items():
        report.sites += 1
        async with reader.connect() as connection:
            first_free = await connection.run_sync(next_ordinal, site_id)
        by_week: dict[date, list[date]] = defaultdict(list)
        for day in sorted(pending.get(site_id, ())):
            by_week[week_of(day)].append(day)
        for monday, days in sorted(by_week.items()):
            rolled: list[RolledDay] = []
            for day in days:
                if stop is not None and stop.is_set():
                    break
                async with reader.connect() as connection:
                    # The day's hits and visits from one snapshot: a visit stored between the
                    # two reads would be a value with visits and no hits (an empty bitmap).
                    await read_one_snapshot(connection)
                    facts = await connection.run_sync(read_day, site_id, day, zone)
                    known = await connection.run_sync(known_ordinals, site_id, facts.visitor_ids)
                day_rolled = roll_day(facts, site_id, known, first_free)
                first_free = day_rolled.next_ordinal
                async with writer.begin() as connection:
                    report.rows_written += await connection.run_sync(write_day, site_id, day_rolled)
                report.days_rolled += 1
                rolled.append(day_rolled)
            # The week after its days, even when stopping: a week row must never lag its days.
            if rolled:
                async with reader.connect() as connection:
                    rows = await connection.run_sync(week_rows, site_id, monday)
                async with writer.begin() as connection:
                    report.rows_written += await connection.run_sync(
                        write_week, site_id, monday, rows, rolled, zone
                    )
            if stop is not None and stop.is_set():
                report.seconds = time.perf_counter() - started
                return report
        async with writer.begin() as connection:
            await connection.run_sync(_record_progress, site_id, zone, now)
    report.seconds = time.perf_counter() - started
    return report


def write_week(
    connection: Connection,
    site_id: int,
    monday: date,
    rows: list[dict[str, Any]],
    rolled: list[RolledDay],
    zone: ZoneInfo,
) -> int:
    """Replace a week's rows and only then say its days are rolled: until this transaction a
    range over the whole week reads the raw tables, never a week row older than its days. A
    day whose hits changed since it was read (an erasure, a late hit) stays marked, so the
    next run rolls it again: that mark may have been made for the change itself."""
    written = replace_span(connection, site_id, 7, monday, rows)
    for day in rolled:
        if hits_fingerprint(connection, site_id, day.day, zone) == day.fingerprint:
            connection.execute(
                delete(PENDING).where(PENDING.c.site_id == site_id, PENDING.c.day == day.day)
            )
    return written


@dataclass
class _Marks:
    """What a run found to do, read without holding any write lock."""

    last_id: int
    zones: dict[int, ZoneInfo]
    restart: dict[int, bool]  # sites rolled again from scratch: True when new to the rollups
    days: dict[int, set[date]]


def _find_marks(connection: Connection) -> _Marks:
    """The days of hits that arrived since the last run, and every day of the sites that are
    new to the rollups or changed time zone. Reads only: a first run scans millions of hits."""
    last_id = connection.execute(select(func.coalesce(func.max(HIT.c.id), 0))).scalar_one()
    zones = {
        row.id: ZoneInfo(row.timezone)
        for row in connection.execute(select(SITE.c.id, SITE.c.timezone))
    }
    progress = {row.site_id: row for row in connection.execute(select(PROGRESS))}
    marks = _Marks(last_id, zones, {}, defaultdict(set))
    scan_from: dict[int, int] = {}
    for site_id, zone in zones.items():
        known = progress.get(site_id)
        if known is not None and known.timezone == str(zone):
            scan_from[site_id] = known.hit_watermark
            continue
        marks.restart[site_id] = known is None
        every_hit = _days_by_utc_date(connection, [site_id], 0, last_id, whole_visits=False)
        marks.days[site_id] |= every_hit[site_id]
    if scan_from:
        low = min(scan_from.values())
        if last_id - low > EXACT_SCAN_LIMIT:
            found = _days_by_utc_date(connection, list(scan_from), low, last_id)
        else:
            found = _days_hit_by_hit(connection, low, last_id, scan_from, zones)
        for site_id, days in found.items():
            marks.days[site_id] |= days
    return marks


def _mark_pending(connection: Connection, marks: _Marks) -> dict[int, set[date]]:
    """Record what `_find_marks` found, in a short write transaction; returns every site's
    pending days. Hits that arrive meanwhile have higher ids: the next run finds them."""
    for site_id, is_new in marks.restart.items():
        # New to the rollups, or rolled in another zone: every day of the site, again.
        for table in (ROLLUP, BITMAP, PENDING):
            connection.execute(delete(table).where(table.c.site_id == site_id))
        zone = str(marks.zones[site_id])
        values = {"timezone": zone, "hit_watermark": marks.last_id, "complete_through": None}
        if is_new:
            connection.execute(insert(PROGRESS).values(site_id=site_id, next_ordinal=0, **values))
        else:
            connection.execute(
                update(PROGRESS).where(PROGRESS.c.site_id == site_id).values(**values)
            )
    rows = [{"site_id": s, "day": d} for s, days in marks.days.items() for d in days]
    if rows:
        dialect_insert = (
            postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        )
        connection.execute(dialect_insert(PENDING).on_conflict_do_nothing(), rows)
    connection.execute(update(PROGRESS).values(hit_watermark=marks.last_id))
    pending: dict[int, set[date]] = defaultdict(set)
    for row in connection.execute(select(PENDING.c.site_id, PENDING.c.day)):
        pending[row.site_id].add(row.day)
    return pending


def _utc_date(connection: Connection, moment: Any) -> ColumnElement[Any]:
    if connection.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", moment))
    return func.substr(moment, 1, 10)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC


def _later(connection: Connection, first: Any, second: Any) -> ColumnElement[Any]:
    """The later of two moments, in SQL (SQLite's two-argument `max` is PostgreSQL's
    `greatest`)."""
    if connection.dialect.name == "postgresql":
        return func.greatest(first, second)
    return func.max(first, second)


def _days_by_utc_date(
    connection: Connection, site_ids: list[int], after_id: int, last_id: int,
    *, whole_visits: bool = True,
) -> dict[int, set[date]]:  # fmt: skip
    """Coarse: a UTC date is the local date or the one before or after in any zone. With
    `whole_visits`, every day a new hit's visit covers is marked (see `_days_hit_by_hit`);
    without, the days of the hits (enough when every hit of a site is new)."""
    source: Any = HIT
    first_date = last_date = _utc_date(connection, HIT.c.timestamp)
    if whole_visits:
        source = HIT.join(VISIT, VISIT.c.id == HIT.c.visit_id)
        first_date = _utc_date(connection, VISIT.c.started_at)
        last_date = _utc_date(connection, _later(connection, VISIT.c.last_seen_at, HIT.c.timestamp))
    rows = connection.execute(
        select(HIT.c.site_id, first_date, last_date)
        .select_from(source)
        .where(HIT.c.id > after_id, HIT.c.id <= last_id, HIT.c.site_id.in_(site_ids))
        .group_by(HIT.c.site_id, first_date, last_date)
    )
    days: dict[int, set[date]] = defaultdict(set)
    for site_id, first, last in rows:
        first_day = (first if isinstance(first, date) else date.fromisoformat(first)) - ONE_DAY
        last_day = (last if isinstance(last, date) else date.fromisoformat(last)) + ONE_DAY
        days[site_id].update(_days_between(first_day, last_day))
    return days


def _days_hit_by_hit(
    connection: Connection, after_id: int, last_id: int, scan_from: dict[int, int],
    zones: dict[int, ZoneInfo],
) -> dict[int, set[date]]:  # fmt: skip
    """Exact: every local day of each new hit's visit, from its start to its last hit. A hit
    changes its own day's sums and its visit's: the visit's start day (visit sums, entry and
    exit pages) and the days of all its hits (their visit dimensions, such as the exit page);
    a hit dated back can even move the visit's start to an earlier day. A visit of a cookie
    site can go on past midnight for as long as its hits keep coming."""
    rows = connection.execute(
        select(HIT.c.id, HIT.c.site_id, HIT.c.timestamp, VISIT.c.started_at, VISIT.c.last_seen_at)
        .select_from(HIT.join(VISIT, VISIT.c.id == HIT.c.visit_id))
        .where(HIT.c.id > after_id, HIT.c.id <= last_id)
    )
    days: dict[int, set[date]] = defaultdict(set)
    for hit_id, site_id, timestamp, started_at, last_seen_at in rows:
        if site_id not in scan_from or hit_id <= scan_from[site_id]:
            continue
        zone = zones[site_id]
        first = min(started_at, timestamp).astimezone(zone).date()
        last = max(last_seen_at, timestamp).astimezone(zone).date()
        days[site_id].update(_days_between(first, last))
    return days


ONE_DAY = timedelta(days=1)


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _record_progress(connection: Connection, site_id: int, zone: ZoneInfo, now: datetime) -> None:
    first_pending = connection.execute(
        select(func.min(PENDING.c.day)).where(PENDING.c.site_id == site_id)
    ).scalar_one()
    today = now.astimezone(zone).date()
    complete = today if first_pending is None else first_pending - timedelta(days=1)
    connection.execute(
        update(PROGRESS)
        .where(PROGRESS.c.site_id == site_id)
        .values(complete_through=complete, rolled_at=now)
    )
