"""Metered usage that outlives its hits: before hits are deleted (retention, erasure, a site's
removal), their pageviews are added to their account's month (`DeletedPageviews`) in the same
transaction, so that the month is billed for what it used (`ot.billing.plans.pageviews_used`).
Here, below every door that deletes hits, so that each of them can count first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ot.models import DeletedPageviews, Hit, Site

HIT: Table = Hit.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]
DELETED_PAGEVIEWS: Table = DeletedPageviews.__table__  # type: ignore[attr-defined]
PAGEVIEW = "pageview"  # a hit's name for a page view (ot.ingest.hit.PAGEVIEW, a layer above)


async def add_deleted_pageviews(connection: AsyncConnection, hits: ColumnElement[bool]) -> None:
    """Add the pageviews among `hits`, about to be deleted in the caller's transaction, to
    their accounts' months: one grouped count, whatever the number of hits."""
    month = _utc_month(connection, HIT.c.timestamp)
    counted = (
        sa_select(SITE.c.account_id, month, func.count())
        .select_from(HIT.join(SITE, SITE.c.id == HIT.c.site_id))
        .where(hits, HIT.c.name == PAGEVIEW)
        .group_by(SITE.c.account_id, month)
    )
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(DELETED_PAGEVIEWS)
    await connection.execute(
        insert.from_select(["account_id", "period", "pageviews"], counted).on_conflict_do_update(
            index_elements=["account_id", "period"],
            set_={"pageviews": DELETED_PAGEVIEWS.c.pageviews + insert.excluded.pageviews},
        )
    )


def _utc_month(connection: AsyncConnection, moment: Any) -> ColumnElement[Any]:
    """A moment's UTC month, `YYYY-MM` (a `Period`'s text)."""
    if connection.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM")
    return func.substr(moment, 1, 7)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
