"""Authorisation in one place: every handler declares what a caller needs, and one middleware
enforces it before the handler runs.

    @endpoint(RouteNeeds.ACCOUNT, scope=Scope.SITES_WRITE, body=NewSite, summary="Add a site")
    async def add_site(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        body = request[BODY]  # a validated NewSite

A route whose handler declares nothing is refused (fail closed), and
`tests/test_route_access.py` walks the router so that no route is ever left undeclared.

Credentials, in the order they are tried:
- `Authorization: Bearer ots_...`: a session token (the TUI, scripts that logged in);
- `Authorization: Bearer ot_...`: an API key, limited to its scopes;
- the `ot_session` cookie (browsers), which on unsafe methods also needs the `X-CSRF-Token`
  header to match the session's CSRF token (double submit: another site can make the browser
  send the cookie, but cannot read the token to send it back).

Routes for third parties (`RouteNeeds.GRANT`) take only a grant's credentials:
`Authorization: Bearer otg_...` (the grant's read-only key) or `Bearer otl_...` (its share
link's token, with `X-Share-Password` when the link has a password).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import TOKEN_PREFIX, find_token, principal_of_key, record_use
from ot.accounts.permissions import ALL_SCOPES, Principal, PrincipalKind, Scope
from ot.accounts.sessions import SESSION_PREFIX, csrf_matches, find_session
from ot.errors import Forbidden, InvalidInput, Unauthorized
from ot.grants.store import authenticate_grant, is_grant_credential, principal_of_grant
from ot.json_input import parse_json
from ot.server.app_keys import SETTINGS, WRITE_ENGINE
from ot.server.bodies import read_body
from ot.server.errors import error_response

log = logging.getLogger(__name__)

SESSION_COOKIE = "ot_session"
CSRF_HEADER = "X-CSRF-Token"
SHARE_PASSWORD_HEADER = "X-Share-Password"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PRINCIPAL = web.RequestKey("principal", Principal)
BODY = web.RequestKey("body", BaseModel)


class RouteNeeds(StrEnum):
    """Who may call a route at all."""

    COLLECTOR = "collector"  # visitors' browsers on customers' sites: public, CORS-open
    PUBLIC = "public"  # anyone: health checks, registration, log-in, the OpenAPI document
    STATS_API = "stats_api"  # Plausible-compatible: the handler checks the bearer key itself
    ACCOUNT = "account"  # a session or an API key carrying the route's scope
    SESSION = "session"  # a logged-in session only (password, keys, sessions: never a key)
    GRANT = "grant"  # a third party holding a grant's key or share link (`ot.grants`)


@dataclass(frozen=True)
class Endpoint:
    """What a handler declares: its access, the scope it needs, and what it takes and answers
    (the OpenAPI document is built from these)."""

    access: RouteNeeds
    scope: Scope | None
    summary: str
    body: type[BaseModel] | None = None
    answers: type[BaseModel] | None = None
    status: int = 200


H = TypeVar("H", bound=Callable[..., Any])
_ATTRIBUTE = "__ot_endpoint__"


def endpoint(
    access: RouteNeeds,
    *,
    summary: str,
    scope: Scope | None = None,
    body: type[BaseModel] | None = None,
    answers: type[BaseModel] | None = None,
    status: int = 200,
) -> Callable[[H], H]:
    if access in (RouteNeeds.ACCOUNT, RouteNeeds.SESSION, RouteNeeds.GRANT) and scope is None:
        raise ValueError(f"an {access.value} endpoint must name the scope it needs")

    def declare(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, Endpoint(access, scope, summary, body, answers, status))
        return handler

    return declare


def declared(handler: Any) -> Endpoint | None:
    """The declaration of a route's handler, or None if it has none."""
    return getattr(handler, _ATTRIBUTE, None)


@web.middleware
async def authorise(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:
        raise match_info.http_exception  # 404 / 405: nothing to authorise
    declaration = declared(match_info.handler)
    if declaration is None:
        log.error("route without an access declaration refused", extra={"path": request.path})
        return error_response(500, "internal_error", "something went wrong on our side")
    if declaration.access in (RouteNeeds.ACCOUNT, RouteNeeds.SESSION):
        assert declaration.scope is not None
        principal = await _authenticate(
            request, sessions_only=declaration.access is RouteNeeds.SESSION
        )
        principal.require(declaration.scope)
        request[PRINCIPAL] = principal
    elif declaration.access is RouteNeeds.GRANT:
        assert declaration.scope is not None
        principal = await _grant_principal(request)
        principal.require(declaration.scope)
        request[PRINCIPAL] = principal
    if declaration.body is not None:
        request[BODY] = await _validated_body(request, declaration.body)
    return await handler(request)


async def _authenticate(request: web.Request, *, sessions_only: bool) -> Principal:
    authorization = request.headers.get("Authorization", "").strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("send credentials as 'Authorization: Bearer <token>'", field="token")
        if credential.startswith(SESSION_PREFIX):
            return await _session_principal(request, credential, csrf_needed=False)
        if credential.startswith(TOKEN_PREFIX) and not sessions_only:
            return await _key_principal(request, credential)
        if credential.startswith(TOKEN_PREFIX):
            raise Forbidden("this needs a logged-in session, not an API key", field="token")
        raise Unauthorized("the token is not valid", field="token")
    if cookie:
        return await _session_principal(
            request, cookie, csrf_needed=request.method not in SAFE_METHODS
        )
    raise Unauthorized("log in first: no session or API key was sent", field="token")


# Credentials are looked up on the write engine: the lookup may note the use (a session's
# last_seen_at, a key's last_used_at), and on SQLite a read cannot turn into a write once the
# collector has committed meanwhile (see `ot.server.database`). The transaction is tiny.


async def _session_principal(request: web.Request, token: str, *, csrf_needed: bool) -> Principal:
    settings = request.app[SETTINGS].accounts
    async with AsyncSession(request.app[WRITE_ENGINE], expire_on_commit=False) as session:
        row = await find_session(session, token, settings)
        await session.commit()  # keeps the touched last_seen_at
    if row is None:
        raise Unauthorized("the session has expired or was ended: log in again", field="token")
    if csrf_needed and not csrf_matches(row, request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header", field=CSRF_HEADER)
    assert row.id is not None
    return Principal(PrincipalKind.SESSION, row.account_id, ALL_SCOPES, session_id=row.id)


async def _key_principal(request: web.Request, plaintext: str) -> Principal:
    async with AsyncSession(request.app[WRITE_ENGINE], expire_on_commit=False) as session:
        token = await find_token(session, plaintext)
        if token is not None and await record_use(session, token):
            await session.commit()  # keeps last_used_at (written at most once a minute)
    if token is None:
        raise Unauthorized("the API key is not valid or was revoked", field="token")
    return principal_of_key(token)


async def _grant_principal(request: web.Request) -> Principal:
    authorization = request.headers.get("Authorization", "").strip()
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not is_grant_credential(credential):
        raise Unauthorized(
            "send a grant's key or share link as 'Authorization: Bearer otg_...' or 'otl_...'",
            field="token",
        )
    async with AsyncSession(request.app[WRITE_ENGINE], expire_on_commit=False) as session:
        try:
            grant = await authenticate_grant(
                session, credential, request.headers.get(SHARE_PASSWORD_HEADER)
            )
        finally:
            await session.commit()  # keeps the audit entry of a wrong link password
    return principal_of_grant(grant)


async def _validated_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await read_body(request)
    data = parse_json(raw or b"null", field="body")
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        raise InvalidInput(f"{where}: {problem['msg']}", field=where) from None
