"""The Stats API handlers: Plausible's v2 `POST /api/v2/query` (JSON or CSV) and v1 `GET
/api/v1/stats/...`, answering Plausible's error shape `{"error": "..."}`.

Each checks the bearer token, finds the site the token's account owns, and hands the query to
the engine."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.errors import NotFound, OtError
from ot.grants.reads import read_through_grant_in_query_process, shared_response
from ot.ingest._fields import json_object_body
from ot.models import Site
from ot.server.auth import Access, endpoint
from ot.server.bodies import read_body
from ot.server.errors import status_of
from ot.server.keys import ENGINE, LIMITS, QUERIES, SETTINGS, WRITE_ENGINE
from ot.stats import v1
from ot.stats.access import (
    SITE_NOT_FOUND,
    authenticate,
    authenticate_grant_key,
    bearer_token,
    is_grant_key,
    readable_site,
)
from ot.stats.engine import QueryResult
from ot.stats.processes import answer_query
from ot.stats.query import Query, parse_query
from ot.stats.render import to_csv, v2_response

NO_STORE = {"Cache-Control": "no-store"}


def plausible_error(error: OtError) -> web.Response:
    headers = {**NO_STORE, "Retry-After": str(error.retry_after)} if error.retry_after else NO_STORE
    return web.json_response({"error": error.message}, status=status_of(error), headers=headers)


async def _site(request: web.Request, site_id: object) -> Site:
    token_text = bearer_token(request.headers.get("Authorization"))
    # The write engine: the key's use may be noted (see `ot.server.database`).
    async with AsyncSession(request.app[WRITE_ENGINE], expire_on_commit=False) as session:
        token = await authenticate(session, token_text)
        return await readable_site(session, token, site_id)


async def _run(request: web.Request, site: Site, query: Query) -> QueryResult:
    # In a query process of its own, within the time budget (`ot.stats.processes`).
    return await request.app[QUERIES].call(answer_query, site, query, now=utcnow())


@endpoint(Access.STATS_API, summary="Query stats (Plausible Stats API v2)")
async def query_v2(request: web.Request) -> web.StreamResponse:
    """POST /api/v2/query — Plausible's Stats API v2."""
    try:
        token_text = bearer_token(request.headers.get("Authorization"))  # missing: 401 first
        body = json_object_body(await read_body(request), request.app[LIMITS], what="(the query)")
        if is_grant_key(token_text):
            return await _query_v2_through_grant(request, token_text, body)
        site = await _site(request, body.get("site_id"))
        query = parse_query(body)
        result = await _run(request, site, query)
    except OtError as error:
        return plausible_error(error)
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(
            text=to_csv(result), content_type="text/csv", charset="utf-8", headers=NO_STORE
        )
    return web.json_response(v2_response(result, site.domain), headers=NO_STORE)


async def _query_v2_through_grant(
    request: web.Request, token_text: str, body: dict[str, Any]
) -> web.StreamResponse:
    """A third party's grant key: the same query, within the grant's limits (`ot.grants`)."""
    async with AsyncSession(request.app[ENGINE], expire_on_commit=False) as session:
        grant = await authenticate_grant_key(session, token_text)
    assert grant.id is not None
    try:
        answer = await request.app[QUERIES].call(
            read_through_grant_in_query_process,
            request.app[SETTINGS],
            grant.id,
            "key",
            body,
            now=utcnow(),
        )
    except NotFound:
        raise NotFound(SITE_NOT_FOUND, field="site_id") from None  # in Plausible's words
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(
            text=to_csv(answer.result), content_type="text/csv", charset="utf-8", headers=NO_STORE
        )
    return web.json_response(shared_response(answer), headers=NO_STORE)


async def _v1(request: web.Request, endpoint: str) -> web.StreamResponse:
    params = dict(request.query)
    try:
        site = await _site(request, params.get("site_id"))
        if endpoint == "realtime":
            result = await _run(request, site, v1.realtime_query())
            return web.json_response(v1.realtime_response(result), headers=NO_STORE)
        query = v1.to_query(endpoint, params)
        result = await _run(request, site, query)
    except OtError as error:
        return plausible_error(error)
    answer: Any = v1.response(endpoint, params, result)
    return web.json_response(answer, headers=NO_STORE)


@endpoint(Access.STATS_API, summary="Aggregate stats (Plausible Stats API v1)")
async def aggregate_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/aggregate"""
    return await _v1(request, "aggregate")


@endpoint(Access.STATS_API, summary="Time series (Plausible Stats API v1)")
async def timeseries_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/timeseries"""
    return await _v1(request, "timeseries")


@endpoint(Access.STATS_API, summary="Breakdown (Plausible Stats API v1)")
async def breakdown_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/breakdown"""
    return await _v1(request, "breakdown")


@endpoint(Access.STATS_API, summary="Visitors in the last 5 minutes (Plausible Stats API v1)")
async def realtime_v1(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stats/realtime/visitors"""
    return await _v1(request, "realtime")
