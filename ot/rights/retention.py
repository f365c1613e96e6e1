"""Per-site retention: hits older than a site's `retention_days` are deleted, with the visits
and the rollup days that lie wholly before that horizon. Their pageviews are counted first
(`ot.sites.usage`): a month is billed for what it used, whatever retention kept.

Deletes run in batches of short transactions, so the collector's writer (which needs SQLite's
one write lock) never waits for more than one batch. Also home of `delete_in_batches`, which
erasure and account purges use for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import as_utc
from ot.db import read_one_snapshot
from ot.models import Hit, RollupBitmap, RollupDay, RollupPendingDay, Site, Visit
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.sites.usage import add_deleted_pageviews

HIT: Table = Hit.__table__  # type: ignore[attr-defined]
VISIT: Table = Visit.__table__  # type: ignore[attr-defined]
ROLLUP_TABLES: tuple[Table, ...] = (
    RollupDay.__table__,  # type: ignore[attr-defined]
    RollupBitmap.__table__,  # type: ignore[attr-defined]
)
PENDING: Table = RollupPendingDay.__table__  # type: ignore[attr-defined]
RETENTION_ACTOR = Actor.system("retention")


async def delete_in_batches(
    engine: AsyncEngine, table: Table, condition: ColumnElement[bool], batch_size: int
) -> int:
    """Delete the rows of `table` (keyed by `id`) matching `condition`, `batch_size` per
    transaction; returns how many went."""
    deleted = 0
    while True:
        batch = sa_select(table.c.id).where(condition).limit(batch_size).scalar_subquery()
        async with engine.begin() as connection:
            result = await connection.execute(delete(table).where(table.c.id.in_(batch)))
        deleted += result.rowcount
        if result.rowcount < batch_size:
            return deleted


async def delete_hits_keeping_usage(
    engine: AsyncEngine, condition: ColumnElement[bool], batch_size: int
) -> int:
    """`delete_in_batches` for hits whose month may be billed yet: each batch first adds its
    pageviews to the account's month (`add_deleted_pageviews`), in the batch's transaction.

    Both statements pick the same rows: the batch is ordered (by the hit index's own order,
    so no sort), SQLite's write lock is held from the first statement (a write), and on
    PostgreSQL the transaction reads one snapshot (REPEATABLE READ)."""
    deleted = 0
    while True:
        batch = (
            sa_select(HIT.c.id)
            .where(condition)
            .order_by(HIT.c.timestamp, HIT.c.id)
            .limit(batch_size)
            .scalar_subquery()
        )
        async with engine.connect() as connection:
            await read_one_snapshot(connection)
            async with connection.begin():
                await add_deleted_pageviews(connection, HIT.c.id.in_(batch))
                result = await connection.execute(delete(HIT).where(HIT.c.id.in_(batch)))
        deleted += result.rowcount
        if result.rowcount < batch_size:
            return deleted


@dataclass
class SiteRetention:
    """What retention removed from one site (counts only: this goes to the audit trail)."""

    site_id: int
    hits: int = 0
    visits: int = 0
    rollup_rows: int = 0


@dataclass
class RetentionReport:
    sites: list[SiteRetention] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return sum(site.hits for site in self.sites)


def horizon_of(site: Site, now: datetime) -> datetime | None:
    """The moment before which the site's hits are no longer kept; None keeps everything."""
    if site.retention_days is None:
        return None
    return now - timedelta(days=site.retention_days)


async def apply_retention(
    engine: AsyncEngine, site: Site, now: datetime, batch_size: int
) -> SiteRetention:
    """Delete what one site keeps past its horizon: hits older than it, visits that ended
    before it, and rollup days (and weeks) that lie wholly before its local day."""
    assert site.id is not None
    report = SiteRetention(site.id)
    horizon = horizon_of(site, now)
    if horizon is None:
        return report
    report.hits = await delete_hits_keeping_usage(
        engine, (HIT.c.site_id == site.id) & (HIT.c.timestamp < horizon), batch_size
    )
    report.visits = await delete_in_batches(
        engine, VISIT, (VISIT.c.site_id == site.id) & (VISIT.c.last_seen_at < horizon), batch_size
    )
    # A row of span s starting on day d covers local days d .. d+s-1: wholly past when
    # d + s <= the horizon's local day (whose midnight is at or before the horizon).
    first_kept_day = horizon.astimezone(ZoneInfo(site.timezone)).date()
    async with engine.begin() as connection:
        for table in ROLLUP_TABLES:
            for span in (1, 7):
                result = await connection.execute(
                    delete(table).where(
                        table.c.site_id == site.id,
                        table.c.span_days == span,
                        table.c.day <= first_kept_day - timedelta(days=span),
                    )
                )
                report.rollup_rows += result.rowcount
        await connection.execute(
            delete(PENDING).where(PENDING.c.site_id == site.id, PENDING.c.day < first_kept_day)
        )
    return report


async def run_retention(
    engine: AsyncEngine,
    now: datetime,
    batch_size: int,
    progress: Callable[[int, int | None], None] | None = None,
) -> RetentionReport:
    """Apply every site's retention; each site that lost anything gets an audit entry (counts
    only) in its account's trail. `progress` is told the sites done, of those with a
    retention."""
    report = RetentionReport()
    async with AsyncSession(engine) as session:
        sites = list(
            (await session.exec(select(Site).where(col(Site.retention_days).is_not(None)))).all()
        )
    for sites_done, site in enumerate(sites):
        if progress is not None:
            progress(sites_done, len(sites))
        done = await apply_retention(engine, site, now, batch_size)
        report.sites.append(done)
        if done.hits or done.visits or done.rollup_rows:
            async with AsyncSession(engine) as session:
                await audit.record(
                    session,
                    AuditAction.SITE_RETENTION_APPLIED,
                    actor=RETENTION_ACTOR,
                    account_id=site.account_id,
                    details=_counts(done, site),
                )
                await session.commit()
    if progress is not None:
        progress(len(sites), len(sites))
    return report


def _counts(done: SiteRetention, site: Site) -> dict[str, Any]:
    return {
        "site_id": done.site_id,
        "retention_days": site.retention_days,
        "hits": done.hits,
        "visits": done.visits,
        "rollup_rows": done.rollup_rows,
    }


def local_days(moments: list[datetime], zone: str) -> set[date]:
    """The site-local days of some moments (to mark their rollups for rolling again)."""
    tz = ZoneInfo(zone)
    return {as_utc(moment).astimezone(tz).date() for moment in moments}
