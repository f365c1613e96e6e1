"""`/ot/v1/accounts` (registration, e-mail verification) and `/ot/v1/account` (the caller's
profile, its history, and how it logs in: e-mail address, password and second factor). The
rules live in `ot.accounts.registration`, `ot.accounts.profile`, `ot.accounts.login` and
`ot.accounts.second_factor`; these handlers only translate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.login import Proof
from ot.accounts.passwords import MAX_PASSWORD_LENGTH
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
from ot.accounts.store import (
    CONTACT_LIMITS,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    get_account,
    normalise_email,
)
from ot.clock import as_utc
from ot.errors import InvalidInput, OtError
from ot.mailer import Mail
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


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- registration -------------------------------------------------------------------------


class NewAccount(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    company: str = Field(default="", max_length=CONTACT_LIMITS["company"])
    address: str = Field(default="", max_length=CONTACT_LIMITS["address"])
    phone: str = Field(default="", max_length=CONTACT_LIMITS["phone"])
    region: Literal["nl", "us"]
    consent: StrictBool = Field(
        description="Express consent to hosting and transfer of the account's data in `region`"
    )


class Accepted(BaseModel):
    message: str


class VerificationIn(Strict):
    token: str = Field(min_length=1, max_length=200)


class Verified(BaseModel):
    verified: bool = True
    account_id: int


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


class ConsentOut(BaseModel):
    region: str
    statement_version: str
    given_at: datetime


class ProfileOut(BaseModel):
    id: int
    name: str
    email: str | None
    email_verified: bool
    pending_email: str | None
    company: str
    address: str
    phone: str
    region: str | None
    second_factor: bool
    created_at: datetime
    consents: list[ConsentOut]


# How the account logs in is changed only with a session that proves itself again, never here
# (where an API key with account:write may write): these fields are refused naming the route.
CREDENTIAL_ROUTES = {
    "email": "POST /ot/v1/account/email",
    "password": "POST /ot/v1/account/password",
}


class ProfileIn(Strict):
    name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    email: SkipJsonSchema[Any] = None
    password: SkipJsonSchema[Any] = None
    company: str | None = Field(default=None, max_length=CONTACT_LIMITS["company"])
    address: str | None = Field(default=None, max_length=CONTACT_LIMITS["address"])
    phone: str | None = Field(default=None, max_length=CONTACT_LIMITS["phone"])
    region: Literal["nl", "us"] | None = None
    consent: StrictBool | None = Field(
        default=None, description="Needed with a new region: consent to hosting there"
    )

    @field_validator("email", "password", mode="before")
    @classmethod
    def _credentials_elsewhere(cls, value: Any, info: Any) -> None:
        raise PydanticCustomError(
            "credential_elsewhere",
            "the login {field} is changed with {route}, by a logged-in session with the current "
            "password (and the second factor when it is on)",
            {"field": info.field_name, "route": CREDENTIAL_ROUTES[info.field_name]},
        )


class ProfileUpdated(BaseModel):
    changed: list[str]
    profile: ProfileOut


CODE_DESCRIPTION = "With the second factor on: a code from the authenticator app or a recovery code"


class PasswordIn(Strict):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    code: str | None = Field(
        default=None, min_length=1, max_length=64, description=CODE_DESCRIPTION
    )


class EmailChangeIn(Strict):
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    code: str | None = Field(
        default=None, min_length=1, max_length=64, description=CODE_DESCRIPTION
    )


class EmailChangeRequested(BaseModel):
    pending_email: str | None  # None: the address already was the account's
    message: str


class PasswordChanged(BaseModel):
    other_sessions_ended: int


class ChangeOut(BaseModel):
    at: datetime
    actor: str
    fields: list[str]
    old_values: dict[str, str | None]


class History(BaseModel):
    changes: list[ChangeOut]


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


class EnrolmentOut(BaseModel):
    secret: str
    provisioning_uri: str


class EnableIn(Strict):
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    code: str = Field(min_length=1, max_length=64)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class DisableIn(Strict):
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    code: str = Field(min_length=1, max_length=64)


class SecondFactorState(BaseModel):
    second_factor: bool


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
