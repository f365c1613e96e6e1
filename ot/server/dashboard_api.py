"""What a customer's dashboard asks of one site under `/ot/v1/sites/{site_id}/`: its goals (list,
add, remove), its tracking snippet, and the summary of its traffic over a period.

Reading needs `sites:read` (the summary `stats:read`), changing goals `sites:write`, and a role
in the site's team that allows it; a site the caller cannot see answers as a missing one. Goal
changes are written to the audit trail by the core (`ot.stats.goals`)."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope, reachable_site, writable_site
from ot.api.dashboard import DashboardSummary, Ranked, Snippet
from ot.api.goals import GoalList, GoalOut, NewGoal
from ot.billing.dunning import refuse_if_locked
from ot.clock import utcnow
from ot.errors import InvalidInput
from ot.models import Goal, GoalKind, Site
from ot.server.answers import json_answer
from ot.server.app_keys import QUERIES, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import path_id
from ot.sites.snippet import tracking_snippet
from ot.stats import dashboard, goals


async def _site(request: web.Request, scope: Scope) -> Site:
    """The path's site, if the caller may do `scope` on it (read it, or read its stats)."""
    async with AsyncSession(engine_for(request)) as session:
        site = await reachable_site(session, request[PRINCIPAL], path_id(request, "site_id"), scope)
        if scope == Scope.STATS_READ:
            await refuse_if_locked(session, site.account_id)
        return site


def _goal_out(goal: Goal) -> GoalOut:
    assert goal.id is not None
    return GoalOut(
        id=goal.id,
        kind="page" if goal.kind == GoalKind.PAGE else "event",
        target=goal.target,
        name=goal.display_name,
        created_at=goal.created_at,
    )


@endpoint(RouteNeeds.ACCOUNT, scope=Scope.SITES_READ, summary="A site's goals", answers=GoalList)
async def list_goals(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    async with AsyncSession(engine_for(request)) as session:
        await reachable_site(session, request[PRINCIPAL], site_id, Scope.SITES_READ)
        found = await goals.list_goals(session, site_id)
    return json_answer(GoalList(goals=[_goal_out(goal) for goal in found]))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Add a goal to a site: a page reached or a custom event",
    body=NewGoal,
    answers=GoalOut,
    status=201,
)
async def add_goal(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewGoal)
    async with transaction(request, locked=False) as session:
        site = await writable_site(session, principal, path_id(request, "site_id"))
        assert site.id is not None
        goal = await goals.add_goal(
            session,
            site.id,
            page=body.page,
            event=body.event,
            display_name=body.name,
            actor=principal.actor,
        )
    return json_answer(_goal_out(goal), status=201)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Remove a goal of a site (its past conversions are no longer counted)",
    answers=GoalOut,
)
async def remove_goal(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with transaction(request, locked=False) as session:
        site = await writable_site(session, principal, path_id(request, "site_id"))
        assert site.id is not None
        goal = await goals.goal_of(session, site.id, path_id(request, "goal_id"))
        removed = _goal_out(goal)
        await goals.delete_goal(session, site, goal, actor=principal.actor)
    return json_answer(removed)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_READ,
    summary="A site's tracking snippet, matching its settings",
    answers=Snippet,
)
async def site_snippet(request: web.Request) -> web.Response:
    site = await _site(request, Scope.SITES_READ)
    assert site.id is not None
    snippet = tracking_snippet(site, request.app[SETTINGS])
    return json_answer(Snippet(site_id=site.id, domain=site.domain, snippet=snippet))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.STATS_READ,
    summary="A site's traffic over a period: visitors, visits, pageviews, bounce rate, visit "
    "duration, top pages and sources (as /api/v2/query counts them)",
    answers=DashboardSummary,
)
async def site_summary(request: web.Request) -> web.Response:
    """`period` is a Stats API period (`day`, `7d`, `28d`, `30d`, `91d`, `month`, `6mo`, `12mo`,
    `year`, `all`; `7d` when not given); `date` (ISO 8601) is the day it ends on, today in the
    site's time zone when not given."""
    period = request.query.get("period", "7d")
    day = _day(request.query.get("date"))
    dashboard.summary_queries(period, day)  # refuses a bad period before a process is asked
    site = await _site(request, Scope.STATS_READ)
    assert site.id is not None
    # In a query process of its own, within the time budget, as the Stats API's queries.
    summary = await request.app[QUERIES].call(
        dashboard.answer_summary, site, period, now=utcnow(), day=day
    )
    return json_answer(
        DashboardSummary(
            site_id=site.id,
            domain=site.domain,
            period=period,
            first_day=summary.time_range.first_day,
            last_day=summary.time_range.last_day,
            visitors=int(summary.visitors),
            visits=int(summary.visits),
            pageviews=int(summary.pageviews),
            bounce_rate=summary.bounce_rate,
            visit_duration=summary.visit_duration,
            events=int(summary.events),
            top_pages=[Ranked(name=r.name, visitors=int(r.visitors)) for r in summary.top_pages],
            top_sources=[
                Ranked(name=r.name, visitors=int(r.visitors)) for r in summary.top_sources
            ],
            visitors_are_daily_sums=summary.visitors_are_daily_sums,
        )
    )


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"date {text!r} is not an ISO 8601 date", field="date") from None
