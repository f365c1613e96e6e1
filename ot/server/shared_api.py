"""`/ot/v1/shared/query`: a third party reads the statistics a customer shared with it, through
the grant's key or share link, within the grant's limits (`ot.grants.reads`). The body is a
Plausible Stats API v2 query; `site_id` names one of the granted sites by its domain."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope
from ot.billing.dunning import refuse_if_locked
from ot.credentials import grant_via
from ot.grants.reads import read_through_grant_in_query_process, shared_response
from ot.ingest._fields import json_object_body
from ot.server.answers import NO_STORE, json_answer
from ot.server.app_keys import CLOCK, ENGINE, LIMITS, QUERIES, SETTINGS
from ot.server.auth import CREDENTIAL_KIND, PRINCIPAL, RouteNeeds, endpoint
from ot.server.bodies import read_body


@endpoint(
    RouteNeeds.GRANT,
    scope=Scope.STATS_READ,
    summary="Query statistics shared through a grant (a Plausible v2 query body)",
)
async def shared_query(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    assert principal.grant_id is not None
    async with AsyncSession(request.app[ENGINE]) as session:
        await refuse_if_locked(session, principal.account_id)
    body = json_object_body(await read_body(request), request.app[LIMITS], what="(the query)")
    # In a query process of its own, within the time budget (`ot.stats.processes`).
    answer = await request.app[QUERIES].call(
        read_through_grant_in_query_process,
        request.app[SETTINGS],
        principal.grant_id,
        grant_via(request[CREDENTIAL_KIND]),
        body,
        now=request.app[CLOCK].now(),  # the grant's reads an hour are counted by it
    )
    return json_answer(shared_response(answer), headers=NO_STORE)
