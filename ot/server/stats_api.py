"""The Plausible-compatible API's handlers: the Stats API's v2 `POST /api/v2/query` (JSON or
CSV) and v1 `GET /api/v1/stats/...`, and the Sites API's `GET /api/v1/sites` and
`GET /api/v1/sites/{site_id}`; every error under `/api/` in Plausible's shape `{"error": "..."}`
(`plausible_errors`), including unknown paths and methods.

The Stats API handlers take the caller the authorise middleware let in (a session or a key with
`stats:read`, or for v2 a grant's key), find the site it may read, and hand the query to the
engine; the Sites API takes a session or a key with `sites:read`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import PrincipalKind, Scope
from ot.api.stats import (
    AggregateAnswer,
    PlausibleSiteDetail,
    PlausibleSiteList,
    QueryAnswer,
    RealtimeVisitors,
    SeriesAnswer,
)
from ot.billing.dunning import refuse_if_locked
from ot.clock import utcnow
from ot.errors import NotFound, OtError
from ot.grants.reads import read_through_grant_in_query_process, shared_response
from ot.ingest._fields import json_object_body
from ot.models import Site
from ot.server.answers import NO_STORE, json_answer
from ot.server.app_keys import CLOCK, ENGINE, LIMITS, QUERIES, SETTINGS
from ot.server.auth import PRINCIPAL, RouteNeeds, endpoint
from ot.server.bodies import read_body
from ot.server.errors import status_of
from ot.sites.listing import list_site_page, parse_limit, readable_site_by_domain
from ot.stats import v1
from ot.stats.engine import QueryResult
from ot.stats.processes import answer_query
from ot.stats.query import Query, parse_query
from ot.stats.render import to_csv, v2_response

PLAUSIBLE_PREFIX = "/api/"
SITE_NOT_FOUND = "Site does not exist or user does not have access to it."


def plausible_error(error: OtError) -> web.Response:
    headers = {**NO_STORE, **({"Retry-After": str(error.retry_after)} if error.retry_after else {})}
    return json_answer({"error": error.message}, status=status_of(error), headers=headers)


@web.middleware
async def plausible_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under `/api/` every error answers Plausible's `{"error": "..."}`, whatever raised it (a
    refused credential, an unknown path or method, a bug). It wraps the middleware that maps
    failures to our shape and only reshapes that answer, so status and headers (`Allow`,
    `Retry-After`) stay what the mapping decided. The collector's endpoints answer their own
    errors (both shapes, see `ot.server.collect`) and never come here
    (`middlewares.collector_shortcut`); `/ot/v1` keeps ours."""
    response = await handler(request)
    if (
        response.status < 400
        or not request.path.startswith(PLAUSIBLE_PREFIX)
        or not isinstance(response, web.Response)
        or response.content_type != "application/json"
        or not isinstance(response.body, bytes)
    ):
        return response
    try:
        error = json.loads(response.body)["error"]
        message = error["message"]
    except (ValueError, TypeError, KeyError):
        return response  # already Plausible's shape (the Stats API's handlers), or not ours
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in ("Content-Type", "Content-Length")
    }
    return json_answer({"error": message}, status=response.status, headers=headers)


async def readable_site(request: web.Request, site_id: object) -> Site:
    """The site the caller asked for by domain (Plausible's `site_id`), if it may read its stats:
    another account's site, an unknown one and a malformed name all answer alike."""
    async with AsyncSession(request.app[ENGINE]) as session:
        try:
            site = await readable_site_by_domain(
                session, request[PRINCIPAL], site_id, Scope.STATS_READ
            )
        except NotFound:
            raise NotFound(SITE_NOT_FOUND, field="site_id") from None
        await refuse_if_locked(session, site.account_id)
        return site


async def _run(request: web.Request, site: Site, query: Query) -> QueryResult:
    # In a query process of its own, within the time budget (`ot.stats.processes`).
    return await request.app[QUERIES].call(answer_query, site, query, now=utcnow())


@endpoint(
    RouteNeeds.STATS_API,
    scope=Scope.STATS_READ,
    summary="Query stats (Plausible Stats API v2)",
    answers=QueryAnswer,
    takes_grant_key=True,
)
async def query_v2(request: web.Request) -> web.StreamResponse:
    """POST /api/v2/query — Plausible's Stats API v2."""
    try:
        body = json_object_body(await read_body(request), request.app[LIMITS], what="(the query)")
        principal = request[PRINCIPAL]
        if principal.kind is PrincipalKind.GRANT:
            assert principal.grant_id is not None
            return await _query_v2_through_grant(request, principal.grant_id, body)
        site = await readable_site(request, body.get("site_id"))
        query = parse_query(body)
        result = await _run(request, site, query)
    except OtError as error:
        return plausible_error(error)
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(
            text=to_csv(result), content_type="text/csv", charset="utf-8", headers=NO_STORE
        )
    return json_answer(v2_response(result, site.domain), headers=NO_STORE)


async def _query_v2_through_grant(
    request: web.Request, grant_id: int, body: dict[str, Any]
) -> web.StreamResponse:
    """A third party's grant key: the same query, within the grant's limits (`ot.grants`)."""
    try:
        answer = await request.app[QUERIES].call(
            read_through_grant_in_query_process,
            request.app[SETTINGS],
            grant_id,
            "key",
            body,
            now=request.app[CLOCK].now(),  # the grant's reads an hour are counted by it
        )
    except NotFound:
        raise NotFound(SITE_NOT_FOUND, field="site_id") from None  # in Plausible's words
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(
            text=to_csv(answer.result), content_type="text/csv", charset="utf-8", headers=NO_STORE
        )
    return json_answer(shared_response(answer), headers=NO_STORE)


async def _v1(request: web.Request, endpoint: str) -> web.StreamResponse:
    params = dict(request.query)
    try:
        site = await readable_site(request, params.get("site_id"))
        if endpoint == "realtime":
            result = await _run(request, site, v1.realtime_query())
            return json_answer(RealtimeVisitors(v1.realtime_response(result)), headers=NO_STORE)
        query = v1.to_query(endpoint, params)
        result = await _run(request, site, query)
    except OtError as error:
        return plausible_error(error)
    answer: Any = v1.response(endpoint, params, result)
    return json_answer(answer, headers=NO_STORE)


@endpoint(
    RouteNeeds.STATS_API,
    scope=Scope.STATS_READ,
    summary="Aggregate stats (Plausible Stats API v1)",
    answers=AggregateAnswer,
)
async def aggregate_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/aggregate"""
    return await _v1(request, "aggregate")


@endpoint(
    RouteNeeds.STATS_API,
    scope=Scope.STATS_READ,
    summary="Time series (Plausible Stats API v1)",
    answers=SeriesAnswer,
)
async def timeseries_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/timeseries"""
    return await _v1(request, "timeseries")


@endpoint(
    RouteNeeds.STATS_API,
    scope=Scope.STATS_READ,
    summary="Breakdown (Plausible Stats API v1)",
    answers=SeriesAnswer,
)
async def breakdown_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/breakdown"""
    return await _v1(request, "breakdown")


@endpoint(
    RouteNeeds.STATS_API,
    scope=Scope.STATS_READ,
    summary="Visitors in the last 5 minutes (Plausible Stats API v1)",
    answers=RealtimeVisitors,
)
async def realtime_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/realtime/visitors"""
    return await _v1(request, "realtime")


def _site_json(site: Site) -> dict[str, Any]:
    return {"domain": site.domain, "timezone": site.timezone}


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_READ,
    summary="List my sites (Plausible Sites API)",
    answers=PlausibleSiteList,
)
async def list_sites_v1(request: web.Request) -> web.Response:
    """GET /api/v1/sites — newest first; `limit` (100, at most 1,000), `after`/`before` cursors
    from `meta`, `team_id` for one team's sites."""
    params = request.query
    async with AsyncSession(request.app[ENGINE]) as session:
        page = await list_site_page(
            session,
            request[PRINCIPAL],
            after=params.get("after") or None,
            before=params.get("before") or None,
            limit=parse_limit(params.get("limit")),
            team_id=params.get("team_id") or None,
        )
    return json_answer(
        {
            "sites": [_site_json(site) for site in page.sites],
            "meta": {"after": page.after, "before": page.before, "limit": page.limit},
        },
        headers=NO_STORE,
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_READ,
    summary="One site (Plausible Sites API)",
    answers=PlausibleSiteDetail,
)
async def get_site_v1(request: web.Request) -> web.Response:
    """GET /api/v1/sites/{site_id} — `site_id` is the domain, as in Plausible."""
    async with AsyncSession(request.app[ENGINE]) as session:
        site = await readable_site_by_domain(
            session, request[PRINCIPAL], request.match_info["site_id"]
        )
    # Plausible lists the custom properties allowed on the site; every property is allowed here.
    return json_answer({**_site_json(site), "custom_properties": []}, headers=NO_STORE)
