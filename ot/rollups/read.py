"""Reading rollups over a range of local days: sums per value (and per time bucket), with
exact uniques from bitmap unions, and the top rows by visitors without reading every bitmap.

The sums are those the stats engine takes from `hit` and `visit` (see ot.stats.engine._Raw),
so an answer from rollups is the answer from the raw tables as of the last rollup run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Site
from ot.rollups.bitmaps import union_size
from ot.rollups.rolling import BITMAP, PROGRESS, ROLLUP

Key = tuple[str, str]  # (time bucket label or "", dimension value or "")
LOOKUP_CHUNK = 400


@dataclass
class Sums:
    visitors: int = 0
    hit_visits: int = 0
    pageviews: int = 0
    events: int = 0
    visits: int = 0
    visit_pageviews: int = 0
    bounces: int = 0
    duration: int = 0
    daily_visitors: int = 0  # the sum of each day's uniques: exact for one day, else a bound
    values: set[str] = field(default_factory=set)  # the rolled values merged into this key


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
    `exact_visitors` unions the visitor bitmaps across days (else visitors are daily sums);
    `exact_visits` does the same for visit ids. With `top`, only the keys that can rank among
    the first `top` by visitors are returned, each exact: the others are never unioned.
    """
    day_grouping = bucket_of is not None
    columns = [
        ROLLUP.c.value,
        *([ROLLUP.c.day] if day_grouping else []),
        func.sum(ROLLUP.c.visitors), func.sum(ROLLUP.c.pageviews), func.sum(ROLLUP.c.events),
        func.sum(ROLLUP.c.visits), func.sum(ROLLUP.c.visit_pageviews),
        func.sum(ROLLUP.c.bounces), func.sum(ROLLUP.c.duration_seconds),
    ]  # fmt: skip
    grouping = [ROLLUP.c.value, *([ROLLUP.c.day] if day_grouping else [])]
    statement = (
        select(*columns)
        .where(
            ROLLUP.c.site_id == site_id,
            ROLLUP.c.dimension == dimension,
            ROLLUP.c.day >= first_day,
            ROLLUP.c.day <= last_day,
        )
        .group_by(*grouping)
    )
    sums: dict[Key, Sums] = {}
    for row in await connection.execute(statement):
        value = row[0]
        bucket = bucket_of(row[1]) if bucket_of is not None else ""
        offset = 2 if day_grouping else 1
        daily, pageviews, events, visits, visit_pageviews, bounces, duration = row[offset:]
        for name in keys_of(value) if keys_of is not None else (value,):
            target = sums.setdefault((bucket, name), Sums())
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
        await _merged_daily_visitors(
            connection, site_id, dimension, first_day, last_day, bucket_of, merged
        )
    if not sums or not (exact_visitors or exact_visits):
        return sums, total
    if top is None or not exact_visitors:
        await _exact_uniques(
            connection, site_id, dimension, first_day, last_day, bucket_of, sums,
            exact_visitors, exact_visits,
        )  # fmt: skip
        return sums, total
    # A key's exact visitors never exceed the sum of its daily uniques: resolve keys in order of
    # that bound until the top-th exact count is above the bound of every key left.
    ranked = sorted(sums, key=lambda key: (-sums[key].daily_visitors, key))
    resolved: list[Key] = []
    step = max(top, 10)
    while len(resolved) < len(ranked):
        batch = ranked[len(resolved) : len(resolved) + step]
        await _exact_uniques(
            connection, site_id, dimension, first_day, last_day, bucket_of,
            {key: sums[key] for key in batch}, True, exact_visits,
        )  # fmt: skip
        resolved.extend(batch)
        if len(resolved) >= top and len(resolved) < len(ranked):
            kth = sorted((sums[key].visitors for key in resolved), reverse=True)[top - 1]
            if kth > sums[ranked[len(resolved)]].daily_visitors:
                break
        step *= 2
    return {key: sums[key] for key in resolved}, total


async def _exact_uniques(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    first_day: date,
    last_day: date,
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
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        rows = await connection.execute(
            select(
                BITMAP.c.value, BITMAP.c.day, BITMAP.c.visitor_bitmap, BITMAP.c.visit_bitmap
            ).where(
                BITMAP.c.site_id == site_id,
                BITMAP.c.dimension == dimension,
                BITMAP.c.value.in_(chunk),
                BITMAP.c.day >= first_day,
                BITMAP.c.day <= last_day,
            )
        )
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
    """Visitors as the sum over days of each day's union of the merged values' bitmaps."""
    for key, target in targets.items():
        by_day: dict[date, list[bytes]] = defaultdict(list)
        values = sorted(target.values)
        for start in range(0, len(values), LOOKUP_CHUNK):
            rows = await connection.execute(
                select(BITMAP.c.day, BITMAP.c.visitor_bitmap).where(
                    BITMAP.c.site_id == site_id,
                    BITMAP.c.dimension == dimension,
                    BITMAP.c.value.in_(values[start : start + LOOKUP_CHUNK]),
                    BITMAP.c.day >= first_day,
                    BITMAP.c.day <= last_day,
                )
            )
            for day, bitmap in rows:
                if bucket_of is None or bucket_of(day) == key[0]:
                    by_day[day].append(bitmap)
        target.visitors = sum(union_size(blobs) for blobs in by_day.values())
