"""Telling the customer about a disclosure request, unless a gag forbids it for now.

A decided request (approved, exported or rejected) is told to the account's e-mail address once
(`notify_customer`); while a gag holds, notifying is refused and the request waits until the
gag's end, or until the authority lifts it (`lift_gag`). `due_notices` lists the decided
requests whose customer may be told now and has not been.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import account_email, get_account
from ot.clock import as_utc
from ot.errors import Conflict
from ot.mailer import Mail, Mailer
from ot.models import DisclosureRequest, DisclosureState, OperatorRole
from ot.security import audit
from ot.security.audit import AuditAction
from ot.security.crypto import Cipher
from ot.security.operators import Operator, require_role

from .requests import (
    DisclosureRefused,
    customer_may_be_told,
    get_request,
    is_partial,
    texts_of,
)

DECIDED = frozenset({DisclosureState.APPROVED, DisclosureState.EXPORTED, DisclosureState.REJECTED})
CATEGORY_WORDS = {
    "customer_information": "your account's details (name, e-mail, contact and billing details)",
    "statistics": "daily statistics of your sites",
    "raw_hits": "the page views and events stored for your sites",
    "ips": "the visitors' IP addresses stored with them",
}


async def notify_customer(
    session: AsyncSession,
    cipher: Cipher,
    mailer: Mailer,
    operator: Operator,
    request_id: int,
    *,
    now: datetime,
) -> DisclosureRequest:
    """Mail the account's owner what was asked and what was decided, as a `legal` operator;
    refused while gagged, before a decision, and when told already."""
    await require_role(session, operator, OperatorRole.LEGAL, act="disclosure notify")
    request = await get_request(session, request_id, for_update=True)
    if request.state not in DECIDED:
        raise Conflict(
            f"disclosure request {request_id} is {request.state.value}: the customer is told "
            "once it is decided",
            field="request",
        )
    if request.notified_at is not None:
        raise Conflict(
            f"the customer of disclosure request {request_id} was told on "
            f"{as_utc(request.notified_at):%Y-%m-%d} by {request.notified_by}",
            field="request",
        )
    if not customer_may_be_told(request, now):
        until = (
            f"until {as_utc(request.gag_ends_at):%Y-%m-%d %H:%M} UTC"
            if request.gag_ends_at is not None
            else "until the authority lifts it (`ot-admin disclosure lift-gag`)"
        )
        await audit.record(
            session,
            AuditAction.DISCLOSURE_REFUSED,
            actor=operator.actor,
            details={"request_id": request_id, "attempted": "notify", "reason": "gag"},
        )
        raise DisclosureRefused(
            f"disclosure request {request_id} is under a gag {until}: the customer may not be "
            "told yet; `ot-admin disclosure due` lists it once they may",
            request_id=request_id,
            reason="gag",
        )
    account = await get_account(session, request.account_id)
    address = account_email(account, cipher)
    if address is None:
        raise Conflict(
            f"account {request.account_id} has no e-mail address to tell", field="request"
        )
    request.notified_by, request.notified_at = operator.login, now
    session.add(request)
    await audit.record(
        session,
        AuditAction.DISCLOSURE_NOTIFIED,
        actor=operator.actor,
        details={"request_id": request_id, "account_id": request.account_id},
    )
    await session.flush()
    # Last: if the mail cannot go out, the caller's transaction rolls the record back.
    await asyncio.to_thread(mailer.send, notice(request, cipher, address))
    return request


def notice(request: DisclosureRequest, cipher: Cipher, address: str) -> Mail:
    """The mail telling the customer: who asked, under what, for what, and what we did."""
    texts = texts_of(request, cipher)
    if request.state == DisclosureState.REJECTED:
        outcome = "We refused the request: none of your data was disclosed."
        categories = request.categories
    else:
        categories = (
            request.categories
            if request.approved_categories is None
            else request.approved_categories
        )
        outcome = (
            "We found the request lawful and disclosed "
            + ("part of what was asked" if is_partial(request) else "what was asked")
            + ", and nothing else."
        )
    asked = "\n".join(f"  - {CATEGORY_WORDS.get(each, each)}" for each in categories)
    period = f"{as_utc(request.period_start):%Y-%m-%d} to {as_utc(request.period_end):%Y-%m-%d}"
    text = (
        f"An authority asked us for data of your opentracker account {request.account_id}.\n\n"
        f"Authority: {texts.authority}\n"
        f"Legal basis: {texts.legal_basis}\n"
        f"Their reference: {texts.reference}\n"
        f"Period: {period}\n\n"
        f"{outcome}\n"
        f"{'Asked for' if request.state == DisclosureState.REJECTED else 'Disclosed'}:\n"
        f"{asked}\n\n"
        f"Our reference: disclosure request {request.id}. Every step of it is in our audit "
        "trail, reviewed by two people. Our transparency report counts it.\n"
    )
    return Mail(to=address, subject="An authority asked for your data", text=text)


async def lift_gag(
    session: AsyncSession, operator: Operator, request_id: int, *, now: datetime
) -> DisclosureRequest:
    """End a request's gag now, as the authority has said: the customer may then be told."""
    await require_role(session, operator, OperatorRole.LEGAL, act="disclosure lift-gag")
    request = await get_request(session, request_id, for_update=True)
    if customer_may_be_told(request, now):
        raise Conflict(f"disclosure request {request_id} is under no gag now", field="request")
    request.gag_ends_at = now
    session.add(request)
    await audit.record(
        session,
        AuditAction.DISCLOSURE_GAG_LIFTED,
        actor=operator.actor,
        details={"request_id": request_id, "account_id": request.account_id},
    )
    return request


async def due_notices(session: AsyncSession, *, now: datetime) -> list[DisclosureRequest]:
    """Decided requests whose customer may be told now and has not been, oldest first."""
    query = (
        select(DisclosureRequest)
        .where(col(DisclosureRequest.state).in_(list(DECIDED)))
        .where(col(DisclosureRequest.notified_at).is_(None))
        .order_by(col(DisclosureRequest.id))
    )
    return [each for each in (await session.exec(query)).all() if customer_may_be_told(each, now)]
