"""Invoices: issued once per account and month (`issue_invoices`, what `ot-admin billing run`
does), numbered without gaps, kept as a record and as the plain text the customer reads.

Running a month again issues nothing twice: an account's month has at most one invoice (a
unique key), and accounts already invoiced are skipped. Accounts on a plan priced 0 get none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import ADDRESS_CONTEXT, COMPANY_CONTEXT, account_name, list_accounts
from ot.clock import as_utc
from ot.config import BillingSettings, Plan
from ot.errors import InvalidInput, NotFound
from ot.models import (
    INVOICE_RENDERING,
    Account,
    AccountDeletion,
    BillingCounter,
    Invoice,
    InvoiceState,
)
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

from .plans import Period, pageviews_used, plan_of


@dataclass(frozen=True)
class BillingRun:
    """What a run of a month did: the invoices issued now, and the accounts it left alone."""

    period: Period
    issued: list[Invoice]
    already_invoiced: int
    free: int  # accounts on a plan priced 0


async def issue_invoices(
    session: AsyncSession,
    cipher: Cipher,
    settings: BillingSettings,
    period: Period,
    *,
    now: datetime,
    actor: Actor,
    progress: Callable[[int, int | None], None] | None = None,
) -> BillingRun:
    """Invoice every account for `period` that has not been, at its current plan's price. The
    caller's transaction must hold the write lock (`ot.db.transaction(locked=True)`): numbers
    are taken from the counter in it. `progress` is told the accounts done, of all."""
    if period.end > now:
        raise InvalidInput(
            f"{period} is not over yet: a month is invoiced once it has ended", field="period"
        )
    invoiced = set(
        (await session.exec(select(Invoice.account_id).where(Invoice.period == str(period)))).all()
    )
    # Purged accounts are tombstones: nothing to bill, and nobody to bill it to.
    purged = set(
        (
            await session.exec(
                select(AccountDeletion.account_id).where(
                    col(AccountDeletion.purged_at).is_not(None)
                )
            )
        ).all()
    )
    issued: list[Invoice] = []
    free = 0
    accounts = await list_accounts(session)
    for done, account in enumerate(accounts):
        if progress is not None:
            progress(done, len(accounts))
        assert account.id is not None
        if account.id in invoiced or account.id in purged:
            continue
        if account.created_at is not None and as_utc(account.created_at) >= period.end:
            continue  # not a customer yet that month
        plan = await plan_of(session, settings, account.id)
        if plan.price == 0:
            free += 1
            continue
        used = await pageviews_used(session, account.id, period)
        issued.append(
            await _issue(session, cipher, settings, account, plan, period, used, now, actor)
        )
    if progress is not None:
        progress(len(accounts), len(accounts))
    return BillingRun(period, issued, len(invoiced), free)


async def _issue(
    session: AsyncSession,
    cipher: Cipher,
    settings: BillingSettings,
    account: Account,
    plan: Plan,
    period: Period,
    used: int,
    now: datetime,
    actor: Actor,
) -> Invoice:
    number = await _next_number(session, settings, now.year)
    invoice = Invoice(
        number=number,
        account_id=account.id or 0,
        period=str(period),
        plan=plan.name,
        quota_pageviews=plan.monthly_pageviews,
        pageviews=used,
        amount=plan.price,
        currency=settings.currency,
        state=InvoiceState.OPEN,
        issued_at=now,
        due_at=now + timedelta(days=settings.payment_days),
        rendering_encrypted="",
    )
    invoice.rendering_encrypted = cipher.encrypt(
        render(invoice, settings, account, cipher), context=INVOICE_RENDERING.context
    )
    session.add(invoice)
    await session.flush()
    await audit.record(
        session,
        AuditAction.INVOICE_ISSUED,
        actor=actor,
        account_id=invoice.account_id,
        details={"invoice": number, "period": str(period), "amount": str(plan.price)},
    )
    return invoice


async def _next_number(session: AsyncSession, settings: BillingSettings, year: int) -> str:
    counter = await session.get(BillingCounter, year, with_for_update=True)
    if counter is None:
        counter = BillingCounter(year=year, last_number=0)
    counter.last_number += 1
    session.add(counter)
    await session.flush()
    return f"{settings.invoice_prefix}-{year}-{counter.last_number:06}"


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def render(invoice: Invoice, settings: BillingSettings, account: Account, cipher: Cipher) -> str:
    """The invoice as the customer reads it (in the TUI, the API, their export): plain text."""
    bill_to = [account_name(account, cipher)]
    if account.company_encrypted:
        bill_to.append(cipher.decrypt(account.company_encrypted, context=COMPANY_CONTEXT))
    if account.address_encrypted:
        bill_to.extend(
            cipher.decrypt(account.address_encrypted, context=ADDRESS_CONTEXT).splitlines()
        )
    over = invoice.pageviews - invoice.quota_pageviews
    usage = f"{invoice.pageviews:,} pageviews of {invoice.quota_pageviews:,}"
    if over > 0:
        usage += f" ({over:,} over the plan: consider the next plan up)"
    lines = [
        f"INVOICE {invoice.number}",
        "",
        f"From:      {settings.issuer}",
        f"To:        {bill_to[0]}",
        *(f"           {line}" for line in bill_to[1:]),
        f"Account:   {invoice.account_id}",
        f"Issued:    {as_utc(invoice.issued_at):%Y-%m-%d}",
        f"Due:       {as_utc(invoice.due_at):%Y-%m-%d}",
        "",
        f"Plan {invoice.plan}, {invoice.period}: {usage}",
        f"Amount due: {money(invoice.amount, invoice.currency)} (taxes included)",
        "",
        "Pay with PayPal from the Billing screen of `ot tui`, or through the API",
        f"(POST /ot/v1/billing/invoices/{invoice.number}/payment).",
    ]
    return "\n".join(lines) + "\n"


def rendering_of(invoice: Invoice, cipher: Cipher) -> str:
    return cipher.decrypt(invoice.rendering_encrypted, context=INVOICE_RENDERING.context)


async def get_invoice(
    session: AsyncSession, number: str, *, account_id: int | None = None, for_update: bool = False
) -> Invoice:
    """An invoice by number (of that account, when given: another's reads as missing)."""
    query = select(Invoice).where(Invoice.number == number)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    if for_update:
        query = query.with_for_update()
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound(f"invoice {number} does not exist", field="invoice")
    return found


async def list_invoices(
    session: AsyncSession,
    *,
    account_id: int | None = None,
    states: frozenset[InvoiceState] | None = None,
) -> list[Invoice]:
    """Invoices, newest first."""
    query = select(Invoice)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    if states is not None:
        query = query.where(col(Invoice.state).in_(sorted(states)))
    return list((await session.exec(query.order_by(col(Invoice.id).desc()))).all())
