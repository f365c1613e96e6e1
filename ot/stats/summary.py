"""A short summary of a site's recent traffic, read from the visit and hit tables: what an
operator or the quick start shows before the full stats engine is asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.ingest.hit import PAGEVIEW
from ot.models import Hit, Visit

HIT = Hit.__table__  # type: ignore[attr-defined]
VISIT = Visit.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SiteSummary:
    visitors: int
    visits: int
    pageviews: int
    events: int
    bounce_rate: float  # percent of visits
    average_visit_seconds: float
    top_pages: list[tuple[str, int]]
    top_sources: list[tuple[str, int]]


async def summarise_site(connection: AsyncConnection, site_id: int, since: datetime) -> SiteSummary:
    visits = (
        await connection.execute(
            select(
                func.count(),
                func.count(func.distinct(VISIT.c.visitor_id)),
                func.coalesce(func.sum(VISIT.c.pageviews), 0),
                func.coalesce(func.sum(VISIT.c.events), 0),
                func.coalesce(func.sum(func.cast(VISIT.c.is_bounce, VISIT.c.pageviews.type)), 0),
                func.coalesce(func.avg(VISIT.c.duration_seconds), 0),
            ).where(VISIT.c.site_id == site_id, VISIT.c.started_at >= since)
        )
    ).one()
    count, visitors, pageviews, events, bounces, average = visits
    pages = await connection.execute(
        select(HIT.c.pathname, func.count().label("n"))
        .where(HIT.c.site_id == site_id, HIT.c.timestamp >= since, HIT.c.name == PAGEVIEW)
        .group_by(HIT.c.pathname)
        .order_by(func.count().desc(), HIT.c.pathname)
        .limit(5)
    )
    sources = await connection.execute(
        select(VISIT.c.referrer_source, func.count().label("n"))
        .where(VISIT.c.site_id == site_id, VISIT.c.started_at >= since)
        .group_by(VISIT.c.referrer_source)
        .order_by(func.count().desc(), VISIT.c.referrer_source)
        .limit(5)
    )
    return SiteSummary(
        visitors=visitors,
        visits=count,
        pageviews=int(pageviews),
        events=int(events),
        bounce_rate=round(100 * int(bounces) / count, 1) if count else 0.0,
        average_visit_seconds=round(float(average), 1),
        top_pages=[(row[0], row[1]) for row in pages],
        top_sources=[(row[0], row[1]) for row in sources],
    )
