"""Goals: what a site's owner wants visitors to do, as a page (path pattern) or a custom event.

Outbound-link clicks ("Outbound Link: Click"), file downloads ("File Download") and 404 pages
("404", sent by `ot('404')` on the error page, as with Plausible) are custom events, so each
can be a goal like any other.

`create_goal` and `delete_goal` are the changes a person makes (a customer through the API, an
operator through `ot-admin goals`): each writes its audit entry naming its actor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import and_, false, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.errors import Conflict, InvalidInput, NotFound
from ot.ingest.hit import PAGEVIEW
from ot.models import Goal, GoalKind, Hit, Site
from ot.security import audit
from ot.security.audit import Actor, AuditAction

HIT = Hit.__table__  # type: ignore[attr-defined]
GOAL = Goal.__table__  # type: ignore[attr-defined]
MAX_GOALS_PER_SITE = 100
MAX_NAME_LENGTH = 120


def page_pattern_regex(pattern: str) -> str:
    """A path pattern as an anchored regular expression: `*` matches within one path segment,
    `**` across segments (`/blog/**`), anything else literally."""
    parts = re.split(r"(\*\*|\*)", pattern)
    translated = {"**": ".*", "*": "[^/]*"}
    return "^" + "".join(translated.get(part) or re.escape(part) for part in parts) + "$"


def literal_starts(patterns: Iterable[str]) -> list[str]:
    """Texts that every path matching one of `patterns` starts with (each pattern up to its
    first wildcard), without those that another one already covers."""
    starts: list[str] = []
    for start in sorted({pattern.split("*", 1)[0] for pattern in patterns}):
        if not any(start.startswith(shorter) for shorter in starts):
            starts.append(start)
    return starts


def goal_condition(goal: Goal, hit: object = HIT) -> ColumnElement[bool]:
    """The hits that complete a goal. A page pattern's literal start is compared before the
    pattern is matched, and a pattern without wildcards is one page, compared: on SQLite each
    match calls Python (ot.regex) for the row."""
    columns = hit.c  # type: ignore[attr-defined]
    if goal.kind == GoalKind.PAGE:
        if "*" not in goal.target:
            return and_(columns.name == PAGEVIEW, columns.pathname == goal.target)
        start = literal_starts([goal.target])[0]
        return and_(
            columns.name == PAGEVIEW,
            func.substr(columns.pathname, 1, len(start)) == start,
            columns.pathname.regexp_match(page_pattern_regex(goal.target)),
        )
    return columns.name == goal.target


def any_goal_condition(goals: list[Goal]) -> ColumnElement[bool]:
    return or_(*(goal_condition(goal) for goal in goals)) if goals else false()


async def add_goal(
    session: AsyncSession,
    site_id: int,
    *,
    page: str | None = None,
    event: str | None = None,
    display_name: str | None = None,
    actor: Actor,
) -> Goal:
    if (page is None) == (event is None):
        raise InvalidInput("a goal is either a page (path pattern) or an event name", field="kind")
    if page is not None:
        kind, target = GoalKind.PAGE, page.strip()
        if not target.startswith("/"):
            raise InvalidInput(
                f"page goal '{target}' must start with '/' (wildcards * and ** allowed)",
                field="page",
            )
    else:
        kind, target = GoalKind.EVENT, (event or "").strip()
        if not target:
            raise InvalidInput("the event name must not be blank", field="event")
    name = (display_name or (f"Visit {target}" if kind == GoalKind.PAGE else target)).strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the goal name must have 1 to {MAX_NAME_LENGTH} characters", field="name"
        )
    existing = await list_goals(session, site_id)
    if any(goal.display_name == name for goal in existing):
        raise Conflict(f"the site already has a goal named '{name}'", field="name")
    if len(existing) >= MAX_GOALS_PER_SITE:
        raise InvalidInput(f"a site has at most {MAX_GOALS_PER_SITE} goals", field="name")
    goal = Goal(site_id=site_id, kind=kind, target=target, display_name=name, created_at=utcnow())
    session.add(goal)
    await session.flush()
    await audit.record(
        session,
        AuditAction.GOAL_ADDED,
        actor=actor,
        account_id=await _team_of(session, site_id),
        details={"site_id": site_id, "goal_id": goal.id},
    )
    return goal


async def _team_of(session: AsyncSession, site_id: int) -> int | None:
    """The account whose trail a goal's change belongs to: its site's."""
    site = await session.get(Site, site_id)
    return site.account_id if site is not None else None


async def list_goals(session: AsyncSession, site_id: int) -> list[Goal]:
    query = select(Goal).where(Goal.site_id == site_id).order_by(Goal.id)  # type: ignore[arg-type]
    return list((await session.exec(query)).all())


async def goal_of(session: AsyncSession, site_id: int, goal_id: int) -> Goal:
    """One of the site's goals by its id; another site's goal answers as a missing one."""
    goal = await session.get(Goal, goal_id)
    if goal is None or goal.site_id != site_id:
        raise NotFound(f"goal {goal_id} does not exist", field="goal_id")
    return goal


async def goal_named(session: AsyncSession, site_id: int, display_name: str) -> Goal:
    """One of the site's goals by its display name (names are unique within a site)."""
    for goal in await list_goals(session, site_id):
        if goal.display_name == display_name:
            return goal
    raise NotFound(f"the site has no goal named '{display_name}'", field="name")


async def delete_goal(session: AsyncSession, site: Site, goal: Goal, *, actor: Actor) -> None:
    """Remove a goal of the site, written to the audit trail under `actor`. Its past hits stay:
    they just no longer count as conversions."""
    assert goal.site_id == site.id
    await session.delete(goal)
    await session.flush()
    await audit.record(
        session,
        AuditAction.GOAL_REMOVED,
        actor=actor,
        account_id=site.account_id,
        details={"site_id": site.id, "goal_id": goal.id},
    )
