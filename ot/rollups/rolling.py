"""Rolling one local day of one site from `hit` and `visit` into `rollup_day` rows.

Synchronous on purpose, like `ot.ingest.store`: the job runs it through `run_sync`. Reading the
day and writing its rows happen in two transactions, so that the collector's writer never waits
for the reading (SQLite has one writer at a time).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection, Dialect

from ot.ingest.hit import PAGEVIEW
from ot.ingest.store import FastStatement
from ot.models import Hit, RollupBitmap, RollupDay, RollupProgress, Visit, VisitorOrdinal
from ot.rollups.bitmaps import visitors_blob, visits_blob
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
    """The columns of one day's hits (with their visits' values) and of its new visits."""

    day: date
    hits: dict[str, list[Any]]
    visits: dict[str, list[Any]]

    @property
    def visitor_ids(self) -> list[int]:
        """Distinct visitor ids in order of first appearance."""
        return list(dict.fromkeys(self.hits["visitor_id"]))


def read_day(connection: Connection, site_id: int, day: date, zone: ZoneInfo) -> DayFacts:
    start, end = day_bounds(day, zone)
    hit_fields = [HIT.c.visitor_id, HIT.c.visit_id, HIT.c.name]
    hit_fields += [HIT.c[column] for column in HIT_COLUMNS.values()]
    rows = connection.execute(
        select(*hit_fields, *_VISIT_FIELDS)
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
    return DayFacts(day, _columns(hit_names, rows), _columns(visit_names, visit_rows))


def _columns(names: Sequence[str], rows: Sequence[Any]) -> dict[str, list[Any]]:
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def ordinals_for(
    connection: Connection, site_id: int, visitor_ids: Sequence[int]
) -> dict[int, int]:
    """The ordinals of `visitor_ids`, numbering the new ones after the site's last; call it
    inside the transaction that writes the rows, which serialises numbering."""
    known: dict[int, int] = {}
    for start in range(0, len(visitor_ids), LOOKUP_CHUNK):
        chunk = visitor_ids[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(ORDINAL.c.visitor_id, ORDINAL.c.ordinal).where(
                ORDINAL.c.site_id == site_id, ORDINAL.c.visitor_id.in_(chunk)
            )
        )
        known.update((row.visitor_id, row.ordinal) for row in rows)
    new = [visitor for visitor in visitor_ids if visitor not in known]
    if new:
        first = connection.execute(
            select(PROGRESS.c.next_ordinal).where(PROGRESS.c.site_id == site_id)
        ).scalar_one()
        numbered = {visitor: first + offset for offset, visitor in enumerate(new)}
        connection.execute(
            insert(ORDINAL),
            [{"site_id": site_id, "visitor_id": v, "ordinal": n} for v, n in numbered.items()],
        )
        connection.execute(
            update(PROGRESS)
            .where(PROGRESS.c.site_id == site_id)
            .values(next_ordinal=first + len(new))
        )
        known.update(numbered)
    return known


def day_rows(site_id: int, facts: DayFacts, ordinals: dict[int, int]) -> list[dict[str, Any]]:
    """The rollup rows of one day: per dimension and value, the hit-side sums and bitmaps and
    the visit-side sums."""
    hits, visits = facts.hits, facts.visits
    count = len(hits["visitor_id"])
    ordinal_column = [ordinals[visitor] for visitor in hits["visitor_id"]]
    is_pageview = [name == PAGEVIEW for name in hits["name"]]
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(dimension: str, value: str) -> dict[str, Any]:
        found = rows.get((dimension, value))
        if found is None:
            found = rows[(dimension, value)] = {
                "site_id": site_id, "dimension": dimension, "day": facts.day, "value": value,
                "visitors": 0, "visitor_bitmap": b"", "visit_bitmap": b"", "pageviews": 0,
                "events": 0, "visits": 0, "visit_pageviews": 0, "bounces": 0,
                "duration_seconds": 0,
            }  # fmt: skip
        return found

    def add_hits(dimension: str, values: Iterable[str], keep: Sequence[bool] | None = None) -> None:
        members: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        events: Counter[str] = Counter()
        pageviews: Counter[str] = Counter()
        for index, value in enumerate(values):
            if keep is not None and not keep[index]:
                continue
            people, visit_ids = members[value]
            people.append(ordinal_column[index])
            visit_ids.append(hits["visit_id"][index])
            events[value] += 1
            if is_pageview[index]:
                pageviews[value] += 1
        for value, (people, visit_ids) in members.items():
            target = row(dimension, value)
            target["visitors"] = len(set(people))
            target["visitor_bitmap"] = visitors_blob(people)
            target["visit_bitmap"] = visits_blob(visit_ids)
            target["events"] = events[value]
            target["pageviews"] = pageviews[value]

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

    add_hits(TOTAL, [""] * count)
    add_hits(PAGEVIEW_PAGE, hits["pathname"], keep=is_pageview)
    for dimension, column in HIT_COLUMNS.items():
        add_hits(dimension, hits[column])
    for dimension in VISIT_COLUMNS:
        add_hits(dimension, hits[dimension])
    add_visits(TOTAL, [""] * len(visits["pageviews"]))
    for dimension in VISIT_COLUMNS:
        add_visits(dimension, visits[dimension])
    return list(rows.values())


def write_day(connection: Connection, site_id: int, facts: DayFacts) -> int:
    """Replace the day's rollup rows (sums and bitmaps); returns how many there are now."""
    for table in (ROLLUP, BITMAP):
        connection.execute(
            delete(table).where(table.c.site_id == site_id, table.c.day == facts.day)
        )
    ordinals = ordinals_for(connection, site_id, facts.visitor_ids)
    rows = day_rows(site_id, facts, ordinals)
    if rows:
        for insert_rows in _inserts(connection.dialect):
            insert_rows(connection, rows)
    return len(rows)


_compiled: dict[str, list[FastStatement]] = {}


def _inserts(dialect: Dialect) -> list[FastStatement]:
    """The two INSERTs of a day's rows, compiled once per dialect: a year of days writes
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
