"""The days after the rolled ones, for the queries a dashboard sends most (the whole site or one
rolled dimension, no time dimension, a cookie site): their sums per value read from `hit` and
`visit` in one statement, built once per shape, so that a live site's top list costs one round
trip more than a rolled one and no statement building.

It reads what `ot.stats.aggregates` reads for those queries (its `_hit_sums` and `_visit_sums`),
with the ordinals of each value's visitors and its visit ids listed alongside (see
`ot.rollups.read.Fresh`); tests/test_stats_rollups.py holds both to the raw tables' answer.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyroaring import BitMap, BitMap64
from sqlalchemy import and_, bindparam, case, func, literal_column, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.ingest.hit import PAGEVIEW
from ot.rollups.dimensions import HIT_COLUMNS, VISIT_COLUMNS
from ot.rollups.read import Fresh, Sums
from ot.rollups.rolling import HIT, ORDINAL, VISIT
from ot.stats.rolled import FreshSets, Key

HITS, VISITS = 0, 1  # which part of the statement a row comes from


def reads_fresh_alone(dimensions: tuple[str, ...], daily: bool) -> bool:
    """Whether this module reads the fresh days of a query grouped by `dimensions`: the whole
    site or one rolled dimension (not goals, no time dimension), visitors counted over the
    whole range (a cookieless site's daily sums need each day's)."""
    if daily or len(dimensions) > 1:
        return False
    return not dimensions or dimensions[0] in HIT_COLUMNS or dimensions[0] in VISIT_COLUMNS


@dataclass
class Listed:
    """Who a key's visitors and visits in a window were, as the database lists them (see
    `collected`): the ordinals of the visitors the rollups know, how many others there were,
    and the visit ids."""

    ordinals: Any = None
    newcomers: int = 0
    visit_ids: Any = None


def set_filler(
    found: dict[Key, Fresh], listed: dict[Key, Listed], *, visitor_sets: bool, visit_sets: bool
) -> FreshSets:
    """What makes the listed visitors and visits of the keys asked for into the sets of their
    `Fresh` (each key once): a top list needs the sets of a handful of a dimension's keys."""
    done: set[Key] = set()

    def fill(keys: Collection[Key]) -> None:
        for key in keys:
            if key in done:
                continue
            done.add(key)
            listing, target = listed.get(key, Listed()), found[key]
            if visitor_sets:
                target.ordinals = BitMap(members(listing.ordinals))
                target.newcomers = listing.newcomers
            if visit_sets:
                target.visit_ids = BitMap64(members(listing.visit_ids))

    return fill


async def fresh_sums(
    connection: AsyncConnection,
    site_id: int,
    dimensions: tuple[str, ...],
    start: datetime,
    end: datetime,
    *,
    hits: bool,
    visits: bool,
    visitor_sets: bool,
    visit_sets: bool,
) -> tuple[dict[Key, Fresh], FreshSets | None]:
    """The sums per key of the hits and visits from `start` to `end`, and (with `visitor_sets`
    or `visit_sets`) what fills in the visitors' ordinals and the visit ids of the keys that
    need them: listed with the sums, made into sets only for those keys."""
    dialect = connection.dialect.name
    dimension = dimensions[0] if dimensions else None
    lists = hits and (visitor_sets or visit_sets)
    statement = _statement(dialect, dimension, hits, visits, lists, lists and visit_sets)
    found: dict[Key, Fresh] = {}
    listed: dict[Key, Listed] = {}
    parameters = {"site_id": site_id, "start": start, "end": end}
    for row in await connection.execute(statement, parameters):
        if row[2] == 0:
            continue  # the whole site's empty window: no group, one row of zeros
        key: Key = (str(row[1]),) if dimension else ()
        sums = found.setdefault(key, Fresh(Sums())).sums
        if row[0] == HITS:
            sums.visitors, sums.hit_visits, sums.pageviews, sums.events = (int(n) for n in row[2:6])
            if lists:
                listed[key] = Listed(*row[6:])
        else:
            sums.visits, sums.visit_pageviews, sums.bounces, sums.duration = (
                int(n) for n in row[2:6]
            )
    if not lists:
        return found, None
    return found, set_filler(found, listed, visitor_sets=visitor_sets, visit_sets=visit_sets)


@functools.cache
def _statement(
    dialect: str,
    dimension: str | None,
    hits: bool,
    visits: bool,
    lists: bool,
    list_visits: bool,
) -> Any:
    """Rows (part, value, four sums, lists...): per value, the hits' visitors, visits,
    pageviews and events (and the lists), and the visits' count, pageviews, bounces and
    duration, bound by `site_id`, `start` and `end`."""
    parts = []
    site_id: Any = bindparam("site_id")
    start: Any = bindparam("start")
    end: Any = bindparam("end")
    if hits:
        source: Any = HIT
        if dimension in VISIT_COLUMNS:
            source = source.join(VISIT, VISIT.c.id == HIT.c.visit_id)
        extra: list[Any] = []
        if lists:
            # Each visitor's ordinal, where the rollups gave it one (at most one row).
            source = source.outerjoin(
                ORDINAL,
                and_(ORDINAL.c.site_id == site_id, ORDINAL.c.visitor_id == HIT.c.visitor_id),
            )
            newcomer = case((ORDINAL.c.ordinal.is_(None), HIT.c.visitor_id))
            extra = [collected(ORDINAL.c.ordinal, dialect), func.count(func.distinct(newcomer))]
            if list_visits:
                extra.append(collected(HIT.c.visit_id, dialect))
        value = _value(dimension)
        parts.append(
            select(
                literal_column(str(HITS)).label("part"),
                value.label("value"),
                func.count(func.distinct(HIT.c.visitor_id)),
                func.count(func.distinct(HIT.c.visit_id)),
                func.coalesce(func.sum(case((HIT.c.name == PAGEVIEW, 1), else_=0)), 0),
                func.count(),
                *extra,
            )
            .select_from(source)
            .where(HIT.c.site_id == site_id, HIT.c.timestamp >= start, HIT.c.timestamp < end)
            .group_by(*([value] if dimension else []))
        )
    if visits:
        value = VISIT.c[VISIT_COLUMNS[dimension]] if dimension else literal_column("''")
        padding = [null()] * (len(parts[0].selected_columns) - 6) if parts else []
        parts.append(
            select(
                literal_column(str(VISITS)).label("part"),
                value.label("value"),
                func.count(),
                func.coalesce(func.sum(VISIT.c.pageviews), 0),
                func.coalesce(func.sum(case((VISIT.c.is_bounce, 1), else_=0)), 0),
                func.coalesce(func.sum(VISIT.c.duration_seconds), 0),
                *padding,
            )
            .where(
                VISIT.c.site_id == site_id, VISIT.c.started_at >= start, VISIT.c.started_at < end
            )
            .group_by(*([value] if dimension else []))
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _value(dimension: str | None) -> Any:
    if dimension is None:
        return literal_column("''")
    if dimension in HIT_COLUMNS:
        return HIT.c[HIT_COLUMNS[dimension]]
    return VISIT.c[VISIT_COLUMNS[dimension]]


def collected(column: Any, dialect: str) -> Any:
    """The distinct non-null values of `column` in a group, as one value (see `members`):
    one per group, where a row per member cost more than the SQL."""
    if dialect == "postgresql":
        return func.array_agg(func.distinct(column)).filter(column.is_not(None))
    return func.group_concat(func.distinct(column))


def members(found: Any) -> list[int]:
    """The integers `collected` gave: an array, or text of comma-separated numbers, or none."""
    if found is None:
        return []
    if isinstance(found, str):
        return [int(number) for number in found.split(",")]
    return list(found)
