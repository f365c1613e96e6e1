"""`/ot/v1/accounts` (registration, e-mail verification) and `/ot/v1/account` (the caller's
profile, its history, and how it logs in: e-mail address, password and second factor). The
rules live in `ot.accounts.registration`, `ot.accounts.profile`, `ot.accounts.login` and
`ot.accounts.second_factor`; these handlers only translate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.login import Proof
from ot.accounts.permissions import Scope
from ot.accounts.profile import (
    ProfileUpdate,
    change_password,
    history_of,
    profile_of,
    request_email_change,
    turn_off_second_factor,
    turn_on_second_factor,
    update_profile,
)
from ot.accounts.registration import Registration, confirm_email, register
from ot.accounts.second_factor import begin_enrolment
from ot.accounts.store import get_account, normalise_email
from ot.api.accounts import (
    CREDENTIAL_ROUTES,
    Accepted,
    ChangeOut,
    ConsentOut,
    DisableIn,
    EmailChangeIn,
    EmailChangeRequested,
    EnableIn,
    EnrolmentOut,
    History,
    NewAccount,
    PasswordChanged,
    PasswordIn,
    ProfileIn,
    ProfileOut,
    ProfileUpdated,
    RecoveryCodes,
    SecondFactorState,
    VerificationIn,
    Verified,
)
from ot.clock import as_utc
from ot.errors import InvalidInput, OtError
from ot.mailer import Mail
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, CLOCK, MAILER, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.clients import client_ip_of
from ot.server.database import engine_for, transaction
from ot.sites.snippet import collector_url

log = logging.getLogger(__name__)

# --- shared by the account handlers -------------------------------------------------------


async def send_mails(request: web.Request, mails: Sequence[Mail]) -> None:
    """Send what the core queued, after its transaction committed. A mail that cannot be sent
    is logged (without its address) and does not fail the request."""
    mailer = request.app[MAILER]
    for mail in mails:
        try:
            await asyncio.to_thread(mailer.send, mail)
        except Exception as error:  # SMTP trouble must not undo a committed registration
            log.error("an account mail could not be sent", extra={"error": type(error).__name__})


@asynccontextmanager
async def mailing(request: web.Request) -> AsyncIterator[list[Mail]]:
    """The list the core queues mails in, sent when the block ends: after success and after a
    refusal (`OtError`, whose records `transaction` commits too, such as a throttling notice's
    failure count), never after a failure that rolled back. Open it around `transaction`."""
    mails: list[Mail] = []
    try:
        yield mails
    except OtError:
        await send_mails(request, mails)
        raise
    await send_mails(request, mails)


def link_base(request: web.Request) -> str:
    # Never the request's Host header: a forged one would put an attacker's host in our links.
    return collector_url(request.app[SETTINGS])


# --- registration -------------------------------------------------------------------------


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Register an account; a verification link is mailed to the address",
    body=NewAccount,
    answers=Accepted,
    status=202,
)
async def register_account(request: web.Request) -> web.Response:
    body = request[BODY]
    assert isinstance(body, NewAccount)
    mails: list[Mail] = []
    async with transaction(request) as session:
        await register(
            session,
            request.app[CIPHER],
            Registration(**body.model_dump()),
            request.app[SETTINGS].accounts,
            link_base=link_base(request),
            mails=mails,
        )
    await send_mails(request, mails)
    # The same answer for a new and a taken address: nobody learns who has an account.
    message = "check your mailbox: we sent a link to confirm the address"
    return json_answer(Accepted(message=message), status=202)


async def _verify(request: web.Request, token: str) -> web.Response:
    mails: list[Mail] = []
    async with transaction(request) as session:
        account = await confirm_email(session, request.app[CIPHER], token, mails=mails)
    await send_mails(request, mails)
    return json_answer(Verified(account_id=account.id or 0))


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Confirm an e-mail address with the token of its one-time link",
    body=VerificationIn,
    answers=Verified,
)
async def verify_email(request: web.Request) -> web.Response:
    body = request[BODY]
    assert isinstance(body, VerificationIn)
    return await _verify(request, body.token)


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Confirm an e-mail address by opening its one-time link (`?token=`)",
    answers=Verified,
)
async def verify_email_link(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not token or len(token) > 200:
        raise InvalidInput("the link has no valid token", field="token")
    return await _verify(request, token)


# --- profile ------------------------------------------------------------------------------


def _profile_out(profile: Any) -> ProfileOut:
    return ProfileOut(
        id=profile.id,
        name=profile.name,
        email=profile.email,
        email_verified=profile.email_verified,
        pending_email=profile.pending_email,
        company=profile.company,
        address=profile.address,
        phone=profile.phone,
        region=profile.region,
        second_factor=profile.second_factor,
        created_at=as_utc(profile.created_at),
        consents=[
            ConsentOut(
                region=c.region, statement_version=c.statement_version, given_at=as_utc(c.given_at)
            )
            for c in profile.consents
        ],
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.ACCOUNT_READ,
    summary="Everything my account holds about me, decrypted",
    answers=ProfileOut,
)
async def get_profile(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        account = await get_account(session, principal.account_id)
        profile = await profile_of(session, request.app[CIPHER], account)
    return json_answer(_profile_out(profile))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.ACCOUNT_WRITE,
    summary="Correct my profile: name, contact details, region (not how I log in)",
    body=ProfileIn,
    answers=ProfileUpdated,
)
async def patch_profile(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, ProfileIn)
    cipher = request.app[CIPHER]
    async with transaction(request) as session:
        account = await get_account(session, principal.account_id)
        changed = await update_profile(
            session,
            cipher,
            account,
            ProfileUpdate(**body.model_dump(exclude=set(CREDENTIAL_ROUTES))),
            request.app[SETTINGS].accounts,
            actor=principal.actor,
        )
    async with AsyncSession(engine_for(request)) as session:
        profile = await profile_of(session, cipher, await get_account(session, account.id or 0))
    return json_answer(ProfileUpdated(changed=changed, profile=_profile_out(profile)))


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Change my login e-mail address (needs the current password, and a code when the "
    "second factor is on); it takes effect once the link mailed to it is used",
    body=EmailChangeIn,
    answers=EmailChangeRequested,
)
async def change_my_email(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, EmailChangeIn)
    async with mailing(request) as mails, transaction(request) as session:
        account = await get_account(session, principal.account_id)
        requested = await request_email_change(
            session,
            request.app[CIPHER],
            account,
            body.email,
            Proof(body.current_password, body.code),
            client_ip_of(request),
            request.app[SETTINGS].accounts,
            actor=principal.actor,
            link_base=link_base(request),
            mails=mails,
            clock=request.app[CLOCK],
        )
    if not requested:
        return json_answer(
            EmailChangeRequested(pending_email=None, message="this already is your address")
        )
    # The same answer whether or not another account holds the address.
    return json_answer(
        EmailChangeRequested(
            pending_email=normalise_email(body.email),
            message="check the new address's mailbox: it takes effect once its link is opened",
        )
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.ACCOUNT_READ,
    summary="The history of my profile: who changed which fields when, with the old values",
    answers=History,
)
async def profile_history(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        changes = await history_of(session, request.app[CIPHER], principal.account_id)
    return json_answer(
        History(
            changes=[
                ChangeOut(at=as_utc(c.at), actor=c.actor, fields=c.fields, old_values=c.old_values)
                for c in changes
            ]
        )
    )


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Change my password (needs the current one, and a code when the second factor is "
    "on; ends my other sessions)",
    body=PasswordIn,
    answers=PasswordChanged,
)
async def change_my_password(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, PasswordIn)
    async with mailing(request) as mails, transaction(request) as session:
        account = await get_account(session, principal.account_id)
        ended = await change_password(
            session,
            request.app[CIPHER],
            account,
            Proof(body.current_password, body.code),
            body.new_password,
            client_ip_of(request),
            request.app[SETTINGS].accounts,
            actor=principal.actor,
            keep_session_id=principal.session_id,
            mails=mails,
            clock=request.app[CLOCK],
        )
    return json_answer(PasswordChanged(other_sessions_ended=ended))


# --- second factor ------------------------------------------------------------------------


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Start turning on the second factor: a TOTP secret for the authenticator app",
    answers=EnrolmentOut,
)
async def begin_second_factor(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with transaction(request) as session:
        account = await get_account(session, principal.account_id)
        enrolment = begin_enrolment(request.app[CIPHER], account)
        session.add(account)
    return json_answer(
        EnrolmentOut(secret=enrolment.secret, provisioning_uri=enrolment.provisioning_uri)
    )


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary=(
        "Turn on the second factor with the password and a code from the app; answers the "
        "recovery codes once"
    ),
    body=EnableIn,
    answers=RecoveryCodes,
)
async def confirm_second_factor(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, EnableIn)
    async with mailing(request) as mails, transaction(request) as session:
        account = await get_account(session, principal.account_id)
        codes = await turn_on_second_factor(
            session,
            request.app[CIPHER],
            account,
            body.password,
            body.code,
            client_ip_of(request),
            request.app[SETTINGS].accounts,
            actor=principal.actor,
            mails=mails,
            clock=request.app[CLOCK],
        )
    return json_answer(RecoveryCodes(recovery_codes=codes))


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Turn off the second factor (needs the password and a code)",
    body=DisableIn,
    answers=SecondFactorState,
)
async def disable_second_factor(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, DisableIn)
    async with mailing(request) as mails, transaction(request) as session:
        account = await get_account(session, principal.account_id)
        await turn_off_second_factor(
            session,
            request.app[CIPHER],
            account,
            Proof(body.password, body.code),
            client_ip_of(request),
            request.app[SETTINGS].accounts,
            actor=principal.actor,
            mails=mails,
            clock=request.app[CLOCK],
        )
    return json_answer(SecondFactorState(second_factor=False))
