"""The one module that reads the stats engine's data: per-row sums, from rollups where a query
allows it (ot.stats.rolled), else from the `hit` and `visit` tables grouped in SQL.

What it reads: event metrics (visitors, pageviews, events) and event dimensions from `hit` by
(site_id, timestamp) — `ix_hit_site_timestamp`, or `ix_hit_site_name_timestamp` for goals and
event names — each hit joined to its `visit` by primary key when a visit dimension or filter is
asked for; visit metrics (visits, bounce rate, duration, views per visit) from `visit` by
(site_id, started_at) — `ix_visit_site_started`. Time buckets are a small table of UTC intervals
joined on the timestamp.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.sql.sqltypes import UTCDateTime

from ot.ingest.hit import PAGEVIEW
from ot.rollups.read import Sums
from ot.stats.dates import Bucket, TimeRange, buckets, unit_of
from ot.stats.filters import (
    HIT,
    VISIT,
    Scope,
    all_of,
    event_expression,
    hit_condition,
    uses_visits,
    visit_condition,
    visit_expression,
)
from ot.stats.goals import goal_condition
from ot.stats.query import GOAL, TIME_DIMENSIONS, VISIT_METRICS, Query, dimension_level
from ot.stats.rolled import can_use_rollups, sums_from_rollups

Key = tuple[str, ...]
HIT_METRICS = frozenset({"visitors", "pageviews", "events", "percentage", "conversion_rate"})


async def first_day_with_data(
    connection: AsyncConnection, site_id: int, zone: ZoneInfo
) -> date | None:
    first = (
        await connection.execute(select(func.min(HIT.c.timestamp)).where(HIT.c.site_id == site_id))
    ).scalar()
    # min() keeps the column's type, so both databases answer an aware datetime.
    return None if first is None else first.astimezone(zone).date()


async def sums(
    connection: AsyncConnection,
    scope: Scope,
    dialect: str,
    query: Query,
    dimensions: tuple[str, ...],
    time_range: TimeRange,
    cookieless: bool,
    *,
    metrics: frozenset[str] | None = None,
    top: int | None = None,
    only: frozenset[str] | None = None,
) -> tuple[dict[Key, Sums], bool, int]:
    """Sums per row from the sources the metrics need; whether visitors are daily sums; how
    many rows there are. From rollups where the query allows it (see ot.stats.rolled), which
    honours `top` and `only` (see ot.stats.engine._compute); else from the raw tables."""
    wanted = metrics or frozenset(query.metrics)
    event_dimensions = any(dimension_level(d) == "event" for d in dimensions)
    needs_hits = bool(wanted & HIT_METRICS) or ("visits" in wanted and event_dimensions)
    needs_visits = bool(wanted & VISIT_METRICS) or ("visits" in wanted and not event_dimensions)
    time_dimension = next((d for d in dimensions if d in TIME_DIMENSIONS), None)
    unit = unit_of(time_dimension, time_range) if time_dimension else None
    daily = cookieless and time_range.days > 1 and unit not in ("hour", "day")
    raw: dict[Key, Sums] = defaultdict(Sums)
    if not dimensions:
        raw[()] = Sums()  # an aggregate answers zeros, not nothing
    if can_use_rollups(query, dimensions, time_range, scope.rolled_through):
        found, total_rows = await sums_from_rollups(
            connection, scope.site_id, dimensions, time_range, scope.goals,
            needs_hits=needs_hits, needs_visits=needs_visits, daily_visitors=daily,
            exact_visits="visits" in wanted and event_dimensions, top=top, only=only,
        )  # fmt: skip
        raw.update(found)
        return dict(raw), daily and needs_hits, max(total_rows, len(raw))
    if needs_hits:
        await _hit_aggregates(connection, scope, dialect, query, dimensions, time_range, daily, raw)
    if needs_visits:
        await _visit_aggregates(connection, scope, dialect, query, dimensions, time_range, raw)
    return dict(raw), daily and needs_hits, len(raw)


def _bucket_table(name: str, found: list[Bucket]) -> Any:
    rows = [
        select(
            literal(b.label).label("label"),
            literal(b.start, UTCDateTime()).label("start"),
            literal(b.end, UTCDateTime()).label("end"),
        )
        for b in found
    ]
    return union_all(*rows).subquery(name)


async def _hit_aggregates(
    connection: AsyncConnection,
    scope: Scope,
    dialect: str,
    query: Query,
    dimensions: tuple[str, ...],
    time_range: TimeRange,
    daily: bool,
    raw: dict[Key, Sums],
) -> None:
    # A hit may complete several goals, so each goal is its own grouping.
    goal_runs: list[tuple[str | None, ColumnElement[bool] | None]] = [(None, None)]
    if GOAL in dimensions:
        goal_runs = [(goal.display_name, goal_condition(goal)) for goal in scope.goals]
    plain = tuple(d for d in dimensions if d != GOAL)
    for goal_name, extra in goal_runs:
        source = HIT
        if uses_visits(query.filters, plain):
            source = source.join(VISIT, VISIT.c.id == HIT.c.visit_id)
        columns: list[Any] = []
        for index, dimension in enumerate(plain):
            level = dimension_level(dimension)
            if level == "time":
                table = _bucket_table(
                    "time_bucket", buckets(unit_of(dimension, time_range), time_range)
                )
                source = source.join(
                    table, and_(HIT.c.timestamp >= table.c.start, HIT.c.timestamp < table.c.end)
                )
                expression = table.c.label
            else:
                expression = (
                    event_expression(dimension) if level == "event" else visit_expression(dimension)
                )
            columns.append(expression.label(f"d{index}"))
        if daily:
            days = _bucket_table("day_bucket", buckets("day", time_range))
            source = source.join(
                days, and_(HIT.c.timestamp >= days.c.start, HIT.c.timestamp < days.c.end)
            )
            columns.append(days.c.label.label("day"))
        conditions = [
            HIT.c.site_id == scope.site_id,
            HIT.c.timestamp >= scope.start,
            HIT.c.timestamp < scope.end,
            *(hit_condition(item, scope, dialect) for item in query.filters),
        ]
        if extra is not None:
            conditions.append(extra)
        facts = (
            select(*columns, HIT.c.visitor_id, HIT.c.visit_id, HIT.c.name)
            .select_from(source)
            .where(all_of(conditions))
            .subquery("facts")
        )
        group = [facts.c[f"d{index}"] for index in range(len(plain))]

        def key_of(row: Any, goal_name: str | None = goal_name) -> Key:
            values = [str(value) for value in row[: len(plain)]]
            if goal_name is not None:
                values.insert(dimensions.index(GOAL), goal_name)
            return tuple(values)

        statement = select(
            *group,
            func.count(func.distinct(facts.c.visitor_id)),
            func.count(func.distinct(facts.c.visit_id)),
            func.coalesce(func.sum(case((facts.c.name == PAGEVIEW, 1), else_=0)), 0),
            func.count(),
        ).group_by(*group)
        for row in await connection.execute(statement):
            if row[-1] == 0:
                continue
            values = raw[key_of(row)]
            values.visitors, values.hit_visits = row[-4], row[-3]
            values.pageviews, values.events = int(row[-2]), row[-1]
        if daily:
            # Sum of each day's uniques: the figure a cookieless site can honestly give.
            per_day = select(
                *group, facts.c.day, func.count(func.distinct(facts.c.visitor_id))
            ).group_by(*group, facts.c.day)
            sums: dict[Key, int] = defaultdict(int)
            for row in await connection.execute(per_day):
                sums[key_of(row)] += row[-1]
            for key, total in sums.items():
                raw[key].visitors = total


async def _visit_aggregates(
    connection: AsyncConnection,
    scope: Scope,
    dialect: str,
    query: Query,
    dimensions: tuple[str, ...],
    time_range: TimeRange,
    raw: dict[Key, Sums],
) -> None:
    source: Any = VISIT
    columns: list[Any] = []
    for index, dimension in enumerate(dimensions):
        if dimension in TIME_DIMENSIONS:
            table = _bucket_table(
                "time_bucket", buckets(unit_of(dimension, time_range), time_range)
            )
            source = source.join(
                table,
                and_(VISIT.c.started_at >= table.c.start, VISIT.c.started_at < table.c.end),
            )
            columns.append(table.c.label.label(f"d{index}"))
        else:
            columns.append(visit_expression(dimension).label(f"d{index}"))
    facts = (
        select(*columns, VISIT.c.pageviews, VISIT.c.is_bounce, VISIT.c.duration_seconds)
        .select_from(source)
        .where(
            VISIT.c.site_id == scope.site_id,
            VISIT.c.started_at >= scope.start,
            VISIT.c.started_at < scope.end,
            *(visit_condition(item, scope, dialect) for item in query.filters),
        )
        .subquery("facts")
    )
    group = [facts.c[f"d{index}"] for index in range(len(dimensions))]
    statement = select(
        *group,
        func.count(),
        func.coalesce(func.sum(facts.c.pageviews), 0),
        func.coalesce(func.sum(case((facts.c.is_bounce, 1), else_=0)), 0),
        func.coalesce(func.sum(facts.c.duration_seconds), 0),
    ).group_by(*group)
    for row in await connection.execute(statement):
        if row[-4] == 0:
            continue
        values = raw[tuple(str(value) for value in row[: len(dimensions)])]
        values.visits, values.visit_pageviews = row[-4], int(row[-3])
        values.bounces, values.duration = int(row[-2]), int(row[-1])
