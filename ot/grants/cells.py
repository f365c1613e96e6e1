"""Small counts hidden by construction: under a grant's threshold of k visitors, a query is
answered from the grant's *cells* and from nothing else.

A grant's cells are fixed by the grant, not by the query: one time unit (the finest of day,
week and month the grant names; months when it names none), cut by the grant's window, and one
value of each other dimension the grant names. Each cell is counted exactly by the stats engine;
a cell with fewer than k visitors is left out, and every figure of every answer (rows, totals,
time series, comparisons) is the sum over the cells it covers that are left (`ot.grants.combine`).
So two answers can only differ by whole cells of at least k visitors: no answer, and no
difference or other combination of answers, depends in any way on a cell under k — not on its
count, not on its values' names, not on whether it exists.

What follows from it:
- a range is read in whole cells that have ended: part of a cell would be another cell, and a
  day still running, read twice, would tell its visitors apart one poll after another;
- filters select whole cells by their values (every filtered dimension is a cell dimension),
  so every filter operator is safe: `is_not`, `contains`, `matches` and their combinations only
  choose among the cells left;
- a visitor in several cells counts once in each (visitors over several days, weeks or months
  are a sum, as on cookieless sites), and a rate over several cells is the visit-weighted mean
  of the cells' rates; visitors and visits are not added up over the values of an event
  dimension (a visitor sees many pages), so they are answered per page, event or hostname;
- what cannot be cut into cells is not offered: goals (a hit may complete several goals, or
  none), conversion rates (they divide by visitors outside any goal's cell), hours and the
  automatic `time` dimension, session metrics beside an event dimension (a visit spans pages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from ot.errors import Forbidden, InvalidInput
from ot.grants.combine import Cell, answer_from
from ot.models import Grant, Site
from ot.stats.dates import TimeRange, day_start, resolve_range, unit_of, year_earlier
from ot.stats.engine import QueryResult, query_range, run_query
from ot.stats.query import GOAL, MAX_LIMIT, VISIT_METRICS, Condition, Query, dimension_level

TIME_UNITS = ("day", "week", "month")  # finest first
UNIT_WHEN_NONE_GRANTED = "month"
# The query's time buckets that are unions of a grant's cells, by the cells' unit.
BUCKETS_OF_CELLS = {"day": ("day", "week", "month"), "week": ("week",), "month": ("month",)}
# What the engine counts per cell for each metric a query asks for.
COUNTED_FOR = {
    "visitors": ("visitors",),
    "visits": ("visits",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "bounce_rate": ("bounce_rate", "visits"),
    "visit_duration": ("visit_duration", "visits"),
    "views_per_visit": ("views_per_visit", "visits"),
    "percentage": ("visitors",),
}
VISITORS_NOT_SUMMED_OVER_EVENTS = ("visitors", "visits", "percentage")
# A plausible last instant of a day (Plausible's ranges end at 23:59:59) still reads it whole.
_LAST_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class CellShape:
    """What one cell of a grant is: a time unit and one value of each of `dimensions`."""

    unit: str
    dimensions: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (f"time:{self.unit}", *self.dimensions)


@dataclass(frozen=True)
class CellAnswer:
    result: QueryResult
    shape: CellShape
    cells_hidden: int


def cell_shape(dimensions: Sequence[str]) -> CellShape:
    granted_units = {d.removeprefix("time:") for d in dimensions if dimension_level(d) == "time"}
    unit = next((u for u in TIME_UNITS if u in granted_units), UNIT_WHEN_NONE_GRANTED)
    return CellShape(unit, tuple(d for d in dimensions if dimension_level(d) != "time"))


def _cannot_offer(metrics: Sequence[str], dimensions: Sequence[str]) -> tuple[str, str] | None:
    """What a grant with a threshold cannot answer from cells, as (field, reason)."""
    if "conversion_rate" in metrics:
        return "metrics", (
            '"conversion_rate" divides by visitors outside any goal\'s cells, so it is not '
            "offered under a threshold"
        )
    if GOAL in dimensions:
        return "dimensions", (
            '"event:goal" cannot be cut into cells (a hit may complete several goals, or none), '
            "so it is not offered under a threshold"
        )
    for name in ("time", "time:hour"):
        if name in dimensions:
            return "dimensions", (
                f'"{name}" is not offered under a threshold: time goes by whole days, weeks or '
                "months"
            )
    if {"time:week", "time:month"} <= set(dimensions) and "time:day" not in dimensions:
        return "dimensions", (
            "under a threshold, time:week and time:month need time:day beside them: weeks do "
            "not add up to months"
        )
    events = [d for d in dimensions if dimension_level(d) == "event"]
    sessions = [m for m in metrics if m in VISIT_METRICS]
    if events and sessions:
        return "metrics", (
            f'the session metric "{sessions[0]}" cannot be counted per "{events[0]}" (a visit '
            "spans several), so under a threshold they are not offered together"
        )
    return None


def check_terms(metrics: Sequence[str], dimensions: Sequence[str]) -> None:
    """Refuse a new grant with a threshold that names what cells cannot answer."""
    problem = _cannot_offer(metrics, dimensions)
    if problem is not None:
        field, reason = problem
        raise InvalidInput(f"with min_visitors, {reason}", field=field)


def _check_query(shape: CellShape, query: Query) -> None:
    problem = _cannot_offer(query.metrics, [*shape.dimensions, *query.dimensions])
    if problem is None:
        problem = _summing_visitors(shape, query)
    if problem is not None:
        field, reason = problem
        raise Forbidden(f"this grant hides small counts: {reason}", field=field)


def _summing_visitors(shape: CellShape, query: Query) -> tuple[str, str] | None:
    """Visitors and visits added up over an event dimension's values would count a visitor
    once per page (or event) seen: answering that as "visitors" would answer another question
    than the one asked."""
    counted = [m for m in query.metrics if m in VISITORS_NOT_SUMMED_OVER_EVENTS]
    if not counted:
        return None
    for dimension in shape.dimensions:
        if dimension_level(dimension) != "event":
            continue
        if counted[0] == "percentage":
            return "metrics", (
                f'"percentage" would divide by visitors added up over every "{dimension}"'
            )
        if dimension not in query.dimensions and not _one_value(query, dimension):
            return "metrics", (
                f'"{counted[0]}" is counted per "{dimension}" (a visitor sees many): break the '
                f'query down by "{dimension}", or filter it with "is" on one value'
            )
    return None


def _one_value(query: Query, dimension: str) -> bool:
    return any(
        isinstance(item, Condition)
        and item.dimension == dimension
        and item.operator == "is"
        and item.case_sensitive
        and len(set(item.values)) == 1
        for item in query.filters
    )


def _unit_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _next_unit(day: date, unit: str) -> date:
    """The first day of the unit after the one holding `day`."""
    start = _unit_start(day, unit)
    if unit == "week":
        return start + timedelta(days=7)
    if unit == "month":
        return (start + timedelta(days=31)).replace(day=1)
    return start + timedelta(days=1)


def _units_back(day: date, unit: str, count: int) -> date:
    """The first day of the unit `count` units before the one starting on `day`."""
    if unit == "month":
        index = day.year * 12 + day.month - 1 - count
        return date(index // 12, index % 12 + 1, 1)
    return day - timedelta(days=count * (7 if unit == "week" else 1))


def _whole_days(asked: TimeRange) -> tuple[date, date]:
    """The local days a resolved range holds whole."""
    zone = asked.zone
    first = asked.first_day
    if asked.start > day_start(first, zone):
        first += timedelta(days=1)
    last = asked.last_day
    if asked.end < day_start(last + timedelta(days=1), zone) - _LAST_SECOND:
        last -= timedelta(days=1)
    return first, last


def covered_days(
    grant: Grant, unit: str, asked: TimeRange, now: datetime
) -> tuple[date, date] | None:
    """The days of the whole cells that lie inside the asked range and have ended: a cell is
    one unit cut by the grant's window. None when there is no such cell."""
    first, last = _whole_days(asked)
    last = min(last, now.astimezone(asked.zone).date() - timedelta(days=1))
    if grant.date_from is not None:
        first = max(first, grant.date_from)
    if grant.date_to is not None:
        last = min(last, grant.date_to)
    if first > last:
        return None
    if first not in (_unit_start(first, unit), grant.date_from):
        first = _next_unit(first, unit)
    if last + timedelta(days=1) not in (_next_unit(last, unit), _day_after(grant.date_to)):
        last = _unit_start(last, unit) - timedelta(days=1)
    return (first, last) if first <= last else None


def _day_after(day: date | None) -> date | None:
    return None if day is None else day + timedelta(days=1)


def previous_days(grant: Grant, unit: str, first: date, last: date) -> tuple[date, date]:
    """As many whole cells just before; refused when they reach before the grant's window."""
    count = 0
    day = first
    while day <= last:
        count += 1
        day = _next_unit(day, unit)
    start = _units_back(_unit_start(first, unit), unit, count)
    if first != _unit_start(first, unit) or (grant.date_from and start < grant.date_from):
        raise Forbidden(
            "the previous period lies outside the days this grant covers", field="include"
        )
    return start, first - timedelta(days=1)


def days_a_year_earlier(grant: Grant, unit: str, first: date, last: date) -> tuple[date, date]:
    """The same whole cells a year earlier; refused for weeks (a year earlier they start on other
    dates) and when they reach before the grant's window."""
    if unit == "week":
        raise Forbidden(
            "this grant counts whole weeks, which do not line up a year earlier: compare with "
            "the previous period",
            field="include",
        )
    start, end = year_earlier(first), year_earlier(last)
    if grant.date_from and start < grant.date_from:
        raise Forbidden("the year before lies outside the days this grant covers", field="include")
    return start, end


def _describe(grant: Grant) -> str:
    first = grant.date_from.isoformat() if grant.date_from else "the first day"
    last = grant.date_to.isoformat() if grant.date_to else "yesterday"
    return f"{first} to {last}"


async def read_cells(
    connection: AsyncConnection,
    site: Site,
    shape: CellShape,
    query: Query,
    days: tuple[date, date],
    threshold: int,
    now: datetime,
) -> tuple[list[Cell], int, bool]:
    """The cells of `days` that the query's filters select and that count at least `threshold`
    visitors (and visits, where visits are read); how many were left out; whether visitors are
    sums of daily uniques. Leaving out more cells for some queries than for others is safe:
    whatever is left counts at least `threshold` visitors.

    The filters go to the engine: each names a cell dimension, so a cell passes or fails whole,
    and a cell's count is the same with or without them."""
    wanted = [name for metric in query.metrics for name in COUNTED_FOR[metric]]
    counted = tuple(dict.fromkeys(["visitors", *wanted]))
    cells_query = Query(
        metrics=counted,
        date_range=days,
        dimensions=shape.names,
        filters=query.filters,
        order_by=(("visitors", "desc"),),
        limit=MAX_LIMIT,
    )
    found = await run_query(connection, site, cells_query, now=now)
    if len(found.rows) == MAX_LIMIT and found.rows[-1].metrics[0] >= threshold:
        # Rows come most visitors first, so only cells that reach k can have been cut off.
        raise InvalidInput(
            f"under this grant's threshold at most {MAX_LIMIT} cells are read at once: choose a "
            "shorter range",
            field="date_range",
        )
    # A cell's visit figures come from the visits that started in it, its visitors from its
    # hits: near midnight the two differ, so where visits are read they must reach k too.
    visits_at = counted.index("visits") if "visits" in counted else 0
    kept = [
        Cell(
            date.fromisoformat(row.dimensions[0]),
            tuple(row.dimensions[1:]),
            dict(zip(counted, row.metrics, strict=True)),
        )
        for row in found.rows
        if row.metrics[0] >= threshold and row.metrics[visits_at] >= threshold
    ]
    return kept, found.total_rows - len(kept), found.visitors_are_daily_sums


async def answer_in_cells(
    connection: AsyncConnection, grant: Grant, site: Site, query: Query, *, now: datetime
) -> CellAnswer:
    """Answer a query (already inside the grant's names) from the grant's cells that reach its
    threshold."""
    assert site.id is not None and grant.min_visitors
    threshold = grant.min_visitors
    shape = cell_shape(grant.dimensions)
    _check_query(shape, query)
    zone = ZoneInfo(site.timezone)
    asked = await query_range(connection, site, query, now=now)
    days = covered_days(grant, shape.unit, asked, now)
    if days is None:
        raise Forbidden(
            f"this grant hides small counts and reads whole {shape.unit}s that have ended, "
            f"within the days it covers ({_describe(grant)}): the date range holds none",
            field="date_range",
        )
    covered = resolve_range(days, zone, now=now)
    time_unit = unit_of(query.time_dimension, covered) if query.time_dimension else None
    if time_unit is not None and time_unit not in BUCKETS_OF_CELLS[shape.unit]:
        raise Forbidden(
            f"this grant hides small counts in cells of whole {shape.unit}s, which "
            f'"{query.time_dimension}" would cut: use '
            + " or ".join(f"time:{unit}" for unit in BUCKETS_OF_CELLS[shape.unit]),
            field="dimensions",
        )
    cells, hidden, daily_sums = await read_cells(
        connection, site, shape, query, days, threshold, now
    )
    previous: tuple[TimeRange, list[Cell]] | None = None
    if query.comparison is not None:
        before = (
            previous_days(grant, shape.unit, *days)
            if query.comparison == "previous_period"
            else days_a_year_earlier(grant, shape.unit, *days)
        )
        earlier, _, _ = await read_cells(connection, site, shape, query, before, threshold, now)
        previous = (resolve_range(before, zone, now=now), earlier)
    result = answer_from(query, site.domain, shape.dimensions, covered, cells, previous)
    result.visitors_are_daily_sums = daily_sums
    result.warnings.append(
        f"This grant hides small counts: every figure is a sum of cells (one value each of "
        f"{', '.join(shape.names)}) that count at least {threshold} visitors. Smaller cells "
        "count nowhere, and a visitor in several cells counts in each."
    )
    if days != (asked.first_day, asked.last_day) or (asked.start, asked.end) != (
        covered.start,
        covered.end,
    ):
        result.warnings.append(
            f"The date range was narrowed to whole {shape.unit}s that have ended, within the days "
            "this grant covers."
        )
    return CellAnswer(result, shape, hidden)
