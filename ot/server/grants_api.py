"""`/ot/v1/grants`: a customer's express permissions for third parties — grant, list, read one,
revoke, confirm a suspended one, and see every read made through a grant (with its whole
query). The rules are in `ot.grants`."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope
from ot.api.grants import (
    GrantList,
    GrantOut,
    GrantReadList,
    GrantReadOut,
    IssuedGrantOut,
    NewGrant,
)
from ot.clock import as_utc, utcnow
from ot.errors import InvalidInput, NotFound
from ot.grants.reads import query_text
from ot.grants.store import (
    GrantTerms,
    confirm_grant,
    grant_of,
    list_grants,
    reads_of,
    revoke_grant,
    status_of,
    texts_of,
)
from ot.grants.store import create_grant as create_grant_in
from ot.models import Grant, GrantRead
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import MAX_ID


def _out(request: web.Request, grant: Grant) -> GrantOut:
    assert grant.id is not None
    grantee, purpose = texts_of(grant, request.app[CIPHER])
    return GrantOut(
        id=grant.id,
        status=status_of(grant, utcnow()),
        grantee=grantee,
        purpose=purpose,
        site_ids=grant.site_ids,
        metrics=grant.metrics,
        dimensions=grant.dimensions,
        date_from=grant.date_from,
        date_to=grant.date_to,
        min_visitors=grant.min_visitors,
        key_prefix=grant.key_prefix,
        share_link=grant.link_token_hash is not None,
        password_protected=grant.link_password_hash is not None,
        created_by_account_id=grant.created_by_account_id,
        created_at=as_utc(grant.created_at),
        expires_at=as_utc(grant.expires_at),
        revoked_at=as_utc(grant.revoked_at) if grant.revoked_at else None,
        suspended_at=as_utc(grant.suspended_at) if grant.suspended_at else None,
        suspended_reason=grant.suspended_reason,
    )


def _read_out(request: web.Request, read: GrantRead) -> GrantReadOut:
    assert read.id is not None
    return GrantReadOut(
        id=read.id,
        at=as_utc(read.at),
        via=read.via,
        query=query_text(read, request.app[CIPHER]),
        site_id=read.site_id,
        outcome=read.outcome,
        reason=read.reason,
        metrics=read.metrics,
        dimensions=read.dimensions,
        filtered_dimensions=read.filtered_dimensions,
        first_day=read.first_day,
        last_day=read.last_day,
        rows_returned=read.rows_returned,
        rows_hidden=read.rows_hidden,
    )


def _number(raw: str, field: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(f"{field} must be a whole number", field=field)
    return int(raw)


def _grant_id(request: web.Request) -> int:
    grant_id = _number(request.match_info["grant_id"], "grant_id")
    if grant_id > MAX_ID:  # no such grant can exist
        raise NotFound(f"grant {grant_id} does not exist", field="grant_id")
    return grant_id


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.GRANTS_WRITE,
    summary="Grant a third party read access to some statistics (the key is shown once)",
    body=NewGrant,
    answers=IssuedGrantOut,
    status=201,
)
async def create_grant(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewGrant)
    terms = GrantTerms(
        grantee=body.grantee,
        purpose=body.purpose,
        site_ids=tuple(body.site_ids),
        metrics=tuple(body.metrics),
        dimensions=tuple(body.dimensions),
        expires_at=body.expires_at,
        date_from=body.date_from,
        date_to=body.date_to,
        min_visitors=body.min_visitors,
        share_link=body.share_link,
        link_password=body.link_password,
    )
    async with transaction(request, locked=False) as session:
        issued = await create_grant_in(
            session, request.app[CIPHER], principal, terms, request.app[SETTINGS].accounts
        )
    out = _out(request, issued.grant)
    answer = IssuedGrantOut(**out.model_dump(), key=issued.key, link_token=issued.link_token)
    return json_answer(answer, status=201)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.GRANTS_READ,
    summary="List the grants I may see (?status=active|suspended|expired|revoked)",
    answers=GrantList,
)
async def list_my_grants(request: web.Request) -> web.Response:
    async with AsyncSession(engine_for(request)) as session:
        grants = await list_grants(session, request[PRINCIPAL], request.query.get("status"))
    return json_answer(GrantList(grants=[_out(request, grant) for grant in grants]))


@endpoint(RouteNeeds.ACCOUNT, scope=Scope.GRANTS_READ, summary="Read one grant", answers=GrantOut)
async def get_grant(request: web.Request) -> web.Response:
    grant_id = _grant_id(request)
    async with AsyncSession(engine_for(request)) as session:
        grant = await grant_of(session, request[PRINCIPAL], grant_id, Scope.GRANTS_READ)
    return json_answer(_out(request, grant))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.GRANTS_WRITE,
    summary="Revoke a grant: its key and link stop working at once",
    answers=GrantOut,
)
async def revoke(request: web.Request) -> web.Response:
    grant_id = _grant_id(request)
    async with transaction(request, locked=False) as session:
        grant = await revoke_grant(session, request[PRINCIPAL], grant_id)
    return json_answer(_out(request, grant))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.GRANTS_WRITE,
    summary="Confirm a suspended grant (owners only): its key and link read again",
    answers=GrantOut,
)
async def confirm(request: web.Request) -> web.Response:
    grant_id = _grant_id(request)
    async with transaction(request, locked=False) as session:
        grant = await confirm_grant(session, request[PRINCIPAL], grant_id)
    return json_answer(_out(request, grant))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.GRANTS_READ,
    summary="Every read made through a grant, newest first, with its whole query (?limit=, "
    "?before_id=)",
    answers=GrantReadList,
)
async def list_reads(request: web.Request) -> web.Response:
    grant_id = _grant_id(request)
    limit = _number(request.query.get("limit", "100"), "limit")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be from 1 to 1000", field="limit")
    before = request.query.get("before_id")
    before_id = _number(before, "before_id") if before is not None else None
    if before_id is not None and before_id > MAX_ID:
        before_id = None  # every id is below it
    async with AsyncSession(engine_for(request)) as session:
        reads = await reads_of(
            session, request[PRINCIPAL], grant_id, limit=limit, before_id=before_id
        )
    return json_answer(GrantReadList(reads=[_read_out(request, read) for read in reads]))
