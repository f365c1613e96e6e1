"""`/ot/v1/ssh-keys`: the caller's SSH public keys — add one, list them, remove one. A key opens
its owner's `ot tui` over SSH and nothing else (see docs/operations.md).

Only a logged-in session manages them (never an API key), and only its own account's."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope
from ot.accounts.ssh_keys import SshKeyView, add_ssh_key, list_ssh_keys, remove_ssh_key
from ot.api.ssh_keys import NewSshKey, SshKeyList, SshKeyOut, SshKeyRemoved
from ot.clock import as_utc
from ot.errors import NotFound
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import path_id


def _out(key: SshKeyView) -> SshKeyOut:
    fields = asdict(key)
    fields["created_at"] = as_utc(key.created_at)
    fields["last_used_at"] = as_utc(key.last_used_at) if key.last_used_at else None
    return SshKeyOut.model_validate(fields)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Add an SSH public key that opens my terminal UI over SSH",
    body=NewSshKey,
    answers=SshKeyOut,
    status=201,
)
async def add_key(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewSshKey)
    async with transaction(request, locked=False) as session:
        key = await add_ssh_key(
            session,
            request.app[CIPHER],
            principal.account_id,
            body.public_key,
            body.name,
            actor=principal.actor,
        )
    return json_answer(_out(key), status=201)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_READ,
    summary="List my SSH public keys",
    answers=SshKeyList,
)
async def list_keys(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        keys = await list_ssh_keys(session, request.app[CIPHER], principal.account_id)
    return json_answer(SshKeyList(keys=[_out(key) for key in keys]))


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Remove one of my SSH public keys, effective for the next connection",
    answers=SshKeyRemoved,
)
async def remove_key(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    key_id = path_id(request, "key_id")
    async with transaction(request, locked=False) as session:
        if not await remove_ssh_key(session, principal.account_id, key_id, actor=principal.actor):
            raise NotFound(f"SSH key {key_id} does not exist", field="key_id")
    return json_answer(SshKeyRemoved(removed=1))
