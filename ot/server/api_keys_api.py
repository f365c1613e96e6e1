"""`/ot/v1/keys`: the caller's API keys — make one (shown once), list them, revoke one.

Only a logged-in session manages keys (never a key), and only its own account's."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import create_token, list_tokens, revoke_token
from ot.accounts.permissions import Scope
from ot.api.api_keys import CreatedKey, KeyList, KeyOut, NewKey, Revoked
from ot.clock import as_utc
from ot.errors import NotFound
from ot.models import ApiToken
from ot.server.answers import NO_STORE, json_answer
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import path_id


def _out(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.id or 0,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "created_at": as_utc(token.created_at),
        "last_used_at": as_utc(token.last_used_at) if token.last_used_at else None,
        "revoked_at": as_utc(token.revoked_at) if token.revoked_at else None,
    }


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Make an API key with scopes; the key is shown in this answer only",
    body=NewKey,
    answers=CreatedKey,
    status=201,
)
async def create_key(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewKey)
    async with transaction(request, locked=False) as session:
        token, plaintext = await create_token(
            session,
            principal.account_id,
            body.name,
            body.scopes,
            actor=principal.actor,
            creator=principal,
        )
    created = CreatedKey.model_validate({**_out(token), "key": plaintext})
    return json_answer(created, status=201, headers=NO_STORE)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_READ,
    summary="List my API keys (their first characters only)",
    answers=KeyList,
)
async def list_keys(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        tokens = await list_tokens(session, principal.account_id)
        listing = KeyList(keys=[KeyOut.model_validate(_out(token)) for token in tokens])
    return json_answer(listing)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Revoke one of my API keys, effective at once",
    answers=Revoked,
)
async def revoke_key(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    key_id = path_id(request, "key_id")
    async with transaction(request, locked=False) as session:
        if not await revoke_token(session, principal.account_id, key_id, actor=principal.actor):
            raise NotFound(f"key {key_id} does not exist", field="key_id")
    return json_answer(Revoked(revoked=1))
