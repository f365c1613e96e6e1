"""Reading rollups over a range of local days: sums per value (and per time bucket), with
exact uniques from bitmap unions, and the top rows by visitors without reading every bitmap.

A range is read as its whole weeks (Monday to Sunday, one row per value each) and its days
left over, so that a month costs about six rows per value instead of thirty. The sums are those
the stats engine takes from `hit` and `visit` (see ot.stats.aggregates.Sums), so an answer from
rollups is the answer from the raw tables as of the last rollup run.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Site
from ot.rollups.bitmaps import union_size
from ot.rollups.rolling import BITMAP, PROGRESS, ROLLUP

Key = tuple[str, str]  # (time bucket label or "", dimension value or "")
SUMMED = ("visitors", "daily_visitors", "pageviews", "events", "visits", "visit_pageviews",
          "bounces", "duration_seconds")  # fmt: skip
LOOKUP_CHUNK = 400


@dataclass
class Sums:
    """Per-row sums, before they become metrics: what the stats engine reads from the raw
    tables (ot.stats.aggregates) or from rollups, in one shape."""

    visitors: int = 0
    hit_visits: int = 0
    pageviews: int = 0
    events: int = 0
    visits: int = 0
    visit_pageviews: int = 0
    bounces: int = 0
    duration: int = 0
    # Rollups only:
    daily_visitors: int = 0  # the sum of each day's uniques: what a cookieless site reports
    visitor_bound: int = 0  # the sum of each span's uniques: never below the exact count
    values: set[str] = field(default_factory=set)  # the rolled values merged into this key


@dataclass(frozen=True)
class Spans:
    """A range of local days as whole weeks and single days, each in one time bucket."""

    days: tuple[date, ...]
    weeks: tuple[date, ...]  # Mondays

    @classmethod
    def of(cls, first_day: date, last_day: date, bucket_of: Callable[[date], str] | None) -> Spans:
        days: list[date] = []
        weeks: list[date] = []
        day = first_day
        while day <= last_day:
            sunday = day + timedelta(days=6)
            whole_week = day.weekday() == 0 and sunday <= last_day
            if whole_week and (bucket_of is None or bucket_of(day) == bucket_of(sunday)):
                weeks.append(day)
                day += timedelta(days=7)
            else:
                days.append(day)
                day += timedelta(days=1)
        return cls(tuple(days), tuple(weeks))

    def parts(self) -> list[tuple[int, tuple[date, ...]]]:
        return [(span, starts) for span, starts in ((1, self.days), (7, self.weeks)) if starts]


async def complete_through(connection: AsyncConnection, site: Site) -> date | None:
    """The last local day the site's rollups are complete for, or None to read raw tables."""
    row = (
        await connection.execute(
            select(PROGRESS.c.complete_through, PROGRESS.c.timezone).where(
                PROGRESS.c.site_id == site.id
            )
        )
    ).first()
    if row is None or row.timezone != site.timezone:
        return None
    return row.complete_through


async def read_sums(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    first_day: date,
    last_day: date,
    *,
    bucket_of: Callable[[date], str] | None = None,
    keys_of: Callable[[str], Sequence[str]] | None = None,
    exact_visitors: bool = True,
    exact_visits: bool = False,
    top: int | None = None,
    keep: Callable[[Sums], bool] | None = None,
) -> tuple[dict[Key, Sums], int]:
    """Sums per (bucket, value) of one rolled dimension, and how many keys there are.

    `keys_of` names the keys a value is summed into: none drops it, and values sharing a key
    are merged (the pages of a goal); by default each value is its own key.
    `keep` drops keys by their sums before they are counted.
    `exact_visitors` unions the visitor bitmaps across the range (else visitors are the sum of
    daily uniques); `exact_visits` does the same for visit ids. With `top`, only the keys that
    can rank among the first `top` by visitors are returned, each exact: the others are never
    unioned.
    """
    spans = Spans.of(first_day, last_day, bucket_of)
    sums: dict[Key, Sums] = {}
    if spans.parts():
        statement = _sums_statement(_kinds(spans), bucket_of is not None)
        parameters = _span_parameters(site_id, dimension, spans)
        for row in await connection.execute(statement, parameters):
            value = row[0]
            bucket = bucket_of(row[1]) if bucket_of is not None else ""
            sums_of_row = row[2:] if bucket_of is not None else row[1:]
            bound, daily, pageviews, events, visits, visit_pageviews, bounces, duration = (
                sums_of_row
            )
            for name in keys_of(value) if keys_of is not None else (value,):
                target = sums.setdefault((bucket, name), Sums())
                target.visitor_bound += int(bound)
                target.daily_visitors += int(daily)
                target.pageviews += int(pageviews)
                target.events += int(events)
                target.visits += int(visits)
                target.visit_pageviews += int(visit_pageviews)
                target.bounces += int(bounces)
                target.duration += int(duration)
                target.values.add(value)
    if keep is not None:
        sums = {key: target for key, target in sums.items() if keep(target)}
    for target in sums.values():
        target.visitors = target.daily_visitors
    total = len(sums)
    merged = {key: target for key, target in sums.items() if len(target.values) > 1}
    if merged and not exact_visitors:
        # Daily uniques of merged values: a visitor who saw two of them on one day is one.
        await _merged_daily_visitors(connection, site_id, dimension, first_day, last_day,
                                     bucket_of, merged)  # fmt: skip
    if not sums or not (exact_visitors or exact_visits):
        return sums, total
    if top is None or not exact_visitors:
        await _exact_uniques(connection, site_id, dimension, spans, bucket_of, sums,
                             exact_visitors, exact_visits)  # fmt: skip
        return sums, total
    # A key's exact visitors never exceed the sum of its spans' uniques: resolve keys in order
    # of that bound until the top-th exact count is above the bound of every key left.
    ranked = sorted(sums, key=lambda key: (-sums[key].visitor_bound, key))
    resolved: list[Key] = []
    step = max(top, 10)
    while len(resolved) < len(ranked):
        batch = ranked[len(resolved) : len(resolved) + step]
        await _exact_uniques(connection, site_id, dimension, spans, bucket_of,
                             {key: sums[key] for key in batch}, True, exact_visits)  # fmt: skip
        resolved.extend(batch)
        if len(resolved) >= top and len(resolved) < len(ranked):
            kth = sorted((sums[key].visitors for key in resolved), reverse=True)[top - 1]
            if kth > sums[ranked[len(resolved)]].visitor_bound:
                break
        step *= 2
    return {key: sums[key] for key in resolved}, total


def _spans_select(
    table: Any, columns: Sequence[Any], kinds: tuple[int, ...], by_value: bool
) -> Any:
    """The rows of a dimension's spans, one SELECT per kind of span joined by UNION ALL: each
    uses the primary key, which one SELECT with OR would not (SQLite then reads every day).
    Bound by `site_id`, `dimension`, `starts_1` and `starts_7` (and `values`)."""
    selects = [
        select(*columns).where(
            table.c.site_id == bindparam("site_id"),
            table.c.dimension == bindparam("dimension"),
            table.c.span_days == span,
            table.c.day.in_(bindparam(f"starts_{span}", expanding=True)),
            *([table.c.value.in_(bindparam("values", expanding=True))] if by_value else []),
        )
        for span in kinds
    ]
    return selects[0] if len(selects) == 1 else union_all(*selects)


@functools.cache
def _sums_statement(kinds: tuple[int, ...], by_day: bool) -> Any:
    """Built once per shape: building a statement (and its cache key, with long IN lists)
    cost more than running it."""
    columns = [ROLLUP.c.value, ROLLUP.c.day, *(ROLLUP.c[name] for name in SUMMED)]
    rows = _spans_select(ROLLUP, columns, kinds, by_value=False).subquery("spans")
    # Grouped by day only when buckets need it: fewer rows to hand over otherwise.
    grouping = [rows.c.value, *([rows.c.day] if by_day else [])]
    return select(*grouping, *(func.sum(rows.c[name]) for name in SUMMED)).group_by(*grouping)


@functools.cache
def _bitmaps_statement(kinds: tuple[int, ...]) -> Any:
    columns = [BITMAP.c.value, BITMAP.c.day, BITMAP.c.visitor_bitmap, BITMAP.c.visit_bitmap]
    return _spans_select(BITMAP, columns, kinds, by_value=True)


def _span_parameters(site_id: int, dimension: str, spans: Spans) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "dimension": dimension,
        **{f"starts_{span}": list(starts) for span, starts in spans.parts()},
    }


def _kinds(spans: Spans) -> tuple[int, ...]:
    return tuple(span for span, _ in spans.parts())


async def _exact_uniques(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    spans: Spans,
    bucket_of: Callable[[date], str] | None,
    targets: dict[Key, Sums],
    visitors: bool,
    visits: bool,
) -> None:
    by_value: dict[str, list[Key]] = defaultdict(list)
    for key, target in targets.items():
        for value in target.values:
            by_value[value].append(key)
    visitor_blobs: dict[Key, list[bytes]] = defaultdict(list)
    visit_blobs: dict[Key, list[bytes]] = defaultdict(list)
    values = sorted(by_value)
    statement = _bitmaps_statement(_kinds(spans))
    parameters = _span_parameters(site_id, dimension, spans)
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        rows = await connection.execute(statement, {**parameters, "values": chunk})
        for value, day, visitor_bitmap, visit_bitmap in rows:
            bucket = bucket_of(day) if bucket_of is not None else ""
            for key in by_value[value]:
                if key[0] != bucket:
                    continue
                if visitors:
                    visitor_blobs[key].append(visitor_bitmap)
                if visits:
                    visit_blobs[key].append(visit_bitmap)
    for key, target in targets.items():
        if visitors:
            target.visitors = union_size(visitor_blobs[key])
        if visits:
            target.hit_visits = union_size(visit_blobs[key], visits=True)


async def _merged_daily_visitors(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    first_day: date,
    last_day: date,
    bucket_of: Callable[[date], str] | None,
    targets: dict[Key, Sums],
) -> None:
    """Visitors as the sum over days of each day's union of the merged values' bitmaps (from
    the day rows: a week's union would count a visitor of two days once)."""
    days = Spans(
        tuple(first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)), ()
    )
    statement = _bitmaps_statement(_kinds(days))
    parameters = _span_parameters(site_id, dimension, days)
    for key, target in targets.items():
        by_day: dict[date, list[bytes]] = defaultdict(list)
        values = sorted(target.values)
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start : start + LOOKUP_CHUNK]
            rows = await connection.execute(statement, {**parameters, "values": chunk})
            for _, day, bitmap, _ in rows:
                if bucket_of is None or bucket_of(day) == key[0]:
                    by_day[day].append(bitmap)
        target.visitors = sum(union_size(blobs) for blobs in by_day.values())
