"""What every query of a site reads before its figures: the site's goals and through which day
its rollups hold exactly what the raw tables hold, in one statement (on this path a round trip
costs more than rows); on PostgreSQL, two (see `_first_changed`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Goal, RollupPendingDay, Site
from ot.rollups.read import current_through, usable_through
from ot.rollups.rolling import HIT, PROGRESS, VISIT
from ot.stats.goals import GOAL

SITE = Site.__table__  # type: ignore[attr-defined]
PENDING = RollupPendingDay.__table__  # type: ignore[attr-defined]
GOAL_COLUMNS = [column.name for column in GOAL.c]
FIRST_GOAL_COLUMN = 4


@dataclass(frozen=True)
class SiteFacts:
    goals: tuple[Goal, ...]
    rolled_through: date | None  # None: answer from the raw tables


async def read_site_facts(connection: AsyncConnection, site: Site, now: datetime) -> SiteFacts:
    """Read afresh for every query: goals change through the API, the rollup job moves
    `complete_through` from another process and hits arrive all the time, and none of them
    may be seen late."""
    apart = connection.dialect.name == "postgresql"
    rows = (await connection.execute(_statement(apart), {"site_id": site.id})).all()
    goals = tuple(
        _goal(tuple(row[FIRST_GOAL_COLUMN:])) for row in rows if row[FIRST_GOAL_COLUMN] is not None
    )
    first = rows[0] if rows else None
    through = None
    if first is not None and first.complete_through is not None:
        if apart:
            first_changed = (
                await connection.execute(
                    _first_changed(), {"site_id": site.id, "watermark": first.hit_watermark}
                )
            ).scalar()
        else:
            first_changed = first.first_changed
        zone = ZoneInfo(site.timezone)
        through = current_through(
            usable_through(first.complete_through, first.timezone, site),
            first_pending=first.first_pending,
            first_changed=first_changed,
            zone=zone,
            today=now.astimezone(zone).date(),
        )
    return SiteFacts(goals, through)


@functools.lru_cache(maxsize=4096)
def _goal(values: tuple[Any, ...]) -> Goal:
    """A goal made once per content: validating a model cost more than the query's SQL. Keyed
    by every column, so a changed goal is a new one; the engine never modifies them."""
    return Goal.model_validate(dict(zip(GOAL_COLUMNS, values, strict=True)))


@functools.cache
def _statement(apart: bool) -> Any:
    """The site's row joined to its progress (if any) and to each of its goals (if any), with
    the first day marked to roll again and (unless `apart`: then the job's `hit_watermark`)
    the start of the earliest visit that a hit newer than the rollup job's last look belongs
    to (see `ot.rollups.read.current_through`). The subqueries refer to no outer row, so each
    runs once, not once per goal."""
    site_id: Any = bindparam("site_id")
    watermark = (
        select(PROGRESS.c.hit_watermark).where(PROGRESS.c.site_id == site_id).scalar_subquery()
    )
    first_pending = (
        select(func.min(PENDING.c.day)).where(PENDING.c.site_id == site_id).scalar_subquery()
    )
    last = PROGRESS.c.hit_watermark if apart else _changed_since(watermark).scalar_subquery()
    return (
        select(
            PROGRESS.c.complete_through,
            PROGRESS.c.timezone,
            first_pending.label("first_pending"),
            last.label("hit_watermark" if apart else "first_changed"),
            *GOAL.c,
        )
        .select_from(
            SITE.outerjoin(PROGRESS, PROGRESS.c.site_id == SITE.c.id).outerjoin(
                GOAL, GOAL.c.site_id == SITE.c.id
            )
        )
        .where(SITE.c.id == site_id)
        .order_by(GOAL.c.id)
    )


@functools.cache
def _first_changed() -> Any:
    """`_changed_since` a bound `watermark`, on PostgreSQL: there the watermark read in the
    same statement is a parameter the planner cannot see, so it planned a parallel scan of a
    third of `hit` for the few new hits, and starting its workers took about 20 ms of every
    query; given the value, it plans a scan of the few."""
    return _changed_since(bindparam("watermark"))


def _changed_since(watermark: Any) -> Any:
    """The start of the earliest visit with a hit newer than `watermark`."""
    site_id: Any = bindparam("site_id")
    # `site_id + 0`: an expression no index serves, so that the few new hits are found by id
    # (SQLite would otherwise read every hit of the site through its site index).
    return (
        select(func.min(VISIT.c.started_at))
        .select_from(HIT.join(VISIT, VISIT.c.id == HIT.c.visit_id))
        .where(HIT.c.site_id + 0 == site_id, HIT.c.id > watermark)
    )
