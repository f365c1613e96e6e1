"""Reading rollups over a range of local days: sums per value (and per time bucket), with
exact uniques from bitmap unions, and the top rows by visitors without reading every bitmap.

A range is read as its whole weeks (Monday to Sunday, one row per value each) and its days
left over, so that a month costs about six rows per value instead of thirty. The sums are those
the stats engine takes from `hit` and `visit` (see ot.stats.aggregates.Sums), so an answer from
rollups is the answer from the raw tables as of the last rollup run.

Spans are read as runs of consecutive days or weeks (`day BETWEEN`), not as lists of days:
PostgreSQL, with statistics a little out of date, filtered a list after reading every day of
the dimension instead of looking each one up.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pyroaring import BitMap, BitMap64
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    LargeBinary,
    Text,
    and_,
    any_,
    bindparam,
    false,
    func,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Site
from ot.rollups.bitmaps import visit_union, visitor_union
from ot.rollups.rolling import BITMAP, PROGRESS, ROLLUP

Key = tuple[str, str]  # (time bucket label or "", dimension value or "")
SUMMED = ("visitors", "daily_visitors", "pageviews", "events", "visits", "visit_pageviews",
          "bounces", "duration_seconds")  # fmt: skip
LOOKUP_CHUNK = 400
# Candidates a ranked read hands over per key asked for: enough for a top list in one round
# trip (bounds exceed exact counts by returning visitors); more are fetched when needed.
CANDIDATES_PER_TOP = 3
# Past this many runs of spans (a month bucket splits its weeks off: about three runs a month),
# a range is read as days alone, in one run: one SELECT per run is a compound SELECT, which
# SQLite limits to 500 terms.
MAX_RUNS = 100


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
    span_rows: int = 0  # rollup rows summed: from one, `visitor_bound` is the exact count
    values: set[str] = field(default_factory=set)  # the rolled values merged into this key


@dataclass
class Fresh:
    """What the days after the rolled ones add to a key, read from the raw tables (see
    ot.stats.aggregates): sums to add, and who its visitors and visits were, so that they are
    united with the rolled days' bitmaps rather than added to them. `ordinals` holds those of
    its visitors that have one; `newcomers` counts the others, who cannot be in any rolled day
    (every visitor of a rolled day has an ordinal). None means its visitors (or visits) are
    none of the rolled days' for certain (the key is a day after them), so they are added."""

    sums: Sums
    ordinals: BitMap | None = None
    newcomers: int = 0
    visit_ids: BitMap64 | None = None


# Fills in who the visitors (and visits) of these keys of the fresh days were (`Fresh.ordinals`,
# `newcomers`, `visit_ids`): made only for the keys whose exact uniques are needed, since a top
# list resolves a handful of the keys the fresh days hold.
FreshSets = Callable[[Collection[Key]], None]


@dataclass(frozen=True)
class Spans:
    """A range of local days as whole weeks and single days, each in one time bucket, kept as
    runs of consecutive spans: (span days, first start, last start)."""

    runs: tuple[tuple[int, date, date], ...]

    @classmethod
    def of(cls, first_day: date, last_day: date, bucket_of: Callable[[date], str] | None) -> Spans:
        if first_day > last_day:
            return cls(())
        if bucket_of is None:
            return cls._weeks_between_days(first_day, last_day)
        days: list[date] = []
        weeks: list[date] = []
        day = first_day
        while day <= last_day:
            sunday = day + timedelta(days=6)
            whole_week = day.weekday() == 0 and sunday <= last_day
            if whole_week and bucket_of(day) == bucket_of(sunday):
                weeks.append(day)
                day += timedelta(days=7)
            else:
                days.append(day)
                day += timedelta(days=1)
        runs = _runs(1, days) + _runs(7, weeks)
        if len(runs) > MAX_RUNS:
            return cls.every_day(first_day, last_day)
        return cls(runs)

    @classmethod
    def every_day(cls, first_day: date, last_day: date) -> Spans:
        return cls(((1, first_day, last_day),) if first_day <= last_day else ())

    @classmethod
    def _weeks_between_days(cls, first_day: date, last_day: date) -> Spans:
        """Days up to the first Monday, whole weeks, days after the last whole week: computed,
        not counted out, since a range may span centuries."""
        monday = first_day + timedelta(days=-first_day.weekday() % 7)
        weeks = ((last_day - monday).days + 1) // 7 if monday <= last_day else 0
        if weeks == 0:
            return cls.every_day(first_day, last_day)
        after = monday + timedelta(days=7 * weeks)
        runs: list[tuple[int, date, date]] = []
        if first_day < monday:
            runs.append((1, first_day, monday - timedelta(days=1)))
        if after <= last_day:
            runs.append((1, after, last_day))
        runs.append((7, monday, after - timedelta(days=7)))
        return cls(tuple(runs))


def _runs(span: int, starts: Sequence[date]) -> tuple[tuple[int, date, date], ...]:
    """Consecutive spans of `span` days as runs."""
    found: list[tuple[int, date, date]] = []
    for start in starts:
        if found and found[-1][2] + timedelta(span) == start:
            found[-1] = (span, found[-1][1], start)
        else:
            found.append((span, start, start))
    return tuple(found)


async def complete_through(connection: AsyncConnection, site: Site) -> date | None:
    """The last local day the site's rollups are complete for, or None to read raw tables."""
    row = (
        await connection.execute(
            select(PROGRESS.c.complete_through, PROGRESS.c.timezone).where(
                PROGRESS.c.site_id == site.id
            )
        )
    ).first()
    return None if row is None else usable_through(row.complete_through, row.timezone, site)


def usable_through(complete: date | None, timezone: str, site: Site) -> date | None:
    """`complete_through` of rollups rolled in `timezone`: none if the site has since moved to
    another zone (it is rolled again in the new one; raw tables meanwhile)."""
    return complete if timezone == site.timezone else None


def current_through(
    complete: date | None,
    *,
    first_pending: date | None,
    first_changed: datetime | None,
    zone: ZoneInfo,
    today: date,
) -> date | None:
    """The last local day whose rollups hold exactly what the raw tables hold now, or None.

    `complete` is the rollup job's `complete_through` (see `usable_through`), `first_pending`
    the first day it has marked to roll again, `first_changed` the earliest start of a visit
    with a hit that arrived after the job's last look (`hit_watermark`): that hit changed its
    own day's sums and its visit's (the visit's start day, and every day of its hits). Days
    from the first of those on are not rolled yet, whatever `complete_through` says: the job
    sets it to today, and hits keep arriving after it ran. A range reaching past today has no
    hits there (no hit is dated ahead by more than minutes, and those would be changes too).
    """
    if complete is None:
        return None
    through = date.max if complete >= today else complete
    if first_pending is not None:
        through = min(through, first_pending - timedelta(days=1))
    if first_changed is not None:
        through = min(through, first_changed.astimezone(zone).date() - timedelta(days=1))
    return through


async def read_sums(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    first_day: date,
    last_day: date,
    *,
    bucket_of: Callable[[date], str] | None = None,
    keys_of: Callable[[str], Sequence[str]] | None = None,
    values: Collection[str] | None = None,
    prefixes: Sequence[str] | None = None,
    exact_visitors: bool = True,
    exact_visits: bool = False,
    top: int | None = None,
    keep: Keep | None = None,
    fresh: Mapping[Key, Fresh] | None = None,
    fresh_sets: FreshSets | None = None,
) -> tuple[dict[Key, Sums], int]:
    """Sums per (bucket, value) of one rolled dimension, and how many keys there are.

    `keys_of` names the keys a value is summed into: none drops it, and values sharing a key
    are merged (the pages of a goal); by default each value is its own key. `values` reads
    only those values; `prefixes` reads only the values that start with one of them (the
    literal starts of a goal's page patterns), a filter that saves handing rows over and
    leaves the decision to `keys_of`.
    `keep` drops keys without hits or visits (see Keep).
    `exact_visitors` unions the visitor bitmaps across the range (else visitors are the sum of
    daily uniques); `exact_visits` does the same for visit ids. With `top`, only the keys that
    can rank among the first `top` by visitors are returned, each exact: the others are never
    unioned.
    `fresh` adds what the days after `last_day` hold, per key (see Fresh), from the raw tables;
    `fresh_sets`, when given, fills in their visitors and visits for the keys that need them.
    A top list ranks its values with their fresh sums in SQL, like the rolled ones.
    """
    spans = Spans.of(first_day, last_day, bucket_of)
    if not spans.runs:
        return {}, 0
    keep = keep or Keep()
    fresh = fresh or {}
    if top is not None and exact_visitors and keys_of is None and bucket_of is None:
        return await _ranked(
            connection, site_id, dimension, spans, values, exact_visits, top, keep, fresh,
            fresh_sets,
        )  # fmt: skip
    dialect = connection.dialect.name
    statement = _sums_statement(
        dialect, spans_shape(spans), bucket_of is not None, values is not None, keep,
        len(prefixes or ()),
    )  # fmt: skip
    parameters = span_parameters(dialect, site_id, dimension, spans, values)
    for index, prefix in enumerate(prefixes or ()):
        parameters[f"prefix_{index}"] = prefix
        parameters[f"prefix_length_{index}"] = len(prefix)
    sums: dict[Key, Sums] = {}
    for row in await connection.execute(statement, parameters):
        value = row[0]
        bucket = bucket_of(row[1]) if bucket_of is not None else ""
        numbers = row[2:] if bucket_of is not None else row[1:]
        for name in keys_of(value) if keys_of is not None else (value,):
            target = sums.setdefault((bucket, name), Sums())
            _add(target, value, numbers)
    for key, extra in fresh.items():
        _add_fresh(sums.setdefault(key, Sums()), extra.sums)
    for target in sums.values():
        target.visitors = target.daily_visitors
    total = len(sums)
    merged = {key: target for key, target in sums.items() if len(target.values) > 1}
    if merged and not exact_visitors:
        # Daily uniques of merged values: a visitor who saw two of them on one day is one.
        await _merged_daily_visitors(connection, site_id, dimension, first_day, last_day,
                                     bucket_of, merged)  # fmt: skip
        for key, target in merged.items():
            if key in fresh:
                target.visitors += fresh[key].sums.visitors  # its days are other days
    if not sums or not (exact_visitors or exact_visits):
        return sums, total
    if top is None or not exact_visitors:
        await _exact_uniques(connection, site_id, dimension, spans, bucket_of, sums,
                             exact_visitors, exact_visits, fresh=fresh,
                             fresh_sets=fresh_sets)  # fmt: skip
        return sums, total
    ranked = sorted(sums, key=lambda key: (-sums[key].visitor_bound, key))
    resolved = await _resolve_top(
        connection, site_id, dimension, spans, bucket_of, [(key, sums[key]) for key in ranked],
        exact_visits, top, fresh=fresh, fresh_sets=fresh_sets,
    )  # fmt: skip
    return dict(resolved), total


def _add_fresh(target: Sums, found: Sums) -> None:
    """The raw tables' sums of days after the rolled ones: additive ones are added; its
    visitors raise the bound (and are the daily uniques of its days)."""
    target.pageviews += found.pageviews
    target.events += found.events
    target.visits += found.visits
    target.visit_pageviews += found.visit_pageviews
    target.bounces += found.bounces
    target.duration += found.duration
    target.daily_visitors += found.visitors
    target.visitor_bound += found.visitors


@dataclass(frozen=True)
class Keep:
    """Which keys a query's raw tables would give a row: those with hits (`hits`), with visits
    that started in the range (`visits`), or either. A rollup row has one or the other, so a
    value of no kept row adds nothing to any sum or bitmap and is dropped in SQL. `empty`:
    whether the empty value is a key (an unknown country is left out of every answer)."""

    hits: bool = True
    visits: bool = True
    empty: bool = True


def _add(target: Sums, value: str, numbers: Sequence[Any]) -> None:
    bound, daily, pageviews, events, visits, visit_pageviews, bounces, duration, rows = numbers[:9]
    target.visitor_bound += int(bound)
    target.daily_visitors += int(daily)
    target.pageviews += int(pageviews)
    target.events += int(events)
    target.visits += int(visits)
    target.visit_pageviews += int(visit_pageviews)
    target.bounces += int(bounces)
    target.duration += int(duration)
    target.span_rows += int(rows)
    target.values.add(value)


async def _ranked(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    spans: Spans,
    values: Collection[str] | None,
    exact_visits: bool,
    top: int,
    keep: Keep,
    fresh: Mapping[Key, Fresh],
    fresh_sets: FreshSets | None,
) -> tuple[dict[Key, Sums], int]:
    """The top keys of a plain dimension: the database ranks the values by their bound and
    counts them, so only the candidates are handed over (a page-like dimension has hundreds
    of values, a dashboard shows ten). The fresh days' sums are sent along as rows of their
    own, so that a value is ranked by its whole bound, the fresh days' visitors included."""
    shape = spans_shape(spans)
    dialect = connection.dialect.name
    parameters = span_parameters(dialect, site_id, dimension, spans, values)
    with_fresh = bool(fresh)
    if with_fresh:
        parameters.update(_fresh_parameters(dialect, fresh))
    page = CANDIDATES_PER_TOP * top + 1  # one more: the bound of the first key left out
    first_batch = max(top, 10)
    candidates: list[tuple[Key, Sums]] = []
    ranks: dict[str, int] = {}
    prefetched: dict[str, list[Any]] = defaultdict(list)
    total = 0

    def add_candidate(row: Any) -> None:
        nonlocal total
        target = Sums()
        _add(target, row[0], row[1:10])
        target.visitors = target.daily_visitors
        candidates.append((("", row[0]), target))
        ranks[row[0]] = len(ranks) if row[10] is None else int(row[10])
        total = int(row[11])

    # The first page of candidates comes with the bitmaps of the first batch to resolve: one
    # round trip where there were two.
    rows = await connection.execute(
        _ranked_with_bitmaps_statement(dialect, shape, values is not None, keep, with_fresh),
        {**parameters, "limit": page, "offset": 0, "first": first_batch},
    )
    found = 0
    for row in rows:
        if row[12] is None:
            add_candidate(row)
            found += 1
            if ranks[row[0]] <= first_batch:
                # Its bitmaps came with it, if it has any: a value of the fresh days alone
                # has none to read.
                prefetched.setdefault(row[0], [])
        else:
            prefetched[row[0]].append(row[12:])
    # The database gives a union's rows in no promised order.
    candidates.sort(key=lambda item: (-item[1].visitor_bound, ranks[item[0][1]]))
    statement = _ranked_statement(dialect, shape, values is not None, keep, with_fresh)

    async def fetch_more() -> bool:
        rows = (
            await connection.execute(
                statement, {**parameters, "limit": page, "offset": len(candidates)}
            )
        ).all()
        for row in rows:
            add_candidate(row)
        return len(rows) == page

    resolved = await _resolve_top(
        connection, site_id, dimension, spans, None, candidates, exact_visits, top,
        fetch_more=fetch_more if found == page else None, prefetched=prefetched, fresh=fresh,
        fresh_sets=fresh_sets,
    )  # fmt: skip
    return dict(resolved), total


async def _resolve_top(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    spans: Spans,
    bucket_of: Callable[[date], str] | None,
    ranked: list[tuple[Key, Sums]],
    exact_visits: bool,
    top: int,
    *,
    fetch_more: Callable[[], Awaitable[bool]] | None = None,
    prefetched: dict[str, list[Any]] | None = None,
    fresh: Mapping[Key, Fresh] | None = None,
    fresh_sets: FreshSets | None = None,
) -> list[tuple[Key, Sums]]:
    """Exact visitors for keys in order of their bound until the `top`-th exact count is above
    the bound of every key left (a key's exact visitors never exceed the sum of its spans'
    uniques). `ranked` may hold only the first keys; `fetch_more` appends the next ones to it
    and says whether any are left after them."""
    resolved: list[tuple[Key, Sums]] = []
    step = max(top, 10)
    while True:
        if fetch_more is not None and len(resolved) + step + 1 > len(ranked):
            if not await fetch_more():
                fetch_more = None
            continue
        batch = ranked[len(resolved) : len(resolved) + step]
        if not batch:
            return resolved
        await _exact_uniques(connection, site_id, dimension, spans, bucket_of, dict(batch),
                             True, exact_visits, prefetched, fresh, fresh_sets)  # fmt: skip
        resolved.extend(batch)
        if len(resolved) >= top and len(resolved) < len(ranked):
            kth = sorted((sums.visitors for _, sums in resolved), reverse=True)[top - 1]
            if kth > ranked[len(resolved)][1].visitor_bound:
                return resolved
        step *= 2


def spans_shape(spans: Spans) -> tuple[int, ...]:
    """The kind of span of each run: statements are built once per shape."""
    return tuple(span for span, _, _ in spans.runs)


def span_parameters(
    dialect: str,
    site_id: int,
    dimension: str,
    spans: Spans,
    values: Collection[str] | None = None,
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"site_id": site_id, "dimension": dimension}
    for index, (_, first, last) in enumerate(spans.runs):
        parameters[f"first_{index}"] = first
        parameters[f"last_{index}"] = last
    if values is not None:
        parameters["values"] = _values_parameter(dialect, values)
    return parameters


def _values_parameter(dialect: str, values: Collection[str]) -> Any:
    """The bound list of `_among_values`: an array, or JSON text for SQLite's json_each."""
    ordered = sorted(values)
    return ordered if dialect == "postgresql" else json.dumps(ordered)


def _among_values(column: Any, dialect: str) -> Any:
    """`column` is in the bound list `values`, in one statement for any length of the list: an
    expanding IN is rendered again at every execution, and on PostgreSQL each length is a
    statement of its own to prepare."""
    if dialect == "postgresql":
        return column == any_(bindparam("values", type_=postgresql.ARRAY(Text)))
    listed = func.json_each(bindparam("values", type_=Text)).table_valued("value")
    return column.in_(select(listed.c.value))


def _spans_select(
    dialect: str,
    table: Any,
    columns: Sequence[Any],
    shape: tuple[int, ...],
    by_value: bool,
    among: Any = None,
    prefixes: int = 0,
    extra: Sequence[Any] = (),
) -> Any:
    """The rows of a dimension's spans, one SELECT per run of spans joined by UNION ALL: each
    is one range of the primary key, which one SELECT with OR would not be (SQLite then reads
    every day). Bound by `site_id`, `dimension`, `first_<n>` and `last_<n>` (and `values`,
    and, for values that start with one of `prefixes` texts, `prefix_<n>` and
    `prefix_length_<n>`); `among` is a SELECT of the values wanted. `extra` SELECTs of the
    same columns are joined to them (SQLite cannot nest a compound SELECT in another)."""
    # Compared as text of the same length, not as a range: a range of values would follow
    # PostgreSQL's collation, which may not order by character.
    starts = [
        func.substr(table.c.value, 1, bindparam(f"prefix_length_{index}", type_=Integer))
        == bindparam(f"prefix_{index}", type_=Text)
        for index in range(prefixes)
    ]
    selects = [
        select(*columns).where(
            table.c.site_id == bindparam("site_id"),
            table.c.dimension == bindparam("dimension"),
            table.c.span_days == span,
            table.c.day >= bindparam(f"first_{index}"),
            table.c.day <= bindparam(f"last_{index}"),
            *([_among_values(table.c.value, dialect)] if by_value else []),
            *([table.c.value.in_(among)] if among is not None else []),
            *([or_(*starts)] if starts else []),
        )
        for index, span in enumerate(shape)
    ]
    selects += extra
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _summed(
    dialect: str,
    shape: tuple[int, ...],
    by_value: bool,
    keep: Keep,
    prefixes: int = 0,
    fresh: bool = False,
) -> tuple[Any, list[Any], Any]:
    """The spans' rows as a subquery, the sums of a group of them, and the HAVING of `keep`.
    With `fresh`, the fresh days' rows (`_fresh_rows`) are among them."""
    columns = [ROLLUP.c.value, ROLLUP.c.day, *(ROLLUP.c[name] for name in SUMMED)]
    extra = [_fresh_rows(dialect)] if fresh else []
    rows = _spans_select(
        dialect, ROLLUP, columns, shape, by_value, prefixes=prefixes, extra=extra
    ).subquery("spans")
    totals = [func.sum(rows.c[name]) for name in SUMMED] + [func.count()]
    kept = [
        condition
        for wanted, condition in (
            (keep.hits, func.sum(rows.c.events) > 0),
            (keep.visits, func.sum(rows.c.visits) > 0),
        )
        if wanted
    ]
    having = or_(*kept) if kept else false()
    return rows, totals, having if keep.empty else and_(having, rows.c.value != "")


@functools.cache
def _sums_statement(
    dialect: str,
    shape: tuple[int, ...],
    by_day: bool,
    by_value: bool,
    keep: Keep,
    prefixes: int = 0,
) -> Any:
    """Built once per shape: building a statement (and its cache key) cost more than running
    it."""
    rows, totals, kept = _summed(dialect, shape, by_value, keep, prefixes)
    # Grouped by day only when buckets need it: fewer rows to hand over otherwise.
    grouping = [rows.c.value, *([rows.c.day] if by_day else [])]
    return select(*grouping, *totals).group_by(*grouping).having(kept)


@functools.cache
def _ranked_statement(
    dialect: str, shape: tuple[int, ...], by_value: bool, keep: Keep, fresh: bool = False
) -> Any:
    """Values by their bound, most first (ties by value), a page of them at a time: value, the
    nine sums of `_add`, the rank, and the number of values kept."""
    rows, totals, kept = _summed(dialect, shape, by_value, keep, fresh=fresh)
    order = (totals[0].desc(), rows.c.value)
    return (
        select(
            rows.c.value,
            *totals,
            func.row_number().over(order_by=order).label("rank"),
            func.count().over().label("kept"),
        )
        .group_by(rows.c.value)
        .having(kept)
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


@functools.cache
def _ranked_with_bitmaps_statement(
    dialect: str, shape: tuple[int, ...], by_value: bool, keep: Keep, fresh: bool = False
) -> Any:
    """`_ranked_statement`'s rows, then the bitmap rows (value, nulls, day and the two bitmaps)
    of the values ranked up to `first`."""
    ranked = _ranked_statement(dialect, shape, by_value, keep, fresh).cte("ranked")
    firsts = select(ranked.c.value).where(ranked.c.rank <= bindparam("first"))
    columns = [BITMAP.c.value, BITMAP.c.day, BITMAP.c.visitor_bitmap, BITMAP.c.visit_bitmap]
    bitmaps = _spans_select(dialect, BITMAP, columns, shape, by_value=False, among=firsts)
    bitmaps = bitmaps.subquery("bitmaps")
    numbers = [column for column in ranked.c if column.name != "value"]
    return union_all(
        select(
            ranked.c.value,
            *numbers,
            type_coerce(null(), Date).label("day"),
            type_coerce(null(), LargeBinary).label("visitor_bitmap"),
            type_coerce(null(), LargeBinary).label("visit_bitmap"),
        ),
        select(
            bitmaps.c.value,
            *(type_coerce(null(), Integer) for _ in numbers),
            bitmaps.c.day,
            bitmaps.c.visitor_bitmap,
            bitmaps.c.visit_bitmap,
        ),
    )


# The sums a fresh row carries, in the order of SUMMED after "visitors" and "daily_visitors"
# (both are the fresh days' visitors: a bound, and the fresh days' daily uniques).
FRESH_SUMS = ("pageviews", "events", "visits", "visit_pageviews", "bounces", "duration")


def _fresh_parameters(dialect: str, fresh: Mapping[Key, Fresh]) -> dict[str, Any]:
    """The fresh days' sums of each value, bound as `_fresh_rows` reads them."""
    rows = [
        [key[1], extra.sums.visitors, *(getattr(extra.sums, name) for name in FRESH_SUMS)]
        for key, extra in fresh.items()
    ]
    if dialect == "postgresql":
        columns = [[row[index] for row in rows] for index in range(2 + len(FRESH_SUMS))]
        return {f"fresh_{index}": column for index, column in enumerate(columns)}
    return {"fresh": json.dumps(rows)}


@functools.cache
def _fresh_rows(dialect: str) -> Any:
    """The fresh days' sums as rows like a rollup row (value, day, SUMMED), from one bound
    parameter: a JSON array of arrays read by json_each on SQLite, arrays unnested side by side
    on PostgreSQL. Their day is none: they are no span, and no bitmap is read for them."""
    value: Any
    numbers: list[Any]
    if dialect == "postgresql":
        names = ["value", "visitors", *FRESH_SUMS]
        arrays = [bindparam("fresh_0", type_=postgresql.ARRAY(Text))] + [
            bindparam(f"fresh_{index}", type_=postgresql.ARRAY(BigInteger))
            for index in range(1, len(names))
        ]
        table = func.unnest(*arrays).table_valued(*names).render_derived(name="fresh")
        value, numbers = table.c.value, [table.c[name] for name in names[1:]]
    else:
        table = func.json_each(bindparam("fresh", type_=Text)).table_valued("value")
        fields = [
            func.json_extract(table.c.value, f"$[{index}]") for index in range(2 + len(FRESH_SUMS))
        ]
        value, numbers = fields[0], fields[1:]
    visitors, others = numbers[0], numbers[1:]
    return select(value, type_coerce(null(), Date), visitors, visitors, *others).select_from(table)


@functools.cache
def _bitmaps_statement(dialect: str, shape: tuple[int, ...]) -> Any:
    columns = [BITMAP.c.value, BITMAP.c.day, BITMAP.c.visitor_bitmap, BITMAP.c.visit_bitmap]
    return _spans_select(dialect, BITMAP, columns, shape, by_value=True)


async def _exact_uniques(
    connection: AsyncConnection,
    site_id: int,
    dimension: str,
    spans: Spans,
    bucket_of: Callable[[date], str] | None,
    targets: dict[Key, Sums],
    visitors: bool,
    visits: bool,
    prefetched: dict[str, list[Any]] | None = None,
    fresh: Mapping[Key, Fresh] | None = None,
    fresh_sets: FreshSets | None = None,
) -> None:
    """Exact visitors (and visits) of `targets` from the union of their rows' bitmaps, read
    here unless `prefetched` holds every (day, visitor bitmap, visit bitmap) of a value, and
    of the visitors and visits `fresh` adds to them (filled in by `fresh_sets` first)."""
    fresh = fresh or {}
    if visitors and not visits:
        # From one row, the row's own uniques are exact: no bitmap to read (a daily series).
        alone = {key for key, target in targets.items() if target.span_rows == 1}
        alone -= fresh.keys()
        for key in alone:
            targets[key].visitors = targets[key].visitor_bound
        targets = {key: target for key, target in targets.items() if key not in alone}
        if not targets:
            return
    if fresh_sets is not None:
        fresh_sets([key for key in targets if key in fresh])
    by_value: dict[str, list[Key]] = defaultdict(list)
    for key, target in targets.items():
        for value in target.values:
            by_value[value].append(key)
    visitor_blobs: dict[Key, list[bytes]] = defaultdict(list)
    visit_blobs: dict[Key, list[bytes]] = defaultdict(list)

    def add(value: str, day: date, visitor_bitmap: bytes, visit_bitmap: bytes) -> None:
        bucket = bucket_of(day) if bucket_of is not None else ""
        for key in by_value[value]:
            if key[0] != bucket:
                continue
            if visitors:
                visitor_blobs[key].append(visitor_bitmap)
            if visits:
                visit_blobs[key].append(visit_bitmap)

    known = prefetched or {}
    for value in by_value.keys() & known.keys():
        for day, visitor_bitmap, visit_bitmap in known[value]:
            add(value, day, visitor_bitmap, visit_bitmap)
    values = sorted(by_value.keys() - known.keys())
    dialect = connection.dialect.name
    statement = _bitmaps_statement(dialect, spans_shape(spans))
    parameters = span_parameters(dialect, site_id, dimension, spans)
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = _values_parameter(dialect, values[start : start + LOOKUP_CHUNK])
        for value, day, visitor_bitmap, visit_bitmap in await connection.execute(
            statement, {**parameters, "values": chunk}
        ):
            add(value, day, visitor_bitmap, visit_bitmap)
    for key, target in targets.items():
        extra = fresh.get(key)
        if visitors:
            people = visitor_union(visitor_blobs[key])
            if extra is None:
                target.visitors = len(people)
            elif extra.ordinals is None:
                target.visitors = len(people) + extra.sums.visitors
            else:
                target.visitors = len(people | extra.ordinals) + extra.newcomers
        if visits:
            visit_ids = visit_union(visit_blobs[key])
            if extra is None:
                target.hit_visits = len(visit_ids)
            elif extra.visit_ids is None:
                target.hit_visits = len(visit_ids) + extra.sums.hit_visits
            else:
                target.hit_visits = len(visit_ids | extra.visit_ids)


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
    days = Spans.every_day(first_day, last_day)
    dialect = connection.dialect.name
    statement = _bitmaps_statement(dialect, spans_shape(days))
    parameters = span_parameters(dialect, site_id, dimension, days)
    for key, target in targets.items():
        by_day: dict[date, list[bytes]] = defaultdict(list)
        values = sorted(target.values)
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = _values_parameter(dialect, values[start : start + LOOKUP_CHUNK])
            rows = await connection.execute(statement, {**parameters, "values": chunk})
            for _, day, bitmap, _ in rows:
                if bucket_of is None or bucket_of(day) == key[0]:
                    by_day[day].append(bitmap)
        target.visitors = sum(len(visitor_union(blobs)) for blobs in by_day.values())
