"""`/ot/v1/sessions`: the caller's own log-in sessions — list them, end one, end them all.

Only a logged-in session may manage sessions (never an API key), and only its own account's."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope
from ot.accounts.sessions import end_every_session, list_sessions, revoke_session
from ot.api.sessions import Ended, SessionList, SessionOut
from ot.clock import as_utc
from ot.errors import InvalidInput, NotFound
from ot.server.answers import json_answer
from ot.server.app_keys import SETTINGS
from ot.server.auth import PRINCIPAL, SESSION_COOKIE, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_READ,
    summary="List my live sessions",
    answers=SessionList,
)
async def list_my_sessions(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        rows = await list_sessions(session, principal.account_id, request.app[SETTINGS].accounts)
    listing = SessionList(
        sessions=[
            SessionOut(
                id=row.id or 0,
                current=row.id == principal.session_id,
                created_at=as_utc(row.created_at),
                last_seen_at=as_utc(row.last_seen_at),
                expires_at=as_utc(row.expires_at),
            )
            for row in rows
        ]
    )
    return json_answer(listing)


def _session_id(request: web.Request) -> int | None:
    """The session named in the path: a number, or `current` for the caller's own."""
    raw = request.match_info["session_id"]
    if raw == "current":
        return request[PRINCIPAL].session_id
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("a session id is a number or 'current'", field="session_id")
    return int(raw)


@endpoint(
    RouteNeeds.SESSION, scope=Scope.ACCOUNT_WRITE, summary="End one of my sessions", answers=Ended
)
async def end_session(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    session_id = _session_id(request)
    async with transaction(request, locked=False) as session:
        if session_id is None or not await revoke_session(
            session, principal.account_id, session_id, actor=principal.actor
        ):
            raise NotFound(f"session {session_id} does not exist", field="session_id")
    response = json_answer(Ended(ended=1))
    if session_id == principal.session_id:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Log out everywhere: end every session of my account, this one included",
    answers=Ended,
)
async def end_all_sessions(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with transaction(request, locked=False) as session:
        ended = await end_every_session(session, principal.account_id, actor=principal.actor)
    response = json_answer(Ended(ended=ended))
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
