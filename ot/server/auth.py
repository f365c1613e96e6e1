"""Authorisation in one place: every handler declares what a caller needs, and one middleware
authenticates every kind of credential for every route and enforces the declaration before the
handler runs. No handler reads credentials itself.

    @endpoint(RouteNeeds.ACCOUNT, scope=Scope.SITES_WRITE, body=NewSite, summary="Add a site")
    async def add_site(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        body = request[BODY]  # a validated NewSite

A route whose handler declares nothing is refused (fail closed), and
`tests/test_route_access.py` walks the router so that no route is ever left undeclared.

Credentials (`ot.credentials` turns each into a `Principal`):
- `Authorization: Bearer ots_...`: a session token (the TUI, scripts that logged in);
- `Authorization: Bearer ot_...`: an API key, limited to its scopes;
- the `ot_session` cookie (browsers), which on unsafe methods also needs the `X-CSRF-Token`
  header to match the session's CSRF token (double submit: another site can make the browser
  send the cookie, but cannot read the token to send it back; the cookie is SameSite=Strict too);
- `Authorization: Bearer otg_...` (a grant's read-only key) or `Bearer otl_...` (its share
  link's token, with `X-Share-Password` when the link has a password): third parties, on the
  routes they read through only.

The Plausible-compatible Stats API (`RouteNeeds.STATS_API`) takes a session or an API key with
`stats:read` (and a grant's key where the route says so), and refuses in Plausible's words.
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
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ot import db
from ot.accounts.permissions import Principal, Scope
from ot.credentials import (
    CredentialKind,
    grant_principal,
    key_principal,
    kind_of,
    session_principal,
)
from ot.errors import Forbidden, InvalidInput, Unauthorized
from ot.json_input import parse_json
from ot.server.app_keys import ENGINE, SETTINGS, WRITE_ENGINE
from ot.server.bodies import read_body
from ot.server.errors import internal_error_response

log = logging.getLogger(__name__)

SESSION_COOKIE = "ot_session"
CSRF_HEADER = "X-CSRF-Token"
SHARE_PASSWORD_HEADER = "X-Share-Password"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PRINCIPAL = web.RequestKey("principal", Principal)
# How the caller came: a grant's reads are logged as made with its key or its share link.
CREDENTIAL_KIND = web.RequestKey("credential_kind", CredentialKind)
BODY = web.RequestKey("body", BaseModel)


class RouteNeeds(StrEnum):
    """Who may call a route at all."""

    COLLECTOR = "collector"  # visitors' browsers on customers' sites: public, CORS-open
    PUBLIC = "public"  # anyone: health checks, registration, log-in, the OpenAPI document
    STATS_API = "stats_api"  # Plausible-compatible: a session or a key, refused in its words
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
    # A Stats API route that third parties may also read through with a grant's key.
    takes_grant_key: bool = False

    @property
    def credentials(self) -> frozenset[CredentialKind]:
        """The kinds of credential the route takes."""
        if self.access is RouteNeeds.STATS_API and self.takes_grant_key:
            return _TAKES[self.access] | {CredentialKind.GRANT_KEY}
        return _TAKES.get(self.access, frozenset())


_TAKES = {
    RouteNeeds.ACCOUNT: frozenset({CredentialKind.SESSION, CredentialKind.API_KEY}),
    RouteNeeds.SESSION: frozenset({CredentialKind.SESSION}),
    RouteNeeds.STATS_API: frozenset({CredentialKind.SESSION, CredentialKind.API_KEY}),
    RouteNeeds.GRANT: frozenset({CredentialKind.GRANT_KEY, CredentialKind.SHARE_LINK}),
}

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
    takes_grant_key: bool = False,
) -> Callable[[H], H]:
    if access in _TAKES and scope is None:
        raise ValueError(f"an {access.value} endpoint must name the scope it needs")
    if takes_grant_key and access is not RouteNeeds.STATS_API:
        raise ValueError("only a Stats API endpoint says whether it takes a grant's key")
    declaration = Endpoint(access, scope, summary, body, answers, status, takes_grant_key)

    def declare(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, declaration)
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
        return internal_error_response()
    if declaration.access is RouteNeeds.STATS_API:
        await _admit_in_plausibles_words(request, declaration)
    elif declaration.credentials:
        await _admit(request, declaration)
    if declaration.body is not None:
        request[BODY] = await _validated_body(request, declaration.body)
    return await handler(request)


def presented_credential(request: web.Request) -> str | None:
    """The credential a request carries, as sent (for rate limits: one bucket per credential)."""
    return request.headers.get("Authorization") or request.cookies.get(SESSION_COOKIE)


@dataclass(frozen=True)
class _Presented:
    kind: CredentialKind | None  # None: no credential we ever issue
    secret: str
    by_cookie: bool


def _presented(request: web.Request) -> _Presented | None:
    """The credential of the request: `Authorization: Bearer ...` first, then the cookie."""
    authorization = request.headers.get("Authorization", "").strip()
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("send credentials as 'Authorization: Bearer <token>'", field="token")
        return _Presented(kind_of(secret), secret, by_cookie=False)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return _Presented(CredentialKind.SESSION, cookie, by_cookie=True)
    return None


async def _admit(request: web.Request, declaration: Endpoint) -> None:
    """Our own API: the caller's credential must be of a kind the route takes and carry its
    scope."""
    assert declaration.scope is not None
    grants_only = declaration.access is RouteNeeds.GRANT
    presented = _presented(request)
    if presented is None or presented.kind not in declaration.credentials:
        if grants_only:
            raise Unauthorized(
                "send a grant's key or share link as 'Authorization: Bearer otg_...' or 'otl_...'",
                field="token",
            )
        if presented is None:
            raise Unauthorized("log in first: no session or API key was sent", field="token")
        if presented.kind is CredentialKind.API_KEY:
            raise Forbidden("this needs a logged-in session, not an API key", field="token")
        raise Unauthorized("the token is not valid", field="token")
    principal = await _principal_of(request, presented)
    principal.require(declaration.scope)
    _keep(request, principal, presented)


# Plausible's words, which its clients show their users (`ot.server.stats_api` answers every
# error under /api/ in Plausible's shape).
MISSING_API_KEY = "Missing API key. Please use a valid API key as a Bearer Token."
MALFORMED_API_KEY = "Invalid API key. Send it as 'Authorization: Bearer <key>'."
INVALID_API_KEY = "Invalid API key. Please make sure you're using a valid API key."
LACKS_STATS_READ = "This API key lacks the stats:read scope. Create a key with it."


async def _admit_in_plausibles_words(request: web.Request, declaration: Endpoint) -> None:
    """The Stats API: a session or an API key (or a grant's key, where the route takes one),
    which must carry the route's scope. Any refused credential is an invalid API key."""
    assert declaration.scope is not None
    try:
        presented = _presented(request)
    except Unauthorized:
        raise Unauthorized(MALFORMED_API_KEY, field="api_key") from None
    if presented is None:
        raise Unauthorized(MISSING_API_KEY, field="api_key")
    if presented.kind not in declaration.credentials:
        raise Unauthorized(INVALID_API_KEY, field="api_key")
    try:
        principal = await _principal_of(request, presented)
    except Unauthorized:
        raise Unauthorized(INVALID_API_KEY, field="api_key") from None
    if declaration.scope not in principal.scopes:
        raise Forbidden(LACKS_STATS_READ, field="api_key")
    _keep(request, principal, presented)


def _keep(request: web.Request, principal: Principal, presented: _Presented) -> None:
    assert presented.kind is not None
    request[PRINCIPAL] = principal
    request[CREDENTIAL_KIND] = presented.kind


# Credentials are looked up on the write engine: the lookup may note the use (a session's
# last_seen_at, a key's last_used_at, a wrong link password), and on SQLite a read cannot turn
# into a write once the collector has committed meanwhile (see `ot.server.database`). The
# transaction is tiny, and committed even when the credential is refused: it keeps the audit
# entry of a wrong link password.


async def _principal_of(request: web.Request, presented: _Presented) -> Principal:
    """The caller of a presented credential. Nearly every request only reads here, so it reads
    on the plain engine, which never waits for SQLite's one write lock (the collector's commits,
    the rollup job and other requests' changes take it): a dashboard's dozen queries at once
    were waiting for it in turn. The few that write (a key's or session's use, noted once a
    minute; a wrong share-link password, audited) and meet the lock taken are run again on the
    write engine, which waits its turn (`ot.server.database`)."""
    try:
        return await _find_principal(request, request.app[ENGINE], presented)
    except OperationalError as error:
        if not db.lost_the_write_lock(error):
            raise
    return await _find_principal(request, request.app[WRITE_ENGINE], presented)


async def _find_principal(
    request: web.Request, engine: AsyncEngine, presented: _Presented
) -> Principal:
    async with db.transaction(engine, locked=False) as session:
        if presented.kind is CredentialKind.SESSION:
            return await session_principal(
                session,
                presented.secret,
                request.app[SETTINGS].accounts,
                csrf_needed=presented.by_cookie and request.method not in SAFE_METHODS,
                csrf_token=request.headers.get(CSRF_HEADER),
            )
        if presented.kind is CredentialKind.API_KEY:
            return await key_principal(session, presented.secret)
        return await grant_principal(
            session, presented.secret, request.headers.get(SHARE_PASSWORD_HEADER)
        )


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
