"""A stats query and its validation: the shape of Plausible's Stats API v2 (`POST /api/v2/query`),
with Plausible-like messages naming the part of the request that is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from ot.errors import InvalidInput
from ot.regex import InvalidPattern, compile_pattern

METRICS = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "events",
    "conversion_rate",
    "percentage",
)
# Metrics of whole visits: they cannot be split by a property of single events.
VISIT_METRICS = frozenset({"views_per_visit", "bounce_rate", "visit_duration"})

EVENT_DIMENSIONS = ("event:page", "event:name", "event:goal", "event:hostname")
PROPS_PREFIX = "event:props:"
VISIT_DIMENSIONS = (
    "visit:entry_page",
    "visit:exit_page",
    "visit:source",
    "visit:referrer",
    "visit:utm_source",
    "visit:utm_medium",
    "visit:utm_campaign",
    "visit:utm_content",
    "visit:utm_term",
    "visit:country",
    "visit:region",
    "visit:city",
    "visit:browser",
    "visit:browser_version",
    "visit:os",
    "visit:os_version",
    "visit:device",
)
TIME_DIMENSIONS = ("time", "time:hour", "time:day", "time:week", "time:month")
GOAL = "event:goal"

NAMED_RANGES = ("realtime", "day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all")
MATCH_OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
NEGATED = {"is_not": "is", "contains_not": "contains", "matches_not": "matches"}
MAX_LIMIT = 10_000
# Far beyond any real result, and within every database's integers (the engine may hand
# offset + limit to SQL as a LIMIT).
MAX_OFFSET = 2**31 - 1
QUERY_KEYS = frozenset(
    {"site_id", "metrics", "date_range", "date", "dimensions", "filters", "order_by", "include",
     "pagination"}
)  # fmt: skip
INCLUDE_KEYS = frozenset({"imports", "time_labels", "total_rows", "comparisons", "totals"})
# What a query's rows may be compared with: the range of as many days just before, or the same
# days a year earlier (Plausible's `include.comparisons.mode`).
ComparisonMode = Literal["previous_period", "year_over_year"]
COMPARISON_MODES: tuple[ComparisonMode, ...] = ("previous_period", "year_over_year")


@dataclass(frozen=True)
class Condition:
    """`[operator, dimension, values]`: a row matches when any value matches."""

    operator: str  # is | contains | matches; negations are wrapped in Not
    dimension: str
    values: tuple[str, ...]
    case_sensitive: bool = True


@dataclass(frozen=True)
class AnyOf:
    """`and` (every child matches) or `or` (any child matches)."""

    operator: str
    children: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    child: Filter


Filter = Condition | AnyOf | Not

DateRange = str | tuple[date, date] | tuple[datetime, datetime]


@dataclass(frozen=True)
class Query:
    """A validated stats query, before it is bound to a site's time zone."""

    metrics: tuple[str, ...]
    date_range: DateRange
    dimensions: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int = MAX_LIMIT
    offset: int = 0
    relative_date: date | None = None  # "today" for named ranges; None: today in the site's zone
    comparison: ComparisonMode | None = None
    include_total_rows: bool = False
    include_time_labels: bool = False
    include_totals: bool = False
    # The request as received, echoed in answers (Plausible's `query`).
    echo: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if d in TIME_DIMENSIONS), None)


def dimension_level(name: str) -> str:
    """`event`, `visit` or `time`; raises for names that are none of them."""
    if name in EVENT_DIMENSIONS or _is_props_dimension(name):
        return "event"
    if name in VISIT_DIMENSIONS:
        return "visit"
    if name in TIME_DIMENSIONS:
        return "time"
    raise ValueError(name)


def _is_props_dimension(name: str) -> bool:
    key = name.removeprefix(PROPS_PREFIX)
    # A quote or backslash would break SQLite's JSON path; no tracker sends such keys.
    return name.startswith(PROPS_PREFIX) and 0 < len(key) <= 300 and not set(key) & {'"', "\\"}


def is_known_dimension(name: str) -> bool:
    try:
        dimension_level(name)
    except ValueError:
        return False
    return True


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path.removeprefix("#/").split("/")[0] or None)


def _string_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(path, "must be a list of strings")
    return value


def parse_query(body: Any) -> Query:
    """A `Query` from a v2 request body (parsed JSON); raises InvalidInput naming the problem."""
    if not isinstance(body, dict):
        raise _fail("#", "the query must be a JSON object")
    unknown = sorted(set(body) - QUERY_KEYS)
    if unknown:
        raise _fail("#", f'unknown key "{unknown[0]}"')
    if "metrics" not in body:
        raise _fail("#", 'required key "metrics" is missing')
    if "date_range" not in body:
        raise _fail("#", 'required key "date_range" is missing')
    metrics = _string_list(body["metrics"], "#/metrics")
    if not metrics:
        raise _fail("#/metrics", "at least one metric is required")
    for index, metric in enumerate(metrics):
        if metric not in METRICS:
            raise _fail(f"#/metrics/{index}", f'invalid metric "{metric}"')
    if len(set(metrics)) != len(metrics):
        raise _fail("#/metrics", "metrics must not repeat")
    dimensions = _string_list(body.get("dimensions", []), "#/dimensions")
    for index, dimension in enumerate(dimensions):
        if not is_known_dimension(dimension):
            raise _fail(f"#/dimensions/{index}", f'invalid dimension "{dimension}"')
    if len(set(dimensions)) != len(dimensions):
        raise _fail("#/dimensions", "dimensions must not repeat")
    if sum(d in TIME_DIMENSIONS for d in dimensions) > 1:
        raise _fail("#/dimensions", "only one time dimension can be used")
    filters_value = body.get("filters", [])
    if not isinstance(filters_value, list):
        raise _fail("#/filters", "must be a list of filters")
    filters = tuple(parse_filter(item, f"#/filters/{i}") for i, item in enumerate(filters_value))
    include = body.get("include", {})
    if not isinstance(include, dict):
        raise _fail("#/include", "must be an object")
    for key, value in include.items():
        if key not in INCLUDE_KEYS:
            raise _fail("#/include", f'unknown key "{key}"')
        if key != "comparisons" and not isinstance(value, bool):
            raise _fail(f"#/include/{key}", "must be true or false")
    comparison = _parse_comparisons(include.get("comparisons"))
    limit, offset = _parse_pagination(body.get("pagination", {}))
    query = Query(
        metrics=tuple(metrics),
        date_range=parse_date_range(body["date_range"]),
        dimensions=tuple(dimensions),
        filters=filters,
        order_by=_parse_order_by(body.get("order_by", []), metrics, dimensions),
        limit=limit,
        offset=offset,
        relative_date=_parse_relative_date(body.get("date")),
        comparison=comparison,
        include_total_rows=include.get("total_rows", False),
        include_time_labels=include.get("time_labels", False),
        include_totals=include.get("totals", False),
        echo={key: value for key, value in body.items() if key != "site_id"},
    )
    check_query(query)
    return query


def check_query(query: Query) -> None:
    """The rules that tie metrics, dimensions and filters together (also for v1 and the CLI)."""
    event_dimensions = [d for d in query.dimensions if dimension_level(d) == "event"]
    visit_metrics = [m for m in query.metrics if m in VISIT_METRICS]
    if event_dimensions and visit_metrics:
        raise _fail(
            "#/metrics",
            f'session metric "{visit_metrics[0]}" cannot be queried with the event dimension '
            f'"{event_dimensions[0]}"',
        )
    if "percentage" in query.metrics and not query.dimensions:
        raise _fail("#/metrics", 'metric "percentage" requires a non-empty "dimensions"')
    # The rate divides by the visitors under the other filters, so the goal filter must stand
    # on its own at the top level, where it can be set aside.
    if "conversion_rate" in query.metrics and not (
        GOAL in query.dimensions
        or any(isinstance(f, Condition) and f.dimension == GOAL for f in query.filters)
    ):
        raise _fail(
            "#/metrics",
            'metric "conversion_rate" requires an "event:goal" dimension or a top-level '
            '"event:goal" filter',
        )
    if query.include_time_labels and query.time_dimension is None:
        raise _fail("#/include/time_labels", "requires a time dimension")


def conditions(filters: tuple[Filter, ...] | list[Filter]) -> list[Condition]:
    """Every condition in a filter tree."""
    found: list[Condition] = []
    for item in filters:
        if isinstance(item, Condition):
            found.append(item)
        elif isinstance(item, AnyOf):
            found.extend(conditions(item.children))
        else:
            found.extend(conditions([item.child]))
    return found


def parse_filter(value: Any, path: str) -> Filter:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise _fail(path, "a filter is a list starting with its operator, e.g. "
                    '["is", "visit:browser", ["Firefox"]]')  # fmt: skip
    operator = value[0]
    if operator in ("and", "or"):
        if len(value) != 2 or not isinstance(value[1], list) or not value[1]:
            raise _fail(path, f'"{operator}" takes a non-empty list of filters')
        children = tuple(parse_filter(item, f"{path}/1/{i}") for i, item in enumerate(value[1]))
        return AnyOf(operator, children)
    if operator == "not":
        if len(value) != 2:
            raise _fail(path, '"not" takes exactly one filter')
        return Not(parse_filter(value[1], f"{path}/1"))
    if operator not in MATCH_OPERATORS:
        raise _fail(path, f'invalid filter operator "{operator}"')
    if len(value) not in (3, 4):
        raise _fail(path, f'"{operator}" takes a dimension and a list of values')
    dimension = value[1]
    if not isinstance(dimension, str) or not is_known_dimension(dimension):
        raise _fail(f"{path}/1", f'invalid filter dimension "{dimension}"')
    if dimension in TIME_DIMENSIONS:
        raise _fail(f"{path}/1", "time dimensions cannot be filtered on: set date_range instead")
    values = value[2]
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(item, str | int) and not isinstance(item, bool) for item in values)
    ):
        raise _fail(f"{path}/2", "must be a non-empty list of strings")
    clauses = tuple(str(item) for item in values)
    case_sensitive = True
    if len(value) == 4:
        modifiers = value[3]
        if not isinstance(modifiers, dict) or set(modifiers) - {"case_sensitive"}:
            raise _fail(f"{path}/3", 'the only modifier is {"case_sensitive": false}')
        case_sensitive = modifiers.get("case_sensitive", True)
        if not isinstance(case_sensitive, bool):
            raise _fail(f"{path}/3", '"case_sensitive" must be true or false')
    positive = NEGATED.get(operator, operator)
    if dimension == GOAL and positive == "matches":
        raise _fail(path, 'only "is", "is_not", "contains" and "contains_not" work on event:goal')
    if positive == "matches":
        for index, pattern in enumerate(clauses):
            try:
                compile_pattern(pattern)
            except InvalidPattern as error:
                raise _fail(f"{path}/2/{index}", f"invalid regular expression: {error}") from None
    condition = Condition(positive, dimension, clauses, case_sensitive)
    return Not(condition) if operator in NEGATED else condition


# Days a query may name: the previous period of a range near the ends of the calendar would
# otherwise fall off it (Python dates stop at years 1 and 9999).
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def _within_calendar(day: date, value: str, path: str) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise _fail(path, f'"{value}" is outside the supported days {EARLIEST_DAY}..{LATEST_DAY}')


def _iso(value: str, path: str) -> date | datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            _within_calendar(day, value, path)
            return day
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(path, f'"{value}" is not an ISO 8601 date or date-time') from None
    if moment.tzinfo is None:
        raise _fail(path, f'"{value}" needs a time zone offset, e.g. 2024-01-01T12:00:00+02:00')
    _within_calendar(moment.date(), value, path)
    return moment


def parse_date_range(value: Any) -> DateRange:
    path = "#/date_range"
    if isinstance(value, str):
        if value not in NAMED_RANGES:
            raise _fail(path, f'invalid date range "{value}"')
        return value
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise _fail(path, 'must be a named range such as "7d" or a list of two ISO 8601 dates')
    first, last = _iso(value[0], f"{path}/0"), _iso(value[1], f"{path}/1")
    if type(first) is not type(last):
        raise _fail(path, "give two dates or two date-times, not one of each")
    if first > last:
        raise _fail(path, "the first date must not be after the last")
    return (first, last)


def _parse_relative_date(value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail("#/date", "must be an ISO 8601 date")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _fail("#/date", f'"{value}" is not an ISO 8601 date') from None
    _within_calendar(day, value, "#/date")
    return day


def _parse_comparisons(value: Any) -> ComparisonMode | None:
    if value is None:
        return None
    mode = value.get("mode") if isinstance(value, dict) and len(value) == 1 else None
    for known in COMPARISON_MODES:
        if mode == known:
            return known
    supported = " or ".join(f'{{"mode": "{known}"}}' for known in COMPARISON_MODES)
    raise _fail("#/include/comparisons", f"the supported comparisons are {supported}")


def _parse_pagination(value: Any) -> tuple[int, int]:
    if not isinstance(value, dict) or set(value) - {"limit", "offset"}:
        raise _fail("#/pagination", 'must be an object with "limit" and "offset"')
    limit = value.get("limit", MAX_LIMIT)
    offset = value.get("offset", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise _fail("#/pagination/limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise _fail("#/pagination/offset", f"must be a whole number from 0 to {MAX_OFFSET}")
    return limit, offset


def _parse_order_by(
    value: Any, metrics: list[str], dimensions: list[str]
) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise _fail("#/order_by", 'must be a list of [metric or dimension, "asc" | "desc"]')
    order = []
    for index, item in enumerate(value):
        path = f"#/order_by/{index}"
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
            or item[1] not in ("asc", "desc")
        ):
            raise _fail(path, 'must be [metric or dimension, "asc" | "desc"]')
        if item[0] not in metrics and item[0] not in dimensions:
            raise _fail(path, f'"{item[0]}" is neither a queried metric nor a queried dimension')
        order.append((item[0], item[1]))
    return tuple(order)
