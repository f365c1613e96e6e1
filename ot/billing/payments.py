"""Paying invoices through the payment gateway: the customer starts a payment and approves it at
PayPal, PayPal sends them back to `/billing/paypal/return` where it is executed, PayPal's
webhooks tell what happens to the money afterwards, and operators refund.

Nothing here holds a database transaction open while PayPal is asked: each act stores what it
is about to ask (the request id) and commits, asks, then stores the answer in a second
transaction. A retry after a timeout or a crash reuses the stored request id, so PayPal answers
it without charging or refunding twice (see `ot.billing.gateway`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from ot.clock import as_utc, utcnow
from ot.config import BillingSettings, Settings
from ot.db import transaction
from ot.errors import Conflict, InvalidInput
from ot.models import INVOICE_PAYER_EMAIL, INVOICE_PAYER_ID, Invoice, InvoiceState, PayPalEvent
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

from .dunning import UNPAID, lock_if_past_grace, unlock_if_settled
from .gateway import PaymentGateway
from .invoices import get_invoice, money

log = logging.getLogger("ot.billing")
RETURN_PATH = "/billing/paypal/return"
CANCEL_PATH = "/billing/paypal/cancel"
PAYABLE = UNPAID  # open, or reversed by a chargeback: paid anew with a new payment
# How long the payer has on PayPal's approval page (its express-checkout token lives three
# hours); asked to pay later, the customer gets a new payment rather than a dead page.
APPROVAL_LIFETIME = timedelta(hours=3)


def paypal_gateway(settings: Settings) -> PaymentGateway:
    """The configured gateway. PayPal's SDK is imported here, when a payment is first made:
    the server and the commands start without it."""
    if not settings.paypal.client_id or not settings.paypal.client_secret:
        raise PaymentsOff(
            "payments through PayPal are off on this installation: set OT_PAYPAL__CLIENT_ID "
            "and OT_PAYPAL__CLIENT_SECRET"
        )
    from .paypal import PayPalGateway

    return PayPalGateway(settings.paypal)


class PaymentsOff(Conflict):
    """No payment provider is configured."""

    code = "payments_off"


@dataclass(frozen=True)
class StartedPayment:
    invoice: str
    approval_url: str


async def start_payment(
    engine: AsyncEngine,
    gateway: PaymentGateway,
    public_url: str,
    account_id: int,
    number: str,
    *,
    actor: Actor,
) -> StartedPayment:
    """The PayPal page where the customer approves paying an open invoice of their account.
    Asked again, the same payment (and page) is answered: never two payments for one invoice."""
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, account_id=account_id, for_update=True)
        if invoice.state not in PAYABLE:
            raise Conflict(
                f"invoice {number} is {invoice.state.value}: nothing to pay", field="invoice"
            )
        shown_at = invoice.approval_created_at
        if invoice.approval_url and shown_at and utcnow() - as_utc(shown_at) < APPROVAL_LIFETIME:
            return StartedPayment(number, invoice.approval_url)
        if invoice.approval_url:  # PayPal's page has expired: a new payment, a new request
            invoice.approval_url = invoice.payment_id = invoice.payment_request_id = None
        if invoice.payment_request_id is None:
            invoice.payment_request_id = f"{number}-pay-{uuid.uuid4().hex[:12]}"
            session.add(invoice)
        request_id = invoice.payment_request_id
        amount, currency = invoice.amount, invoice.currency
    base = public_url.rstrip("/")
    created = await gateway.create_payment(
        reference=number,
        amount=amount,
        currency=currency,
        description=f"opentracker invoice {number} ({money(amount, currency)})",
        return_url=f"{base}{RETURN_PATH}?invoice={number}",
        cancel_url=f"{base}{CANCEL_PATH}?invoice={number}",
        request_id=request_id,
    )
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        invoice.payment_id, invoice.approval_url = created.payment_id, created.approval_url
        invoice.approval_created_at = utcnow()
        session.add(invoice)
        await audit.record(
            session,
            AuditAction.INVOICE_PAYMENT_STARTED,
            actor=actor,
            account_id=invoice.account_id,
            details={"invoice": number, "payment_id": created.payment_id},
        )
    return StartedPayment(number, created.approval_url)


async def complete_payment(
    engine: AsyncEngine,
    gateway: PaymentGateway,
    cipher: Cipher,
    number: str,
    *,
    payment_id: str,
    payer_id: str,
) -> Invoice:
    """Execute the payment the customer approved (PayPal's redirect back to us), and mark the
    invoice paid (or pending, while the money is on its way). A second redirect for a payment
    already executed answers the invoice as it is."""
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number)
        if invoice.payment_id is None or invoice.payment_id != payment_id:
            raise InvalidInput(
                f"payment {payment_id} is not the payment of invoice {number}", field="paymentId"
            )
        if invoice.state not in PAYABLE:
            return invoice
    executed = await gateway.execute_payment(
        payment_id=payment_id, payer_id=payer_id, request_id=f"{number}-execute-{payment_id}"
    )
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        if invoice.state not in PAYABLE:
            return invoice  # a webhook (or a second redirect) got here first
        invoice.sale_id = executed.sale_id
        invoice.payer_id_encrypted = cipher.encrypt(
            executed.payer_id, context=INVOICE_PAYER_ID.context
        )
        invoice.payer_email_encrypted = cipher.encrypt(
            executed.payer_email, context=INVOICE_PAYER_EMAIL.context
        )
        await _settle(session, invoice, executed.state == "completed", Actor.system("paypal"))
        return invoice


async def _settle(session: Any, invoice: Invoice, completed: bool, actor: Actor) -> None:
    """Mark an invoice paid (or pending) and unlock a dashboard it had locked."""
    invoice.state = InvoiceState.PAID if completed else InvoiceState.PENDING
    if completed and invoice.paid_at is None:
        invoice.paid_at = utcnow()
    session.add(invoice)
    await session.flush()
    await audit.record(
        session,
        AuditAction.INVOICE_PAID,
        actor=actor,
        account_id=invoice.account_id,
        details={"invoice": invoice.number, "state": invoice.state.value},
    )
    if completed:
        await unlock_if_settled(session, invoice.account_id, actor=actor)


def check_refundable(invoice: Invoice) -> None:
    """Refuse refunding anything but a paid invoice (before PayPal is even set up)."""
    if invoice.state == InvoiceState.REFUNDED:
        raise Conflict(f"invoice {invoice.number} is refunded already", field="invoice")
    if invoice.state != InvoiceState.PAID or invoice.sale_id is None:
        raise Conflict(
            f"invoice {invoice.number} is {invoice.state.value}: only a paid invoice is refunded",
            field="invoice",
        )


async def refund_invoice(
    engine: AsyncEngine, gateway: PaymentGateway, number: str, *, actor: Actor
) -> Invoice:
    """Send a paid invoice's whole amount back to its payer, as an operator decided."""
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        check_refundable(invoice)
        assert invoice.sale_id is not None
        if invoice.refund_request_id is None:
            invoice.refund_request_id = f"{number}-refund-{uuid.uuid4().hex[:12]}"
            session.add(invoice)
        request_id, sale_id = invoice.refund_request_id, invoice.sale_id
        # What is left after partial refunds made at PayPal (PayPal refuses more than that).
        amount, currency = invoice.amount - invoice.refunded_amount, invoice.currency
    refund = await gateway.refund_sale(
        sale_id=sale_id, amount=amount, currency=currency, request_id=request_id
    )
    async with transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        invoice.state, invoice.refund_id, invoice.refunded_at = (
            InvoiceState.REFUNDED,
            refund.refund_id,
            utcnow(),
        )
        invoice.refunded_amount = invoice.amount
        session.add(invoice)
        await audit.record(
            session,
            AuditAction.INVOICE_REFUNDED,
            actor=actor,
            account_id=invoice.account_id,
            details={"invoice": number, "refund_id": refund.refund_id},
        )
        return invoice


class WebhookRefused(InvalidInput):
    """A webhook request PayPal did not vouch for, or that is no event."""

    code = "webhook_refused"


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    outcome: str  # what was done, or "duplicate" for an event handled before
    invoice: str | None


async def handle_webhook(
    engine: AsyncEngine,
    gateway: PaymentGateway,
    billing: BillingSettings,
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookOutcome:
    """Believe an event only once PayPal has verified it, then apply it once: the event's id is
    stored with what was done, in the transaction that does it."""
    if not _signed_by_paypal_headers(headers):
        # Checked before PayPal is asked, so that anyone's POST does not cost a call to it.
        log.warning("webhook without PayPal's signature headers refused")
        raise WebhookRefused("this request carries no PayPal signature", field="headers")
    if not await gateway.verify_webhook(headers=headers, body=body):
        log.warning("webhook PayPal did not verify refused")
        raise WebhookRefused("PayPal did not verify this webhook event", field="body")
    try:
        event = json.loads(body)
        event_id, event_type = str(event["id"]), str(event["event_type"])
        resource = event.get("resource") or {}
        if not isinstance(resource, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise WebhookRefused("the webhook's body is not a PayPal event", field="body") from None
    async with transaction(engine) as session:
        seen = await session.get(PayPalEvent, event_id)
        if seen is not None:
            return WebhookOutcome(event_id, "duplicate", seen.invoice_number)
        invoice, outcome = await _apply(session, billing, event_type, resource)
        session.add(
            PayPalEvent(
                event_id=event_id,
                event_type=event_type[:80],
                resource_id=str(resource.get("id", ""))[:64],
                invoice_number=invoice.number if invoice else None,
                outcome=outcome,
                received_at=utcnow(),
            )
        )
    return WebhookOutcome(event_id, outcome, invoice.number if invoice else None)


def _signed_by_paypal_headers(headers: Mapping[str, str]) -> bool:
    """Whether a request carries PayPal's signature headers, its certificate from PayPal."""
    lowered = {name.lower(): value for name, value in headers.items()}
    needed = ("paypal-transmission-id", "paypal-transmission-sig", "paypal-transmission-time",
              "paypal-auth-algo", "paypal-cert-url")  # fmt: skip
    if not all(lowered.get(name) for name in needed):
        return False
    cert = urlsplit(lowered["paypal-cert-url"])
    host = cert.hostname or ""
    return cert.scheme == "https" and (host == "paypal.com" or host.endswith(".paypal.com"))


async def _apply(
    session: Any, billing: BillingSettings, event_type: str, resource: dict[str, Any]
) -> tuple[Invoice | None, str]:
    """What a sale event does to its invoice; events of no invoice of ours are only noted."""
    paypal = Actor.system("paypal")
    if event_type in ("PAYMENT.SALE.COMPLETED", "PAYMENT.SALE.DENIED"):
        invoice = await _invoice_where(session, payment_id=resource.get("parent_payment"))
        if invoice is None:
            return None, "no invoice of ours"
        if event_type == "PAYMENT.SALE.COMPLETED":
            if invoice.state in PAYABLE | {InvoiceState.PENDING}:
                invoice.sale_id = invoice.sale_id or str(resource.get("id", "")) or None
                await _settle(session, invoice, True, paypal)
                return invoice, "paid"
            return invoice, f"already {invoice.state.value}"
        if invoice.state in (InvoiceState.OPEN, InvoiceState.PENDING):
            invoice.state = InvoiceState.OPEN  # the money did not come: still to pay
            invoice.approval_url = invoice.payment_id = invoice.payment_request_id = None
            session.add(invoice)
            await _record(session, AuditAction.INVOICE_DENIED, invoice, paypal)
            return invoice, "denied: open again"
        return invoice, f"already {invoice.state.value}"
    if event_type == "PAYMENT.SALE.REFUNDED":
        # The resource is the refund: its own id, the sale's (`sale_id`) and the amount sent
        # back by this refund (`amount.total`; older events write it negative).
        invoice = await _invoice_where(session, sale_id=resource.get("sale_id"))
        if invoice is None:
            return None, "no invoice of ours"
        return invoice, await _refunded(session, invoice, resource, paypal)
    if event_type == "PAYMENT.SALE.REVERSED":
        # The resource is the sale.
        invoice = await _invoice_where(session, sale_id=resource.get("id"))
        if invoice is None:
            return None, "no invoice of ours"
        if invoice.state != InvoiceState.PAID:
            return invoice, f"already {invoice.state.value}"  # reversed before, or not paid
        return invoice, await _reversed(session, invoice, billing, paypal)
    return None, "ignored"


async def _refunded(session: Any, invoice: Invoice, resource: dict[str, Any], actor: Actor) -> str:
    """Add one refund to the invoice; it is REFUNDED once the whole amount is back, else it
    stays PAID with the refunded part recorded."""
    refund_id = str(resource.get("id", ""))
    if invoice.state == InvoiceState.REFUNDED:
        return "already refunded"
    if refund_id and refund_id == invoice.refund_id:
        return f"already {invoice.state.value}"  # an operator's refund, counted when made
    if refund_id and await _refund_counted(session, refund_id):
        return f"already {invoice.state.value}"  # the same refund, told again in a new event
    refunded = _refund_amount(resource)
    left = invoice.amount - invoice.refunded_amount
    # An event without a readable amount is taken for the whole rest, as PayPal's full
    # refunds were read before partial ones were told apart.
    invoice.refunded_amount += left if refunded is None else min(refunded, left)
    invoice.refunded_at = invoice.refunded_at or utcnow()
    if invoice.refunded_amount >= invoice.amount:
        invoice.state = InvoiceState.REFUNDED
    session.add(invoice)
    await audit.record(
        session, AuditAction.INVOICE_REFUNDED, actor=actor, account_id=invoice.account_id,
        details={"invoice": invoice.number, "refund_id": refund_id,
                 "refunded": str(invoice.refunded_amount), "state": invoice.state.value},
    )  # fmt: skip
    if invoice.state == InvoiceState.REFUNDED:
        return "refunded"
    return f"partly refunded: {money(invoice.refunded_amount, invoice.currency)}"


def _refund_amount(resource: dict[str, Any]) -> Decimal | None:
    """The amount one refund sent back, or None when the event does not say it readably."""
    amount = resource.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    try:
        value = Decimal(str(total)) if total is not None else None
    except InvalidOperation:
        return None
    return abs(value) if value is not None and value.is_finite() else None


async def _refund_counted(session: Any, refund_id: str) -> bool:
    query = select(PayPalEvent).where(
        PayPalEvent.event_type == "PAYMENT.SALE.REFUNDED", PayPalEvent.resource_id == refund_id
    )
    return (await session.exec(query)).first() is not None


async def _reversed(session: Any, invoice: Invoice, billing: BillingSettings, actor: Actor) -> str:
    """A chargeback: the money went back to the payer, so the invoice is unpaid again. It is
    reminded anew and, once past its grace period (as a chargeback nearly always is, weeks
    after the payment), its dashboard is locked at once rather than at the next dunning run:
    waiting a day would hand a customer who charges back more days of a service they took the
    money back for. The sites' hits are still collected meanwhile, as dunning promises, and
    paying it again (a new payment) unlocks it."""
    invoice.state, invoice.paid_at = InvoiceState.REVERSED, None
    invoice.refunded_at = invoice.refunded_at or utcnow()
    invoice.approval_url = invoice.payment_id = invoice.payment_request_id = None
    invoice.reminded_at = None
    session.add(invoice)
    await _record(session, AuditAction.INVOICE_REVERSED, invoice, actor)
    if await lock_if_past_grace(session, invoice, billing, utcnow(), actor):
        return "reversed: dashboard locked"
    return "reversed"


async def _invoice_where(
    session: Any, *, payment_id: Any = None, sale_id: Any = None
) -> Invoice | None:
    if payment_id:
        query = select(Invoice).where(Invoice.payment_id == str(payment_id))
    elif sale_id:
        query = select(Invoice).where(Invoice.sale_id == str(sale_id))
    else:
        return None
    found: Invoice | None = (await session.exec(query.with_for_update())).first()
    return found


async def _record(session: Any, action: AuditAction, invoice: Invoice, actor: Actor) -> None:
    await audit.record(
        session, action, actor=actor, account_id=invoice.account_id,
        details={"invoice": invoice.number},
    )  # fmt: skip
