"""Dunning: what happens to an invoice not paid by its due date. At the due date the customer
is reminded by mail; `grace_days` later their dashboard is locked (statistics are not shown
through any door) while their hits are still collected, so they lose nothing; paying unlocks it.
`run_dunning` does both steps for every overdue invoice (`ot-admin billing dunning`, daily)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import account_email, get_account
from ot.clock import as_utc
from ot.config import BillingSettings
from ot.db import transaction
from ot.errors import PaymentRequired
from ot.mailer import Mail, Mailer
from ot.models import Invoice, InvoiceState, Subscription
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

from .invoices import get_invoice, money

log = logging.getLogger("ot.billing")


# Invoices whose money we do not have: open ones, and those a chargeback took back.
UNPAID = frozenset({InvoiceState.OPEN, InvoiceState.REVERSED})


async def overdue_invoices(session: AsyncSession, *, now: datetime) -> list[Invoice]:
    """Unpaid invoices past their due date, oldest first."""
    query = (
        select(Invoice)
        .where(col(Invoice.state).in_(sorted(UNPAID)), col(Invoice.due_at) < now)
        .order_by(col(Invoice.due_at), col(Invoice.id))
    )
    return list((await session.exec(query)).all())


@dataclass
class DunningReport:
    reminded: list[str] = field(default_factory=list)  # invoice numbers
    locked: list[int] = field(default_factory=list)  # account ids
    # Reminders whose mail could not be sent: their record was undone, the next run tries again.
    not_mailed: list[str] = field(default_factory=list)


async def run_dunning(
    engine: AsyncEngine,
    cipher: Cipher,
    mailer: Mailer,
    settings: BillingSettings,
    *,
    now: datetime,
    actor: Actor,
) -> DunningReport:
    """Remind once per overdue invoice; lock the dashboard of accounts with an invoice overdue
    past the grace period. Running it again the same day does nothing more.

    Each invoice is dunned in its own short unit of work, committed before its reminder is
    mailed: no transaction (nor SQLite's write lock) is held while the mail server is talked
    to, and a failure half way keeps what was done before it. The record comes first, the mail
    after: a crash between the two leaves a reminder recorded but not mailed (the customer
    misses one mail), never one mailed but unrecorded (mailed again at every run, with nothing
    in the trail). A mail that fails outright undoes its record, so the next run sends it."""
    report = DunningReport()
    async with transaction(engine, locked=False) as session:
        overdue = [invoice.number for invoice in await overdue_invoices(session, now=now)]
    for number in overdue:
        reminder = await _dun(engine, cipher, settings, number, now, actor, report)
        if reminder is None:
            continue
        try:
            await asyncio.to_thread(mailer.send, reminder)
        except Exception as error:  # the mail server's trouble must not stop the locking
            failure = {"invoice": number, "error": type(error).__name__}
            log.error("a reminder could not be mailed", extra=failure)
            await _undo_reminder(engine, number, error, actor)
            report.reminded.remove(number)
            report.not_mailed.append(number)
    return report


async def _dun(
    engine: AsyncEngine,
    cipher: Cipher,
    settings: BillingSettings,
    number: str,
    now: datetime,
    actor: Actor,
    report: DunningReport,
) -> Mail | None:
    """Record one invoice's reminder and lock, committed; the reminder to mail, if any."""
    reminder: Mail | None = None
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        if invoice.state not in UNPAID:
            return None  # paid since the list was read
        if invoice.reminded_at is None:
            account = await get_account(session, invoice.account_id)
            address = account_email(account, cipher)
            invoice.reminded_at = now
            session.add(invoice)
            await audit.record(
                session,
                AuditAction.INVOICE_REMINDED,
                actor=actor,
                account_id=invoice.account_id,
                details={"invoice": invoice.number, "mailed": address is not None},
            )
            if address is not None:
                reminder = _reminder(invoice, address, settings)
            report.reminded.append(invoice.number)
        if await lock_if_past_grace(session, invoice, settings, now, actor):
            report.locked.append(invoice.account_id)
    return reminder


async def lock_if_past_grace(
    session: AsyncSession, invoice: Invoice, settings: BillingSettings, now: datetime, actor: Actor
) -> bool:
    """Lock the account's dashboard for an unpaid invoice past its grace period, unless it is
    locked already; whether it was locked now."""
    if now < as_utc(invoice.due_at) + timedelta(days=settings.grace_days):
        return False
    subscription = await session.get(Subscription, invoice.account_id)
    if subscription is None:
        subscription = Subscription(account_id=invoice.account_id, plan=invoice.plan, since=now)
    if subscription.locked_at is not None:
        return False
    subscription.locked_at, subscription.locked_for = now, invoice.number
    session.add(subscription)
    await audit.record(
        session,
        AuditAction.DASHBOARD_LOCKED,
        actor=actor,
        account_id=invoice.account_id,
        details={"invoice": invoice.number},
    )
    return True


async def _undo_reminder(engine: AsyncEngine, number: str, error: Exception, actor: Actor) -> None:
    """Forget a reminder whose mail could not be sent, so that the next run sends it; the trail
    keeps both entries."""
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        invoice.reminded_at = None
        session.add(invoice)
        await audit.record(
            session,
            AuditAction.INVOICE_REMINDED,
            actor=actor,
            account_id=invoice.account_id,
            details={"invoice": number, "mailed": False, "undone": type(error).__name__},
        )


def _reminder(invoice: Invoice, address: str, settings: BillingSettings) -> Mail:
    locks_on = as_utc(invoice.due_at) + timedelta(days=settings.grace_days)
    text = (
        f"Invoice {invoice.number} ({money(invoice.amount, invoice.currency)}, plan "
        f"{invoice.plan}, {invoice.period}) was due on {as_utc(invoice.due_at):%Y-%m-%d}.\n\n"
        "Pay it with PayPal from the Billing screen of `ot tui`. If it is still open on "
        f"{locks_on:%Y-%m-%d}, your dashboard is locked until it is paid; your sites' visits "
        "are still counted meanwhile, so no statistics are lost.\n"
    )
    return Mail(to=address, subject=f"Invoice {invoice.number} is overdue", text=text)


class DashboardLocked(PaymentRequired):
    """The account's statistics are not shown until its overdue invoice is paid."""

    code = "dashboard_locked"


async def refuse_if_locked(session: AsyncSession, account_id: int) -> None:
    """Refuse a read of the account's statistics while its dashboard is locked (through any
    door: its own sessions and keys, its team's, the grants it gave)."""
    subscription = await lock_of(session, account_id)
    if subscription is not None:
        raise DashboardLocked(
            f"the statistics of this account are locked until invoice {subscription.locked_for} "
            "is paid (its visits are still counted): pay it from the Billing screen of `ot tui`, "
            "or POST /ot/v1/billing/invoices/{number}/payment",
            field="invoice",
        )


async def lock_of(session: AsyncSession, account_id: int) -> Subscription | None:
    """The account's subscription if its dashboard is locked, else None."""
    subscription = await session.get(Subscription, account_id)
    return subscription if subscription and subscription.locked_at else None


async def unlock_if_settled(session: AsyncSession, account_id: int, *, actor: Actor) -> bool:
    """Unlock a locked dashboard once the invoice that locked it is paid: at once, as the
    customer is told. Another invoice long overdue locks it again at the next dunning run."""
    subscription = await lock_of(session, account_id)
    if subscription is None:
        return False
    locking = (
        await session.exec(select(Invoice).where(Invoice.number == subscription.locked_for))
    ).first()
    if locking is not None and locking.state in UNPAID:
        return False
    subscription.locked_at = subscription.locked_for = None
    session.add(subscription)
    await audit.record(session, AuditAction.DASHBOARD_UNLOCKED, actor=actor, account_id=account_id)
    return True
