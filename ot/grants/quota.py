"""How often a grant may be read: at most `reads_per_hour` reads in any hour. The reads are
counted in the grant's own reads log (`grant_read`), so the limit holds for the grant across
workers, hosts and restarts, whether it is read with its key or its link."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import as_utc
from ot.errors import TooManyRequests
from ot.models import Grant, GrantRead

WINDOW = timedelta(hours=1)


async def admit(
    session: AsyncSession, read: GrantRead, *, now: datetime, reads_per_hour: int
) -> None:
    """Log `read` as begun and commit it, or refuse it (TooManyRequests, with the seconds until
    the oldest read of the hour leaves it) and log nothing. `reads_per_hour` 0: no limit.

    The session must be in no transaction: on SQLite this one begins by writing (the insert
    takes the write lock, so admissions are one at a time); on PostgreSQL the grant's row is
    locked first, so two reads of one grant are never both admitted on one stale count."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.exec(select(Grant.id).where(Grant.id == read.grant_id).with_for_update())
    session.add(read)
    await session.flush()
    if reads_per_hour > 0:
        earlier = (
            select(GrantRead.at)
            .where(
                GrantRead.grant_id == read.grant_id,
                col(GrantRead.id) != read.id,
                # Not `at <= now`: a read admitted just before this one may carry a later
                # moment than this one's (its clock was read after this one's).
                col(GrantRead.at) > now - WINDOW,
            )
            .order_by(col(GrantRead.at))
        )
        count = (await session.exec(select(func.count()).select_from(earlier.subquery()))).one()
        if count >= reads_per_hour:
            # A read fits again once all but reads_per_hour - 1 of these have left the hour.
            freed_by = (await session.exec(earlier.offset(count - reads_per_hour).limit(1))).one()
            await session.rollback()
            wait = (as_utc(freed_by) + WINDOW - now).total_seconds()
            raise TooManyRequests(
                f"this grant may be read {reads_per_hour} times an hour: try again later",
                retry_after=max(1, math.ceil(wait)),
                field="token",
            )
    await session.commit()
