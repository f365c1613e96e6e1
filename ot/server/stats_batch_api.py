"""Several Stats API v2 queries in one request: `POST /ot/v1/stats/queries`, for a screen that
asks a dozen at once (the terminal's dashboard). The request is authenticated once and each site
found once, where a dozen requests did both a dozen times on the event loop every request
shares. Its queries go to the query processes at most as many at a time as there are processes,
so that one screen's dozen never fill the queue every caller's queries wait in (a query waiting
there past its budget is refused). Each answer is written as soon as it is ready, one JSON line
each (`ot.api.stats.QueryBatchLine`), so that a screen paints its panels as they come; a query
refused says so on its own line and the others are answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ot.accounts.permissions import Scope
from ot.api.stats import QueryBatch
from ot.clock import utcnow
from ot.errors import OtError
from ot.models import Site
from ot.server.answers import NO_STORE
from ot.server.app_keys import QUERIES, SETTINGS
from ot.server.auth import BODY, RouteNeeds, endpoint
from ot.server.errors import INTERNAL_ERROR, status_of
from ot.server.middlewares import known_failure
from ot.server.openapi import produces
from ot.server.stats_api import readable_site
from ot.stats.processes import answer_query
from ot.stats.query import parse_query
from ot.stats.render import v2_response

JSON_LINES = "application/x-ndjson"


@produces(JSON_LINES)
@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.STATS_READ,
    summary="Several Stats API v2 queries at once: one JSON line per answer, as each is ready",
    body=QueryBatch,
)
async def query_batch(request: web.Request) -> web.StreamResponse:
    """POST /ot/v1/stats/queries"""
    batch = request[BODY]
    assert isinstance(batch, QueryBatch)
    answering = _Answering(request)
    lines = [
        asyncio.create_task(answering.line(index, body)) for index, body in enumerate(batch.queries)
    ]
    response = web.StreamResponse(headers=NO_STORE)
    response.content_type = JSON_LINES
    response.charset = "utf-8"
    try:
        await response.prepare(request)
        for ready in asyncio.as_completed(lines):
            await response.write(await ready)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the caller left: nobody reads the rest
    finally:
        for line in lines:
            line.cancel()
    return response


class _Answering:
    """The queries of one request: the sites they name, found once each, and the processes
    they take turns in."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._sites: dict[str, Site | OtError] = {}
        self._finding = asyncio.Lock()
        self._turns = asyncio.Semaphore(request.app[SETTINGS].stats.query_processes)
        self._now = utcnow()  # one moment for all: the panels of one screen agree

    async def line(self, index: int, body: dict[str, Any]) -> bytes:
        try:
            site = await self._site(body.get("site_id"))
            query = parse_query(body)
            async with self._turns:
                result = await self._request.app[QUERIES].call(
                    answer_query, site, query, now=self._now
                )
        except Exception as error:  # each query is refused on its own line
            return _json_line(_refusal(self._request, index, error))
        answer = v2_response(result, site.domain)
        return _json_line({"index": index, "status": 200, "answer": answer})

    async def _site(self, domain: object) -> Site:
        if not isinstance(domain, str):
            return await readable_site(self._request, domain)  # refused as an unknown site
        async with self._finding:  # the first query naming it finds it; the others wait
            if domain not in self._sites:
                try:
                    self._sites[domain] = await readable_site(self._request, domain)
                except OtError as refused:
                    self._sites[domain] = refused
        found = self._sites[domain]
        if isinstance(found, OtError):
            raise found
        return found


def _refusal(request: web.Request, index: int, error: Exception) -> dict[str, Any]:
    known = known_failure(request, error)
    if known is None:
        detail = {"code": "internal_error", "message": INTERNAL_ERROR, "field": None}
        return {"index": index, "status": 500, "error": detail}
    detail = {"code": known.code, "message": known.message, "field": known.field}
    line = {"index": index, "status": status_of(known), "error": detail}
    if known.retry_after:
        line["retry_after"] = known.retry_after
    return line


def _json_line(line: dict[str, Any]) -> bytes:
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"
