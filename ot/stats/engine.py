"""The engine's one entry point: `run_query` answers a validated query for one site with rows,
totals and meta. The HTTP API (v1 and v2), `ot-admin stats query` and the TUI all come here.

The tables are read in `ot.stats.aggregates` alone (see there for what each query reads); here
its sums become metrics, rows are ordered and paged, and compared with the previous period or
the same days a year earlier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.errors import InvalidInput
from ot.models import Goal, Site
from ot.privacy import VisitorMode
from ot.stats.aggregates import Key, Sums, first_day_with_data, sums
from ot.stats.dates import (
    TimeRange,
    buckets,
    compared_range,
    resolve_range,
    unit_of,
    year_earlier,
)
from ot.stats.facts import read_site_facts
from ot.stats.filters import QueryScope
from ot.stats.labels import UNKNOWN_PLACES, shown
from ot.stats.query import GOAL, TIME_DIMENSIONS, Condition, Query, dimension_level

Number = int | float

DAILY_SUM_WARNING = (
    "This site is cookieless: its visitor ids cannot link one day to the next, so visitors over "
    "several days are the sum of each day's unique visitors (a person who came on two days "
    "counts twice)."
)


@dataclass
class Comparison:
    dimensions: list[str]
    metrics: list[Number]
    change: list[Number | None]


@dataclass
class ResultRow:
    dimensions: list[str]
    metrics: list[Number]
    comparison: Comparison | None = None


@dataclass
class QueryResult:
    """What a query found, in the order and page asked for, with what the answer needs to say
    about itself (ranges, total row count, time labels, warnings)."""

    query: Query
    site_domain: str
    time_range: TimeRange
    rows: list[ResultRow]
    totals: list[Number]  # the metrics over the whole range; empty unless asked for or needed
    total_rows: int
    comparison_range: TimeRange | None = None
    time_labels: list[str] | None = None
    visitors_are_daily_sums: bool = False
    warnings: list[str] = field(default_factory=list)


# PostgreSQL's SQLSTATE for a regular expression it cannot read.
INVALID_REGULAR_EXPRESSION = "2201B"


async def run_query(
    connection: AsyncConnection,
    site: Site,
    query: Query,
    *,
    now: datetime,
    use_rollups: bool = True,
) -> QueryResult:
    """Answer `query` for `site`. Queries over whole days come from rollups for the days they
    hold exactly and from the raw tables for the days after (see ot.stats.rolled);
    `use_rollups=False` reads the raw tables only."""
    try:
        return await _answer(connection, site, query, now=now, use_rollups=use_rollups)
    except DBAPIError as error:
        # `matches` patterns are checked against RE2's syntax (ot.regex); PostgreSQL's own
        # engine refuses a few forms RE2 reads, such as flags in mid-pattern.
        cause = error.orig
        if cause is None or getattr(cause, "sqlstate", None) != INVALID_REGULAR_EXPRESSION:
            raise
        reason = str(cause.__cause__ or cause)
        raise InvalidInput(
            f"PostgreSQL cannot read a matches pattern: {reason}", field="filters"
        ) from None


async def query_range(
    connection: AsyncConnection, site: Site, query: Query, *, now: datetime
) -> TimeRange:
    """The moments a query's date range covers in the site's zone ("all" starts on the site's
    first day with data)."""
    assert site.id is not None
    zone = ZoneInfo(site.timezone)
    first_day = (
        await first_day_with_data(connection, site.id, zone) if query.date_range == "all" else None
    )
    return resolve_range(
        query.date_range, zone, now=now, relative_date=query.relative_date,
        first_day_with_data=first_day,
    )  # fmt: skip


async def _answer(
    connection: AsyncConnection, site: Site, query: Query, *, now: datetime, use_rollups: bool
) -> QueryResult:
    assert site.id is not None
    time_range = await query_range(connection, site, query, now=now)
    facts = await read_site_facts(connection, site, now)
    goals = facts.goals
    cookieless = site.visitor_mode == VisitorMode.COOKIELESS
    rolled_through = facts.rolled_through if use_rollups else None
    # Rows of an unknown place are left out, as Plausible leaves them out (ot.stats.labels).
    unknown = frozenset(d for d in query.dimensions if d in UNKNOWN_PLACES)
    rows, totals, daily_sums, total_rows = await _compute(
        connection, site.id, query, time_range, goals, cookieless, rolled_through,
        top=query.offset + query.limit if _ranks_by_visitors(query) else None,
        without_empty=unknown,
    )  # fmt: skip
    keys = _ordered(rows, query)
    page = keys[query.offset : query.offset + query.limit]
    comparison_range = None
    previous: dict[Key, list[Number]] = {}
    label_map: dict[str, str] = {}
    if query.comparison is not None:
        comparison_range = compared_range(time_range, query.comparison)
        previous, _, _, _ = await _compute(
            connection, site.id, query, comparison_range, goals, cookieless, rolled_through,
            only=_values_of(query, page), without_empty=unknown,
        )  # fmt: skip
        label_map = matching_time_labels(query, time_range, comparison_range)
    result_rows = []
    for key in page:
        row = ResultRow(_shown(query, key), rows[key])
        if comparison_range is not None:
            row.comparison = _compare(query, key, rows[key], previous, label_map)
        result_rows.append(row)
    time_dimension = query.time_dimension
    result = QueryResult(
        query=query,
        site_domain=site.domain,
        time_range=time_range,
        rows=result_rows,
        totals=totals,
        total_rows=total_rows,
        comparison_range=comparison_range,
        time_labels=(
            [b.label for b in buckets(unit_of(time_dimension, time_range), time_range)]
            if time_dimension
            else None
        ),
        visitors_are_daily_sums=daily_sums,
    )
    if daily_sums:
        result.warnings.append(DAILY_SUM_WARNING)
    return result


def _goal_free(query: Query) -> Query:
    """The query without its top-level goal filters: the visitors a conversion rate divides by."""
    kept = tuple(f for f in query.filters if not (isinstance(f, Condition) and f.dimension == GOAL))
    return replace(query, filters=kept)


async def _compute(
    connection: AsyncConnection,
    site_id: int,
    query: Query,
    time_range: TimeRange,
    goals: tuple[Goal, ...],
    cookieless: bool,
    rolled_through: date | None,
    *,
    top: int | None = None,
    only: frozenset[str] | None = None,
    without_empty: frozenset[str] = frozenset(),
) -> tuple[dict[Key, list[Number]], list[Number], bool, int]:
    """Every row's metrics (in query order), the totals, whether visitors are daily sums, and
    how many rows there are. With `top`, only the rows that can rank among the first `top` by
    visitors need be there; with `only`, only those values of the non-time dimension."""
    scope = QueryScope(site_id, time_range.start, time_range.end, goals, rolled_through)
    dialect = connection.dialect.name
    raw, daily, total_rows = await sums(
        connection, scope, dialect, query, query.dimensions, time_range, cookieless,
        top=top, only=only, without_empty=without_empty,
    )  # fmt: skip
    total_daily = False
    if not query.dimensions:
        total = raw.get((), Sums())
    elif query.include_totals or "percentage" in query.metrics:
        total_raw, total_daily, _ = await sums(
            connection, scope, dialect, query, (), time_range, cookieless
        )
        total = total_raw.get((), Sums())
    else:
        total = None
    # Conversion rates divide by all visitors under the other filters: per time bucket when
    # the rows are, else over the whole range (Plausible's definition).
    divisors: dict[str, int] = {}
    total_divisor = 0
    if "conversion_rate" in query.metrics:
        goal_free = _goal_free(query)
        visitors_only = frozenset({"visitors"})
        whole, _, _ = await sums(
            connection, scope, dialect, goal_free, (), time_range, cookieless,
            metrics=visitors_only,
        )  # fmt: skip
        total_divisor = whole[()].visitors
        if query.time_dimension:
            per_bucket, _, _ = await sums(
                connection, scope, dialect, goal_free, (query.time_dimension,), time_range,
                cookieless, metrics=visitors_only,
            )  # fmt: skip
            divisors = {key[0]: value.visitors for key, value in per_bucket.items()}
    time_index = query.dimensions.index(query.time_dimension) if query.time_dimension else None

    def metrics_of(key: Key, values: Sums) -> list[Number]:
        divisor = divisors.get(key[time_index], 0) if time_index is not None else total_divisor
        return [_metric(name, values, query, total or Sums(), divisor) for name in query.metrics]

    rows = {key: metrics_of(key, values) for key, values in raw.items()}
    totals = (
        [_metric(name, total, query, total, total_divisor) for name in query.metrics]
        if total is not None
        else []
    )
    return rows, totals, (daily or total_daily) and _counts_visitors(query), total_rows


def _ranks_by_visitors(query: Query) -> bool:
    """Rows of one dimension ranked by visitors, most first: the dashboard's top lists."""
    if len(query.dimensions) != 1 or query.time_dimension:
        return False
    first = query.order_by[0] if query.order_by else (query.metrics[0], "desc")
    return first == ("visitors", "desc")


def _values_of(query: Query, page: list[Key]) -> frozenset[str] | None:
    """The values of the non-time dimension on a page of rows, if there is one."""
    others = [i for i, d in enumerate(query.dimensions) if d not in TIME_DIMENSIONS]
    if len(others) != 1:
        return None
    return frozenset(key[others[0]] for key in page)


def _counts_visitors(query: Query) -> bool:
    return bool({"visitors", "percentage", "conversion_rate"} & set(query.metrics))


def _metric(name: str, raw: Sums, query: Query, total: Sums, divisor: int) -> Number:
    event_dimensions = any(dimension_level(d) == "event" for d in query.dimensions)
    if name == "visitors":
        return raw.visitors
    if name == "visits":
        return raw.hit_visits if event_dimensions else raw.visits
    if name == "pageviews":
        return raw.pageviews
    if name == "events":
        return raw.events
    if name == "views_per_visit":
        return round(raw.visit_pageviews / raw.visits, 2) if raw.visits else 0.0
    if name == "bounce_rate":
        return round(100 * raw.bounces / raw.visits) if raw.visits else 0
    if name == "visit_duration":
        return round(raw.duration / raw.visits) if raw.visits else 0
    if name == "percentage":
        return round(100 * raw.visitors / total.visitors, 1) if total.visitors else 0.0
    if name == "conversion_rate":
        return round(100 * raw.visitors / divisor, 2) if divisor else 0.0
    raise ValueError(name)


def _ordered(rows: dict[Key, list[Number]], query: Query) -> list[Key]:
    """Keys in the order asked for; by default time first, then the first metric descending;
    ties broken by the dimension values so pages never overlap."""
    order = list(query.order_by)
    time_dimension = query.time_dimension
    if not order:
        if time_dimension:
            order.append((time_dimension, "asc"))
        order.append((query.metrics[0], "desc"))
    keys = sorted(rows)
    for name, direction in reversed(order):
        descending = direction == "desc"
        if name in query.dimensions:
            keys.sort(key=_by_dimension(name, query.dimensions.index(name)), reverse=descending)
        else:
            keys.sort(key=_by_metric(rows, query.metrics.index(name)), reverse=descending)
    return keys


def _by_dimension(name: str, index: int) -> Callable[[Key], str]:
    return lambda key: shown(name, key[index])


def _shown(query: Query, key: Key) -> list[str]:
    """A row's dimension values as answers show them ("Direct / None" for an empty source)."""
    return [shown(name, value) for name, value in zip(query.dimensions, key, strict=True)]


def _by_metric(rows: dict[Key, list[Number]], index: int) -> Callable[[Key], Number]:
    return lambda key: rows[key][index]


def matching_time_labels(query: Query, current: TimeRange, previous: TimeRange) -> dict[str, str]:
    """Each time bucket's counterpart in the compared range: by position for the previous
    period; a year earlier, the same date (hours, days and months keep their labels' dates,
    so a leap year's extra day never shifts the rest; weeks, which start on other dates a
    year earlier, go by position)."""
    time_dimension = query.time_dimension
    if time_dimension is None:
        return {}
    unit = unit_of(time_dimension, current)
    now_labels = [b.label for b in buckets(unit, current)]
    if query.comparison == "year_over_year" and unit != "week":
        return {label: _label_a_year_earlier(label) for label in now_labels}
    then_labels = [b.label for b in buckets(unit, previous)]
    return dict(zip(now_labels, then_labels, strict=False))


def _label_a_year_earlier(label: str) -> str:
    day = year_earlier(date.fromisoformat(label[:10]))
    return day.isoformat() + label[10:]


def period_change(name: str, now: Number, then: Number) -> Number | None:
    """How a metric changed from the compared range, as Plausible reports it."""
    if name == "bounce_rate":
        return now - then  # percentage points, as Plausible reports it
    if then == 0:
        return 100 if now else 0
    return round(100 * (now - then) / then)


def _compare(
    query: Query,
    key: Key,
    metrics: list[Number],
    previous: dict[Key, list[Number]],
    label_map: dict[str, str],
) -> Comparison:
    then_key = list(key)
    if query.time_dimension is not None:
        index = query.dimensions.index(query.time_dimension)
        then_key[index] = label_map.get(key[index], "")
    then = previous.get(tuple(then_key), [0 for _ in query.metrics])
    change = [
        period_change(name, now, was)
        for name, now, was in zip(query.metrics, metrics, then, strict=True)
    ]
    return Comparison(_shown(query, tuple(then_key)), then, change)
