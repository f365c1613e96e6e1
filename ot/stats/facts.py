"""What every query of a site reads before its figures: the site's goals and through which day
its rollups are complete, in one statement (on this path a round trip costs more than rows)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Goal, Site
from ot.rollups.read import usable_through
from ot.rollups.rolling import PROGRESS
from ot.stats.goals import GOAL

SITE = Site.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SiteFacts:
    goals: tuple[Goal, ...]
    rolled_through: date | None  # None: answer from the raw tables


async def read_site_facts(connection: AsyncConnection, site: Site) -> SiteFacts:
    """Read afresh for every query: goals change through the API and the rollup job moves
    `complete_through` from another process, and neither may be seen late."""
    rows = (await connection.execute(_statement(), {"site_id": site.id})).all()
    goals = tuple(
        Goal.model_validate({column.name: row[f"goal_{column.name}"] for column in GOAL.c})
        for row in (row._mapping for row in rows)
        if row["goal_id"] is not None
    )
    first = rows[0] if rows else None
    through = None
    if first is not None:
        through = usable_through(first.complete_through, first.timezone, site)
    return SiteFacts(goals, through)


@functools.cache
def _statement() -> Any:
    """The site's row joined to its progress (if any) and to each of its goals (if any)."""
    return (
        select(
            PROGRESS.c.complete_through,
            PROGRESS.c.timezone,
            *(column.label(f"goal_{column.name}") for column in GOAL.c),
        )
        .select_from(
            SITE.outerjoin(PROGRESS, PROGRESS.c.site_id == SITE.c.id).outerjoin(
                GOAL, GOAL.c.site_id == SITE.c.id
            )
        )
        .where(SITE.c.id == bindparam("site_id"))
        .order_by(GOAL.c.id)
    )
