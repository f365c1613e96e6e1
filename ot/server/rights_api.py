"""The customer's own rights: export everything we hold about the account, delete the account
(after a grace period), and erase one visitor's hits from a site."""

from __future__ import annotations

import tempfile

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope, reachable_site
from ot.api.rights import DeletionRequest, DeletionStatus, ErasureDone, ErasureRequest
from ot.clock import as_utc, utcnow
from ot.errors import InvalidInput, NotFound
from ot.ingest.visitors import visitor_id_from_client_id
from ot.rights.account_deletion import (
    cancel_deletion,
    pending_deletion,
    request_deletion_by_owner,
)
from ot.rights.erasure import erase_visitor
from ot.rights.export import write_export
from ot.security.secrets import load_or_create_secrets
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, ENGINE, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, SESSION_COOKIE, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.openapi import produces

_CHUNK = 64 * 1024


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_READ,
    summary="Export everything we hold about my account: a zip of account.json and one CSV of "
    "raw hits per site",
)
@produces("application/zip")
async def export_account(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    # Built in a temporary file (memory stays bounded however many hits), then sent. Read on
    # the plain engine: holding SQLite's write lock that long would stall the collector.
    with tempfile.TemporaryFile() as archive:
        await write_export(
            request.app[ENGINE],
            request.app[CIPHER],
            principal.account_id,
            archive,
            actor=principal.actor,
            writer=engine_for(request),
        )
        size = archive.tell()
        archive.seek(0)
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="opentracker-export-{stamp}.zip"',
                "Content-Length": str(size),
            }
        )
        await response.prepare(request)
        while chunk := archive.read(_CHUNK):
            await response.write(chunk)
        await response.write_eof()
    return response


async def _status(session: AsyncSession, account_id: int) -> DeletionStatus:
    request = await pending_deletion(session, account_id)
    if request is None:
        return DeletionStatus(scheduled=False)
    return DeletionStatus(
        scheduled=True,
        requested_at=as_utc(request.requested_at),
        purge_after=as_utc(request.purge_after),
    )


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_READ,
    summary="Whether my account's deletion is scheduled, and when its data will be purged",
    answers=DeletionStatus,
)
async def deletion_status(request: web.Request) -> web.Response:
    async with AsyncSession(engine_for(request)) as session:
        status = await _status(session, request[PRINCIPAL].account_id)
    return json_answer(status)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Delete my account: every session and key ends now, all data is purged after the "
    "grace period (log in again to cancel)",
    body=DeletionRequest,
    answers=DeletionStatus,
    status=202,
)
async def request_account_deletion(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, DeletionRequest)
    # A wrong password is kept in the trail: `transaction` commits refusals too.
    async with transaction(request, locked=False) as session:
        await request_deletion_by_owner(
            session,
            principal.account_id,
            body.password,
            now=utcnow(),
            grace_days=request.app[SETTINGS].rights.deletion_grace_days,
            actor=principal.actor,
        )
        status = await _status(session, principal.account_id)
    response = json_answer(status, status=202)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Cancel my account's scheduled deletion during its grace period",
    answers=DeletionStatus,
)
async def cancel_account_deletion(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with transaction(request, locked=False) as session:
        await cancel_deletion(session, principal.account_id, actor=principal.actor)
    return json_answer(DeletionStatus(scheduled=False))


def _site_id(request: web.Request) -> int:
    raw = request.match_info["site_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"site {raw} does not exist", field="site_id")
    return int(raw)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Erase one visitor's hits (by visitor id, tracker id or IP); the rollups of the "
    "days concerned are rolled again",
    body=ErasureRequest,
    answers=ErasureDone,
)
async def erase_site_visitor(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, ErasureRequest)
    engine = engine_for(request)
    async with AsyncSession(engine) as session:
        site = await reachable_site(session, principal, _site_id(request), Scope.SITES_WRITE)
    named = [name for name in ("visitor_id", "client_id", "ip") if getattr(body, name) is not None]
    if len(named) != 1:
        raise InvalidInput(
            "name the visitor by exactly one of visitor_id, client_id, ip", field="body"
        )
    visitor_ids: set[int] | None = None
    if body.visitor_id is not None:
        visitor_ids = {body.visitor_id}
    elif body.client_id is not None:
        assert site.id is not None
        key = load_or_create_secrets(request.app[SETTINGS].data_dir).visitor_key
        visitor_ids = {visitor_id_from_client_id(key, site.id, body.client_id)}
    report = await erase_visitor(
        engine,
        request.app[CIPHER],
        site,
        visitor_ids=visitor_ids,
        ip=body.ip,
        actor=principal.actor,
        by_client_id=body.client_id is not None,
    )
    done = ErasureDone(
        hits=report.hits,
        visits=report.visits,
        days_to_roll_again=report.days_to_roll_again,
        matched_by_network=report.matched_by_network,
        notes=report.notes,
    )
    return json_answer(done)
