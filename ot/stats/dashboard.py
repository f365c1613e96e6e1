"""A site's traffic at a glance: the headline figures of a period and its top pages and sources.
Every figure is the stats engine's answer to a query `/api/v2/query` could be asked, so the
dashboard, `ot-admin sites summary` and the Stats API never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ot.errors import InvalidInput
from ot.models import Site
from ot.stats.dates import TimeRange
from ot.stats.engine import Number, QueryResult, run_query
from ot.stats.query import NAMED_RANGES, Query, parse_query

HEADLINE_METRICS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "events")
TOP_ROWS = 5
# Every named range of the Stats API but "realtime", which is a moment rather than a period.
PERIODS = tuple(name for name in NAMED_RANGES if name != "realtime")


@dataclass(frozen=True)
class Ranked:
    """A page or a source, and how many visitors it had in the period."""

    name: str
    visitors: Number


@dataclass(frozen=True)
class SiteSummary:
    """What the dashboard shows first. `bounce_rate` is a percentage of visits and
    `visit_duration` the average visit's length in seconds, as the engine answers them."""

    time_range: TimeRange
    visitors: Number
    visits: Number
    pageviews: Number
    bounce_rate: Number
    visit_duration: Number
    events: Number
    top_pages: list[Ranked]
    top_sources: list[Ranked]
    # A cookieless site's visitors over several days are sums of each day's (see the engine).
    visitors_are_daily_sums: bool


def summary_queries(period: str, day: date | None = None) -> dict[str, Query]:
    """The Stats API v2 queries whose answers make the summary: the same period, ending on `day`
    (today in the site's zone by default). Raises InvalidInput for a period or day the engine
    cannot answer."""
    if period not in PERIODS:
        raise InvalidInput(
            f"unknown period {period!r} (known: {', '.join(PERIODS)})", field="period"
        )
    base: dict[str, Any] = {"date_range": period}
    if day is not None:
        base["date"] = day.isoformat()
    top = {"metrics": ["visitors"], "pagination": {"limit": TOP_ROWS}}
    bodies = {
        "headline": {**base, "metrics": list(HEADLINE_METRICS)},
        "pages": {**base, **top, "dimensions": ["event:page"]},
        "sources": {**base, **top, "dimensions": ["visit:source"]},
    }
    return {part: parse_query(body) for part, body in bodies.items()}


async def summarise_site(
    connection: AsyncConnection, site: Site, period: str, *, now: datetime, day: date | None = None
) -> SiteSummary:
    """The summary of a site over a named period (`PERIODS`), from the engine."""
    results: dict[str, QueryResult] = {}
    for part, query in summary_queries(period, day).items():
        results[part] = await run_query(connection, site, query, now=now)
    headline = results["headline"]
    [row] = headline.rows
    figures = dict(zip(HEADLINE_METRICS, row.metrics, strict=True))
    return SiteSummary(
        time_range=headline.time_range,
        visitors=figures["visitors"],
        visits=figures["visits"],
        pageviews=figures["pageviews"],
        bounce_rate=figures["bounce_rate"],
        visit_duration=figures["visit_duration"],
        events=figures["events"],
        top_pages=_ranked(results["pages"]),
        top_sources=_ranked(results["sources"]),
        visitors_are_daily_sums=headline.visitors_are_daily_sums,
    )


async def answer_summary(
    engine: AsyncEngine, site: Site, period: str, *, now: datetime, day: date | None = None
) -> SiteSummary:
    """`summarise_site` on a connection of `engine`: the job the server hands a query process
    (`ot.stats.processes`), as it does the Stats API's queries."""
    async with engine.connect() as connection:
        return await summarise_site(connection, site, period, now=now, day=day)


def _ranked(result: QueryResult) -> list[Ranked]:
    return [Ranked(name=row.dimensions[0], visitors=row.metrics[0]) for row in result.rows]
