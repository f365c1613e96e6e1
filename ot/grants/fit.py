"""Keeping a query inside its grant: only granted metrics and dimensions (filters included),
and only days inside the grant's window.

A query naming anything outside the grant is refused (Forbidden, naming what is outside). A
date range reaching past the window is clipped to it, and the answer says so in its warnings;
one entirely outside the window is refused, and so is a comparison with a previous period (or
the days a year earlier) that lies outside it. Clipping, not refusing, keeps named ranges ("7d",
"12mo", "all") usable for a grant of a fixed window.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from ot.errors import Forbidden
from ot.models import Grant, Site
from ot.stats.dates import TimeRange, compared_range, day_start
from ot.stats.engine import query_range
from ot.stats.query import DateRange, Query, conditions

CLIPPED_WARNING = "The date range was clipped to the days this grant covers."
_INSTANT = timedelta(microseconds=1)


def check_names(grant: Grant, query: Query) -> None:
    """Refuse metrics, dimensions and filters that the grant does not name."""
    for metric in query.metrics:
        if metric not in grant.metrics:
            raise Forbidden(
                f'metric "{metric}" is outside this grant (granted: {", ".join(grant.metrics)})',
                field="metrics",
            )
    granted = ", ".join(grant.dimensions) or "none"
    for dimension in query.dimensions:
        if dimension not in grant.dimensions:
            raise Forbidden(
                f'dimension "{dimension}" is outside this grant (granted: {granted})',
                field="dimensions",
            )
    for condition in conditions(query.filters):
        if condition.dimension not in grant.dimensions:
            raise Forbidden(
                f'filtering on "{condition.dimension}" is outside this grant '
                f"(granted dimensions: {granted})",
                field="filters",
            )


def _window(grant: Grant, zone: ZoneInfo, asked: TimeRange) -> tuple[datetime, datetime]:
    start = day_start(grant.date_from, zone) if grant.date_from else asked.start
    end = day_start(grant.date_to + timedelta(days=1), zone) if grant.date_to else asked.end
    return start, end


def _describe(grant: Grant) -> str:
    first = grant.date_from.isoformat() if grant.date_from else "the first day"
    last = grant.date_to.isoformat() if grant.date_to else "today"
    return f"{first} to {last}"


def _as_range(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[TimeRange, DateRange]:
    """The clipped range, and how a query states it: whole local days where it is whole days."""
    first_day = start.astimezone(zone).date()
    last_day = (end - _INSTANT).astimezone(zone).date()
    spec: DateRange
    if day_start(first_day, zone) == start and day_start(last_day + timedelta(days=1), zone) == end:
        spec = (first_day, last_day)
    else:
        spec = (start.astimezone(zone), (end - _INSTANT).astimezone(zone))
    return TimeRange(start, end, first_day, last_day, zone), spec


async def clip_to_window(
    connection: AsyncConnection, grant: Grant, site: Site, query: Query, *, now: datetime
) -> tuple[Query, bool]:
    """The query with its date range inside the grant's window, and whether it was clipped."""
    if grant.date_from is None and grant.date_to is None:
        return query, False
    assert site.id is not None
    zone = ZoneInfo(site.timezone)
    asked = await query_range(connection, site, query, now=now)
    window_start, window_end = _window(grant, zone, asked)
    start, end = max(asked.start, window_start), min(asked.end, window_end)
    if start >= end:
        raise Forbidden(
            f"the date range lies outside the days this grant covers ({_describe(grant)})",
            field="date_range",
        )
    clipped = (start, end) != (asked.start, asked.end)
    time_range, spec = _as_range(start, end, zone)
    if (
        query.comparison is not None
        and grant.date_from is not None
        and compared_range(time_range, query.comparison).start < window_start
    ):
        compared = "previous period" if query.comparison == "previous_period" else "year before"
        raise Forbidden(
            f"the {compared} lies outside the days this grant covers ({_describe(grant)})",
            field="include",
        )
    if not clipped:
        return query, False
    return replace(query, date_range=spec, relative_date=None), True
