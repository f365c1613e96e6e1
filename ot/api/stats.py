"""The Plausible-compatible routes' shapes, as Plausible documents them: the Stats API v2 query
(`POST /api/v2/query`) and its answer, the v1 answers (`GET /api/v1/stats/...`), and the Sites
API's answers (`GET /api/v1/sites`). The server builds these answers as plain JSON to keep
Plausible's exact shape; these models describe and parse them."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, RootModel

from ot.api.common import Model, Strict
from ot.api.errors import ErrorDetail

# --- Stats API v2 -------------------------------------------------------------------------


class StatsQuery(Model):
    """A Stats API v2 query. Unset fields are left out of the request (the server's defaults
    apply); the server checks every part of it (`ot.stats.query`)."""

    site_id: str = Field(description="The site's domain.")
    metrics: list[str] = Field(description="Metrics such as visitors, pageviews, bounce_rate.")
    date_range: str | list[str] = Field(
        description="A period such as `7d`, `30d`, `month`, `all`, or two ISO dates."
    )
    dimensions: list[str] | None = Field(
        default=None, description="Properties to break down by, such as `event:page`."
    )
    filters: list[Any] | None = Field(
        default=None, description='Filters, such as `["is", "visit:country", ["NL"]]`.'
    )
    order_by: list[Any] | None = Field(
        default=None, description='Sort order, such as `[["visitors", "desc"]]`.'
    )
    include: dict[str, Any] | None = Field(
        default=None,
        description="Extras: `time_labels`, `total_rows`, `totals`, `imports`, `comparisons` "
        '(`{"mode": "previous_period"}` or `{"mode": "year_over_year"}`).',
    )
    pagination: dict[str, int] | None = Field(
        default=None, description="`limit` and `offset` of the rows answered."
    )


class Comparison(Model):
    dimensions: list[Any] = Field(description="The row's dimension values in the other period.")
    metrics: list[Any] = Field(description="The metrics in the compared period.")
    change: list[Any] = Field(description="The change of each metric, in percent or points.")


class ResultRow(Model):
    metrics: list[Any] = Field(description="One value per metric asked for, in that order.")
    dimensions: list[Any] = Field(description="One value per dimension asked for, in order.")
    comparison: Comparison | None = Field(
        default=None, description="The same row in the compared period, if one was asked for."
    )


class QueryEcho(Model):
    """The query as the server understood it."""

    model_config = ConfigDict(extra="allow")

    site_id: str = Field(description="The site's domain.")
    metrics: list[str] = Field(description="The metrics answered.")
    date_range: list[str] = Field(description="The period answered: first and last instant.")
    dimensions: list[str] = Field(description="The dimensions answered.")
    filters: list[Any] = Field(description="The filters applied.")
    order_by: list[Any] = Field(description="The sort order.")
    include: dict[str, Any] = Field(description="The extras asked for.")
    pagination: dict[str, int] = Field(description="`limit` and `offset`.")
    comparison_date_range: list[str] | None = Field(
        default=None, description="The compared period, if any."
    )


class QueryAnswer(Model):
    """The answer of `POST /api/v2/query`."""

    results: list[ResultRow] = Field(description="The rows.")
    meta: dict[str, Any] = Field(
        description="Extras: time_labels, total_rows, totals, warnings, and for shared reads "
        "small_counts."
    )
    query: QueryEcho = Field(description="The query as the server understood it.")


# --- several queries in one request (ours, /ot/v1) -----------------------------------------

MAX_QUERIES_AT_ONCE = 50


class QueryBatch(Strict):
    """The body of `POST /ot/v1/stats/queries`: Stats API v2 queries asked together, such as
    the panels of a dashboard. Each is checked and answered on its own."""

    queries: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_QUERIES_AT_ONCE,
        description=f"Up to {MAX_QUERIES_AT_ONCE} queries, each as `POST /api/v2/query` takes it.",
    )


class QueryBatchLine(Model):
    """One line of the answer of `POST /ot/v1/stats/queries` (JSON lines, each as soon as its
    query is answered, in that order): a query's answer or what refused it."""

    index: int = Field(description="The query's place in `queries`, from 0.")
    status: int = Field(description="200, or the status the query alone would have answered.")
    answer: QueryAnswer | None = Field(default=None, description="The answer, if status is 200.")
    error: ErrorDetail | None = Field(default=None, description="Else what went wrong.")
    retry_after: int | None = Field(
        default=None, description="Seconds to wait before asking again, when that will help."
    )


# --- Stats API v1 -------------------------------------------------------------------------


class AggregateValue(Model):
    value: Any = Field(description="The metric's value.")
    change: Any = Field(default=None, description="The change against the compared period.")


class AggregateAnswer(Model):
    results: dict[str, AggregateValue] = Field(description="Each metric asked for, by name.")


class SeriesAnswer(Model):
    """A time series or a breakdown: one object per date or per value, the metrics by name."""

    results: list[dict[str, Any]] = Field(description="The rows.")


class RealtimeVisitors(RootModel[int]):
    """Visitors in the last five minutes: a bare number."""


# --- Sites API ----------------------------------------------------------------------------


class PlausibleSite(Model):
    domain: str = Field(description="The site's domain, Plausible's `site_id`.")
    timezone: str = Field(description="The IANA time zone days are counted in.")


class PlausibleSiteDetail(PlausibleSite):
    custom_properties: list[str] = Field(
        description="The custom properties allowed (every one is, so always empty)."
    )


class PageMeta(Model):
    after: str | None = Field(description="Cursor of the next page, if there is one.")
    before: str | None = Field(description="Cursor of the previous page, if there is one.")
    limit: int = Field(description="Sites per page.")


class PlausibleSiteList(Model):
    sites: list[PlausibleSite] = Field(description="The caller's sites, newest first.")
    meta: PageMeta = Field(description="Paging cursors.")
