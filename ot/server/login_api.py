"""`POST /ot/v1/login`: e-mail and password (and the second factor where it is on) for a new
session. The token comes back in the JSON (for the TUI and scripts) and as the `ot_session`
cookie (for browsers, which then send the CSRF token from the JSON in `X-CSRF-Token`)."""

from __future__ import annotations

from aiohttp import web

from ot.accounts.login import Credentials, log_in
from ot.api.login import LoggedIn, LoginIn
from ot.clock import as_utc
from ot.server.accounts_api import mailing
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, CLOCK, SETTINGS
from ot.server.auth import BODY, SESSION_COOKIE, RouteNeeds, endpoint
from ot.server.clients import client_ip_of
from ot.server.database import transaction


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Log in: a new session token (also set as the ot_session cookie) and its CSRF token",
    body=LoginIn,
    answers=LoggedIn,
)
async def login(request: web.Request) -> web.Response:
    body = request[BODY]
    assert isinstance(body, LoginIn)
    settings = request.app[SETTINGS]
    ip = client_ip_of(request)
    async with (
        mailing(request) as mails,  # a throttling notice goes out with the refusal
        transaction(request, locked=False) as session,  # ot.accounts.login locks
    ):
        started = await log_in(
            session,
            request.app[CIPHER],
            Credentials(body.email, body.password, body.totp_code, body.recovery_code),
            ip,
            settings.accounts,
            mails=mails,
            clock=request.app[CLOCK],
        )
    response = json_answer(
        LoggedIn(
            account_id=started.session.account_id,
            token=started.token,
            csrf_token=started.csrf_token,
            expires_at=as_utc(started.session.expires_at),
        )
    )
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        path="/",
        max_age=settings.accounts.session_absolute_hours * 3600,
        secure=request.secure or settings.accounts.cookie_secure,
        httponly=True,
        samesite="Strict",
    )
    return response
