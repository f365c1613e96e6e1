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
GOAL_COLUMNS = [column.name for column in GOAL.c]


@dataclass(frozen=True)
class SiteFacts:
    goals: tuple[Goal, ...]
    rolled_through: date | None  # None: answer from the raw tables


async def read_site_facts(connection: AsyncConnection, site: Site) -> SiteFacts:
    """Read afresh for every query: goals change through the API and the rollup job moves
    `complete_through` from another process, and neither may be seen late."""
    rows = (await connection.execute(_statement(), {"site_id": site.id})).all()
    goals = tuple(_goal(tuple(row[2:])) for row in rows if row[2] is not None)
    first = rows[0] if rows else None
    through = None
    if first is not None:
        through = usable_through(first.complete_through, first.timezone, site)
    return SiteFacts(goals, through)


@functools.lru_cache(maxsize=4096)
def _goal(values: tuple[Any, ...]) -> Goal:
    """A goal made once per content: validating a model cost more than the query's SQL. Keyed
    by every column, so a changed goal is a new one; the engine never modifies them."""
    return Goal.model_validate(dict(zip(GOAL_COLUMNS, values, strict=True)))


@functools.cache
def _statement() -> Any:
    """The site's row joined to its progress (if any) and to each of its goals (if any)."""
    return (
        select(
            PROGRESS.c.complete_through,
            PROGRESS.c.timezone,
            *GOAL.c,
        )
        .select_from(
            SITE.outerjoin(PROGRESS, PROGRESS.c.site_id == SITE.c.id).outerjoin(
                GOAL, GOAL.c.site_id == SITE.c.id
            )
        )
        .where(SITE.c.id == bindparam("site_id"))
        .order_by(GOAL.c.id)
    )
