"""Plausible's older Stats API v1 (`/api/v1/stats/aggregate`, `/timeseries`, `/breakdown`,
`/realtime/visitors`), translated into v2 queries for the same engine and back into v1's
answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ot.errors import InvalidInput
from ot.stats.engine import QueryResult
from ot.stats.goals import page_pattern_regex
from ot.stats.labels import LEFT_OUT_OF_V1_BREAKDOWNS
from ot.stats.query import METRICS, Query, is_known_dimension, parse_query

PERIODS = ("day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "custom")
INTERVALS = {"hour": "time:hour", "date": "time:day", "day": "time:day", "week": "time:week",
             "month": "time:month"}  # fmt: skip
DEFAULT_BREAKDOWN_LIMIT = 100
MAX_BREAKDOWN_LIMIT = 1000


def realtime_query() -> Query:
    return parse_query({"metrics": ["visitors"], "date_range": "realtime"})


def realtime_response(result: QueryResult) -> int:
    return int(result.rows[0].metrics[0]) if result.rows else 0


def _metrics(params: Mapping[str, str], required: bool) -> list[str]:
    text = params.get("metrics", "")
    if not text.strip():
        if required:
            raise InvalidInput("The `metrics` parameter is required", field="metrics")
        return ["visitors"]
    metrics = [name.strip() for name in text.split(",")]
    for name in metrics:
        if name not in METRICS:
            raise InvalidInput(f"The metric `{name}` is not recognized", field="metrics")
    return metrics


def _date_range(params: Mapping[str, str]) -> tuple[Any, str | None]:
    """The v2 date range and relative date of v1's `period` and `date`."""
    period = params.get("period", "30d")
    if period not in PERIODS:
        raise InvalidInput(
            f"Invalid period `{period}`. Valid periods: {', '.join(PERIODS)}", field="period"
        )
    date = params.get("date") or None
    if period == "custom":
        parts = (date or "").split(",")
        if len(parts) != 2:
            raise InvalidInput(
                "A custom period needs `date` as two ISO dates: date=2024-01-01,2024-01-31",
                field="date",
            )
        return [part.strip() for part in parts], None
    return period, date


def parse_filters(text: str) -> list[Any]:
    """v1 filters, `visit:browser==Firefox|Chrome;event:page!=/blog/**`, as v2 filters. A page
    value with `*` is a wildcard pattern, as in Plausible."""
    filters: list[Any] = []
    for part in (p for p in text.split(";") if p.strip()):
        if "!=" in part:
            key, _, value = part.partition("!=")
            negated = True
        elif "==" in part:
            key, _, value = part.partition("==")
            negated = False
        else:
            raise InvalidInput(
                f"Invalid filter `{part}`: use property==value or property!=value",
                field="filters",
            )
        key = key.strip()
        if not is_known_dimension(key) or key.startswith("time"):
            raise InvalidInput(f"Invalid filter property `{key}`", field="filters")
        values = [v.strip() for v in value.split("|")]
        if any("*" in v for v in values):
            operator = "matches_not" if negated else "matches"
            values = [page_pattern_regex(v) for v in values]
        else:
            operator = "is_not" if negated else "is"
        filters.append([operator, key, values])
    return filters


def _whole_number(params: Mapping[str, str], name: str, default: int, top: int) -> int:
    text = params.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= top:
        raise InvalidInput(f"`{name}` must be a whole number from 1 to {top}", field=name)
    return int(text)


def to_query(endpoint: str, params: Mapping[str, str]) -> Query:
    date_range, date = _date_range(params)
    body: dict[str, Any] = {
        "date_range": date_range,
        "filters": parse_filters(params.get("filters", "")),
    }
    if date is not None:
        body["date"] = date
    if endpoint == "aggregate":
        body["metrics"] = _metrics(params, required=True)
        if params.get("compare") == "previous_period":
            body["include"] = {"comparisons": {"mode": "previous_period"}}
        elif params.get("compare"):
            raise InvalidInput("`compare` can only be previous_period", field="compare")
    elif endpoint == "timeseries":
        body["metrics"] = _metrics(params, required=False)
        interval = params.get("interval", "")
        if interval and interval not in INTERVALS:
            raise InvalidInput(
                f"Invalid interval `{interval}`. Valid: {', '.join(INTERVALS)}", field="interval"
            )
        body["dimensions"] = [INTERVALS[interval] if interval else "time"]
        body["include"] = {"time_labels": True}
    else:
        body["metrics"] = _metrics(params, required=False)
        prop = params.get("property", "")
        if not prop:
            raise InvalidInput("The `property` parameter is required", field="property")
        if not is_known_dimension(prop) or prop.startswith("time"):
            raise InvalidInput(f"Invalid property `{prop}`", field="property")
        limit = _whole_number(params, "limit", DEFAULT_BREAKDOWN_LIMIT, MAX_BREAKDOWN_LIMIT)
        page = _whole_number(params, "page", 1, 1_000_000)
        body["dimensions"] = [prop]
        body["pagination"] = {"limit": limit, "offset": (page - 1) * limit}
        if prop in LEFT_OUT_OF_V1_BREAKDOWNS:
            # Plausible's v1 breakdown leaves rows without a value out (ot.stats.labels).
            body["filters"].append(["is_not", prop, [""]])
    return parse_query(body)


def _short_name(dimension: str) -> str:
    """v1 names a breakdown's column by the property's last part: `visit:source` -> `source`."""
    return dimension.rsplit(":", 1)[-1]


def response(endpoint: str, params: Mapping[str, str], result: QueryResult) -> dict[str, Any]:
    query = result.query
    if endpoint == "aggregate":
        [row] = result.rows
        values: dict[str, Any] = {}
        for index, name in enumerate(query.metrics):
            values[name] = {"value": row.metrics[index]}
            if row.comparison is not None:
                values[name]["change"] = row.comparison.change[index]
        return {"results": values}
    if endpoint == "timeseries":
        found = {row.dimensions[0]: row.metrics for row in result.rows}
        zeros = [0 for _ in query.metrics]
        return {
            "results": [
                {"date": label, **dict(zip(query.metrics, found.get(label, zeros), strict=True))}
                for label in result.time_labels or []
            ]
        }
    column = _short_name(query.dimensions[0])
    return {
        "results": [
            {column: row.dimensions[0], **dict(zip(query.metrics, row.metrics, strict=True))}
            for row in result.rows
        ]
    }
