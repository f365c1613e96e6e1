"""A third party's read through a grant: the query kept inside the grant, small counts hidden,
and the read logged (`grant_read`, for the customer) and audited, whether answered or refused.

Small counts: with a threshold k, every row with fewer than k visitors is left out, and pages
are cut from the rows that remain. The totals of all traffic are withheld whenever a row was
left out (or the totals themselves count fewer than k visitors): subtracting the rows shown
from true totals would give the hidden rows' counts away, and adjusted totals could not be
honest for visitors, who are not additive across rows. The answer says what was hidden
(`meta.small_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import audit
from ot.access import Scope, reachable_site
from ot.errors import InvalidInput, NotFound, OtError
from ot.grants.fit import CLIPPED_WARNING, check_names, clip_to_window
from ot.grants.store import live_grant, principal_of_grant
from ot.models import Grant, GrantRead, Site
from ot.sites import normalise_domain
from ot.stats.engine import QueryResult, run_query
from ot.stats.query import MAX_LIMIT, Query, conditions, parse_query
from ot.stats.render import v2_response

SITE_MISSING = "the site does not exist"


@dataclass(frozen=True)
class SmallCounts:
    """What was hidden from the third party for counting fewer than `threshold` visitors."""

    threshold: int
    rows_hidden: int
    comparisons_hidden: int
    totals_withheld: bool

    def as_meta(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rows_hidden": self.rows_hidden,
            "comparisons_hidden": self.comparisons_hidden,
            "totals_withheld": self.totals_withheld,
        }


@dataclass(frozen=True)
class SharedAnswer:
    site: Site
    result: QueryResult
    small_counts: SmallCounts | None


def shared_response(answer: SharedAnswer) -> dict[str, Any]:
    """Plausible's v2 answer, saying what was hidden for counting too few visitors."""
    response = v2_response(answer.result, answer.site.domain)
    if answer.small_counts is not None:
        response["meta"]["small_counts"] = answer.small_counts.as_meta()
    return response


async def _granted_site(session: AsyncSession, grant: Grant, site_ref: object) -> Site:
    """The site a query names by domain, if the grant covers it; any other exactly as missing."""
    missing = NotFound(SITE_MISSING, field="site_id")
    if not isinstance(site_ref, str):
        raise missing
    try:
        domain = normalise_domain(site_ref)
    except InvalidInput:
        raise missing from None
    site = (await session.exec(select(Site).where(Site.domain == domain))).first()
    if site is None or site.id is None:
        raise missing
    try:
        return await reachable_site(session, principal_of_grant(grant), site.id, Scope.STATS_READ)
    except NotFound:
        raise missing from None


def _with_visitors(query: Query) -> tuple[Query, int, bool]:
    """The query as run when small counts are hidden: every row, with its visitors counted.
    Returns the query, the index of `visitors` and whether it was added."""
    everything = replace(query, limit=MAX_LIMIT, offset=0)
    if "visitors" in query.metrics:
        return everything, query.metrics.index("visitors"), False
    return replace(everything, metrics=(*query.metrics, "visitors")), len(query.metrics), True


def hide_small_counts(
    result: QueryResult, asked: Query, threshold: int, visitors_at: int, added: bool
) -> SmallCounts:
    """Leave out the rows (and comparisons) under the threshold, withhold totals that would
    tell them, drop a visitors column the third party did not ask for, and cut the page."""
    shown = [row for row in result.rows if row.metrics[visitors_at] >= threshold]
    comparisons_hidden = 0
    for row in shown:
        if row.comparison is not None and row.comparison.metrics[visitors_at] < threshold:
            row.comparison = None
            comparisons_hidden += 1
    rows_hidden = len(result.rows) - len(shown)
    totals_withheld = bool(result.totals) and (
        rows_hidden > 0 or result.totals[visitors_at] < threshold
    )
    if totals_withheld:
        result.totals = []
    if added:
        for row in shown:
            row.metrics.pop(visitors_at)
            if row.comparison is not None:
                row.comparison.metrics.pop(visitors_at)
                row.comparison.change.pop(visitors_at)
        if result.totals:
            result.totals.pop(visitors_at)
    result.rows = shown[asked.offset : asked.offset + asked.limit]
    result.total_rows = len(shown)
    result.query = asked
    return SmallCounts(threshold, rows_hidden, comparisons_hidden, totals_withheld)


async def read_through_grant(
    engine: AsyncEngine, grant_id: int, via: str, body: dict[str, Any], *, now: datetime
) -> SharedAnswer:
    """Answer a v2 query body through a grant, within its limits; log and audit the read,
    answered or refused."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        grant = await live_grant(session, grant_id)
        read = GrantRead(grant_id=grant_id, at=now, via=via, outcome="refused")
        try:
            site = await _granted_site(session, grant, body.get("site_id"))
            read.site_id = site.id
            query = parse_query(body)
            read.metrics = list(query.metrics)
            read.dimensions = list(query.dimensions)
            read.filtered_dimensions = sorted({c.dimension for c in conditions(query.filters)})
            check_names(grant, query)
            answer = await _answer(engine, grant, site, query, now)
        except OtError as error:
            read.reason = f"{error.code}: {error.field or 'query'}"
            await _log(session, grant, read)
            raise
        read.outcome = "answered"
        read.first_day = answer.result.time_range.first_day
        read.last_day = answer.result.time_range.last_day
        read.rows_returned = len(answer.result.rows)
        read.rows_hidden = answer.small_counts.rows_hidden if answer.small_counts else 0
        await _log(session, grant, read)
        return answer


async def _answer(
    engine: AsyncEngine, grant: Grant, site: Site, query: Query, now: datetime
) -> SharedAnswer:
    async with engine.connect() as connection:
        query, clipped = await clip_to_window(connection, grant, site, query, now=now)
        threshold = grant.min_visitors or 0
        if threshold <= 0:
            result = await run_query(connection, site, query, now=now)
            small_counts = None
        else:
            run, visitors_at, added = _with_visitors(query)
            result = await run_query(connection, site, run, now=now)
            small_counts = hide_small_counts(result, query, threshold, visitors_at, added)
    if clipped:
        result.warnings.append(CLIPPED_WARNING)
    return SharedAnswer(site, result, small_counts)


async def _log(session: AsyncSession, grant: Grant, read: GrantRead) -> None:
    """Keep the read for the customer and in the audit trail, in one transaction."""
    session.add(read)
    await session.flush()
    await audit.record(
        session,
        "grant.read",
        actor=f"grant:{grant.id}",
        account_id=grant.account_id,
        details={
            "grant_id": grant.id,
            "read_id": read.id,
            "site_id": read.site_id,
            "outcome": read.outcome,
        },
    )
    await session.commit()
