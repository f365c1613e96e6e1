"""Rolling one local day of one site from `hit` and `visit` into `rollup_day` rows.

Synchronous on purpose, like `ot.ingest.store`: the job runs it through `run_sync`. Reading
and computing happen outside any write transaction; the write transaction only deletes and
inserts, so the collector's writer (SQLite has one writer at a time) waits milliseconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Dialect

from ot.ingest.hit import PAGEVIEW
from ot.ingest.store import FastStatement
from ot.models import Hit, RollupBitmap, RollupDay, RollupProgress, Visit, VisitorOrdinal
from ot.rollups.bitmaps import union_of, visitors_blob, visits_blob
from ot.rollups.dimensions import HIT_COLUMNS, PAGEVIEW_PAGE, TOTAL, VISIT_COLUMNS

HIT = Hit.__table__  # type: ignore[attr-defined]
VISIT = Visit.__table__  # type: ignore[attr-defined]
ROLLUP = RollupDay.__table__  # type: ignore[attr-defined]
BITMAP = RollupBitmap.__table__  # type: ignore[attr-defined]
ORDINAL = VisitorOrdinal.__table__  # type: ignore[attr-defined]
PROGRESS = RollupProgress.__table__  # type: ignore[attr-defined]
LOOKUP_CHUNK = 900  # ids per IN list: far below every driver's parameter limit

_VISIT_NAMES = list(VISIT_COLUMNS)
_VISIT_FIELDS = [VISIT.c[VISIT_COLUMNS[name]] for name in _VISIT_NAMES]


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and where the next one starts (DST-aware)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start, end


@dataclass
class DayFacts:
    """The columns of one day's hits (with their visits' values) and of its new visits, and
    the day's hits' fingerprint when they were read (see `hits_fingerprint`)."""

    day: date
    hits: dict[str, list[Any]]
    visits: dict[str, list[Any]]
    fingerprint: tuple[int, int] = (0, 0)

    @property
    def visitor_ids(self) -> list[int]:
        """Distinct visitor ids in order of first appearance."""
        return list(dict.fromkeys(self.hits["visitor_id"]))


def read_day(connection: Connection, site_id: int, day: date, zone: ZoneInfo) -> DayFacts:
    start, end = day_bounds(day, zone)
    hit_fields = [HIT.c.visitor_id, HIT.c.visit_id, HIT.c.name]
    hit_fields += [HIT.c[column] for column in HIT_COLUMNS.values()]
    rows = connection.execute(
        select(*hit_fields, *_VISIT_FIELDS, HIT.c.id)
        .select_from(HIT.join(VISIT, VISIT.c.id == HIT.c.visit_id))
        .where(HIT.c.site_id == site_id, HIT.c.timestamp >= start, HIT.c.timestamp < end)
        .order_by(HIT.c.timestamp)
    ).all()
    hit_names = ["visitor_id", "visit_id", "name", *HIT_COLUMNS.values(), *_VISIT_NAMES]
    visit_rows = connection.execute(
        select(
            *_VISIT_FIELDS, VISIT.c.pageviews, VISIT.c.is_bounce, VISIT.c.duration_seconds
        ).where(VISIT.c.site_id == site_id, VISIT.c.started_at >= start, VISIT.c.started_at < end)
    ).all()
    visit_names = [*_VISIT_NAMES, "pageviews", "is_bounce", "duration_seconds"]
    hit_ids = [row[-1] for row in rows]
    return DayFacts(
        day,
        _columns(hit_names, [row[:-1] for row in rows]),
        _columns(visit_names, visit_rows),
        (len(hit_ids), sum(hit_ids)),
    )


def hits_fingerprint(
    connection: Connection, site_id: int, day: date, zone: ZoneInfo
) -> tuple[int, int]:
    """How many hits the day has and the sum of their ids: hits only ever get new, higher ids,
    so any hit added or deleted since the day was read changes it (whatever else changed)."""
    start, end = day_bounds(day, zone)
    found = connection.execute(
        select(func.count(), func.coalesce(func.sum(HIT.c.id), 0)).where(
            HIT.c.site_id == site_id, HIT.c.timestamp >= start, HIT.c.timestamp < end
        )
    ).one()
    return int(found[0]), int(found[1])


def _columns(names: Sequence[str], rows: Sequence[Any]) -> dict[str, list[Any]]:
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def known_ordinals(
    connection: Connection, site_id: int, visitor_ids: Sequence[int]
) -> dict[int, int]:
    """The ordinals `visitor_ids` already have."""
    known: dict[int, int] = {}
    for start in range(0, len(visitor_ids), LOOKUP_CHUNK):
        chunk = visitor_ids[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(ORDINAL.c.visitor_id, ORDINAL.c.ordinal).where(
                ORDINAL.c.site_id == site_id, ORDINAL.c.visitor_id.in_(chunk)
            )
        )
        known.update((row.visitor_id, row.ordinal) for row in rows)
    return known


def next_ordinal(connection: Connection, site_id: int) -> int:
    return int(
        connection.execute(
            select(PROGRESS.c.next_ordinal).where(PROGRESS.c.site_id == site_id)
        ).scalar_one()
    )


@dataclass
class RolledDay:
    """A day's rollup rows, computed outside any write transaction, and the ordinals it
    numbered for visitors new to the rollups (one job runs at a time: see ot.rollups.job)."""

    day: date
    rows: list[dict[str, Any]]
    new_ordinals: dict[int, int]
    next_ordinal: int
    fingerprint: tuple[int, int] = (0, 0)  # of the hits it was rolled from


def roll_day(facts: DayFacts, site_id: int, known: dict[int, int], first_free: int) -> RolledDay:
    new = [visitor for visitor in facts.visitor_ids if visitor not in known]
    numbered = {visitor: first_free + offset for offset, visitor in enumerate(new)}
    rows = day_rows(site_id, facts, {**known, **numbered})
    return RolledDay(facts.day, rows, numbered, first_free + len(new), facts.fingerprint)


def day_rows(site_id: int, facts: DayFacts, ordinals: dict[int, int]) -> list[dict[str, Any]]:
    """The rollup rows of one day: per dimension and value, the hit-side sums and bitmaps and
    the visit-side sums."""
    hits, visits = facts.hits, facts.visits
    count = len(hits["visitor_id"])
    ordinal_column = [ordinals[visitor] for visitor in hits["visitor_id"]]
    visit_column: list[int] = hits["visit_id"]
    is_pageview = [int(name == PAGEVIEW) for name in hits["name"]]
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(dimension: str, value: str) -> dict[str, Any]:
        found = rows.get((dimension, value))
        if found is None:
            found = rows[(dimension, value)] = {
                "site_id": site_id, "dimension": dimension, "span_days": 1, "day": facts.day,
                "value": value, "visitors": 0, "daily_visitors": 0, "visitor_bitmap": b"",
                "visit_bitmap": b"", "pageviews": 0,
                "events": 0, "visits": 0, "visit_pageviews": 0, "bounces": 0,
                "duration_seconds": 0,
            }  # fmt: skip
        return found

    def add_hits(dimension: str, facts: Iterable[tuple[str, int, int, int, int]]) -> None:
        """Hit-side sums from (value, visitor ordinal, visit id, events, pageviews) facts."""
        members: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        events: Counter[str] = Counter()
        pageviews: Counter[str] = Counter()
        for value, ordinal, visit_id, hit_count, pageview_count in facts:
            people, visit_ids = members[value]
            people.append(ordinal)
            visit_ids.append(visit_id)
            events[value] += hit_count
            pageviews[value] += pageview_count
        for value, (people, visit_ids) in members.items():
            target = row(dimension, value)
            target["visitors"] = target["daily_visitors"] = len(set(people))
            target["visitor_bitmap"] = visitors_blob(people)
            target["visit_bitmap"] = visits_blob(visit_ids)
            target["events"] = events[value]
            target["pageviews"] = pageviews[value]

    def per_hit(values: Sequence[str]) -> Iterator[tuple[str, int, int, int, int]]:
        for index, value in enumerate(values):
            yield value, ordinal_column[index], visit_column[index], 1, is_pageview[index]

    # A visit's hits share its visit values: summing them per visit first makes the visit
    # dimensions a loop over visits, not over hits.
    per_visit: dict[int, list[int]] = {}  # visit id -> [ordinal, hits, pageviews, first hit]
    for index, visit_id in enumerate(visit_column):
        entry = per_visit.get(visit_id)
        if entry is None:
            per_visit[visit_id] = [ordinal_column[index], 1, is_pageview[index], index]
        else:
            entry[1] += 1
            entry[2] += is_pageview[index]

    def by_visit(values: Sequence[str]) -> Iterator[tuple[str, int, int, int, int]]:
        for visit_id, (ordinal, hit_count, pageview_count, first) in per_visit.items():
            yield values[first], ordinal, visit_id, hit_count, pageview_count

    def add_visits(dimension: str, values: Iterable[str]) -> None:
        for value, pageviews, bounce, duration in zip(
            values, visits["pageviews"], visits["is_bounce"], visits["duration_seconds"],
            strict=True,
        ):  # fmt: skip
            target = row(dimension, value)
            target["visits"] += 1
            target["visit_pageviews"] += pageviews
            target["bounces"] += 1 if bounce else 0
            target["duration_seconds"] += duration

    add_hits(TOTAL, by_visit([""] * count))
    add_hits(PAGEVIEW_PAGE, (fact for fact in per_hit(hits["pathname"]) if fact[4]))
    for dimension, column in HIT_COLUMNS.items():
        add_hits(dimension, per_hit(hits[column]))
    for dimension in VISIT_COLUMNS:
        add_hits(dimension, by_visit(hits[dimension]))
    add_visits(TOTAL, [""] * len(visits["pageviews"]))
    for dimension in VISIT_COLUMNS:
        add_visits(dimension, visits[dimension])
    return list(rows.values())


def write_day(connection: Connection, site_id: int, rolled: RolledDay) -> int:
    """Replace the day's rollup rows (sums and bitmaps) and record its new ordinals, in the
    caller's write transaction, which only writes; returns how many rows there are now. The
    week the day is in must be written again afterwards (`write_week`)."""
    if rolled.new_ordinals:
        connection.execute(
            insert(ORDINAL),
            [
                {"site_id": site_id, "visitor_id": visitor, "ordinal": ordinal}
                for visitor, ordinal in rolled.new_ordinals.items()
            ],
        )
        connection.execute(
            update(PROGRESS)
            .where(PROGRESS.c.site_id == site_id)
            .values(next_ordinal=rolled.next_ordinal)
        )
    return replace_span(connection, site_id, 1, rolled.day, rolled.rows)


def replace_span(
    connection: Connection, site_id: int, span_days: int, day: date, rows: list[dict[str, Any]]
) -> int:
    _delete_span(connection, site_id, span_days, day)
    if rows:
        for insert_rows in _inserts(connection.dialect):
            insert_rows(connection, rows)
    return len(rows)


def week_of(day: date) -> date:
    """The Monday a week's rows are filed under."""
    return day - timedelta(days=day.weekday())


def week_rows(connection: Connection, site_id: int, monday: date) -> list[dict[str, Any]]:
    """One week's rows: the sums and bitmap unions of its day rows, so that a range reads one
    row per value for each whole week in it. Reads only."""
    sunday = monday + timedelta(days=6)
    in_week = (
        ROLLUP.c.site_id == site_id,
        ROLLUP.c.span_days == 1,
        ROLLUP.c.day >= monday,
        ROLLUP.c.day <= sunday,
    )
    summed = [
        func.sum(ROLLUP.c[name])
        for name in ("visitors", "pageviews", "events", "visits", "visit_pageviews", "bounces",
                     "duration_seconds")
    ]  # fmt: skip
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    statement = select(ROLLUP.c.dimension, ROLLUP.c.value, *summed).where(*in_week)
    for dimension, value, daily, pageviews, events, visits, visit_pageviews, bounces, duration in (
        connection.execute(statement.group_by(ROLLUP.c.dimension, ROLLUP.c.value))
    ):  # fmt: skip
        rows[(dimension, value)] = {
            "site_id": site_id, "dimension": dimension, "span_days": 7, "day": monday,
            "value": value, "visitors": 0, "daily_visitors": int(daily),
            "pageviews": int(pageviews), "events": int(events), "visits": int(visits),
            "visit_pageviews": int(visit_pageviews), "bounces": int(bounces),
            "duration_seconds": int(duration),
        }  # fmt: skip
    people: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    visit_ids: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for dimension, value, visitor_bitmap, visit_bitmap in connection.execute(
        select(
            BITMAP.c.dimension, BITMAP.c.value, BITMAP.c.visitor_bitmap, BITMAP.c.visit_bitmap
        ).where(
            BITMAP.c.site_id == site_id,
            BITMAP.c.span_days == 1,
            BITMAP.c.day >= monday,
            BITMAP.c.day <= sunday,
        )
    ):
        people[(dimension, value)].append(visitor_bitmap)
        visit_ids[(dimension, value)].append(visit_bitmap)
    for key, row in rows.items():
        union = union_of(people[key])
        row["visitors"] = len(union)
        row["visitor_bitmap"] = union.serialize()
        row["visit_bitmap"] = union_of(visit_ids[key], visits=True).serialize()
    return list(rows.values())


def _delete_span(connection: Connection, site_id: int, span_days: int, day: date) -> None:
    for table in (ROLLUP, BITMAP):
        connection.execute(
            delete(table).where(
                table.c.site_id == site_id, table.c.day == day, table.c.span_days == span_days
            )
        )


_compiled: dict[str, list[FastStatement]] = {}


def _inserts(dialect: Dialect) -> list[FastStatement]:
    """The two INSERTs of rollup rows, compiled once per dialect: a year of days writes
    hundreds of thousands of rows, and SQLAlchemy's per-row handling would cost more."""
    if dialect.name not in _compiled:
        _compiled[dialect.name] = [
            FastStatement(
                insert(table).values({c.name: bindparam(c.name, type_=c.type) for c in table.c}),
                dialect,
            )
            for table in (ROLLUP, BITMAP)
        ]
    return _compiled[dialect.name]
