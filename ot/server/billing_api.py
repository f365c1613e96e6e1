"""Billing over HTTP: the caller's plan, usage and invoices (`/ot/v1/billing`), paying an invoice
through PayPal, PayPal's redirect back (`/billing/paypal/return`, `/cancel`) and its webhooks
(`/webhooks/paypal`). The gateway (and with it PayPal's SDK) is made on first use."""

from __future__ import annotations

from html import escape

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope
from ot.api.billing import (
    BillingOverview,
    InvoiceDocument,
    InvoiceOut,
    PaymentStarted,
    PlanOut,
    WebhookReceived,
)
from ot.billing.dunning import lock_of
from ot.billing.gateway import PaymentGateway
from ot.billing.invoices import get_invoice, list_invoices, rendering_of
from ot.billing.payments import (
    complete_payment,
    handle_webhook,
    paypal_gateway,
    start_payment,
)
from ot.billing.plans import Period, pageviews_used, plan_of
from ot.clock import as_utc, utcnow
from ot.errors import InvalidInput, OtError
from ot.models import Invoice
from ot.server.answers import NO_STORE, json_answer
from ot.server.app_keys import CIPHER, SETTINGS, WRITE_ENGINE
from ot.server.auth import PRINCIPAL, RouteNeeds, endpoint
from ot.server.bodies import read_body
from ot.server.database import engine_for
from ot.server.errors import status_of
from ot.server.openapi import produces
from ot.sites.snippet import collector_url

# The gateway, made when first needed (tests put a stand-in here).
GATEWAY: web.AppKey[PaymentGateway] = web.AppKey("payment_gateway")
# PayPal's ids in the return URL: letters, digits, "-" (PAYID-..., payer ids).
MAX_PAYPAL_ID = 64


def gateway_of(request: web.Request) -> PaymentGateway:
    app = request.app
    if GATEWAY not in app:
        app[GATEWAY] = paypal_gateway(app[SETTINGS])
    return app[GATEWAY]


def _invoice_out(invoice: Invoice) -> InvoiceOut:
    return InvoiceOut(
        number=invoice.number,
        period=invoice.period,
        plan=invoice.plan,
        quota_pageviews=invoice.quota_pageviews,
        pageviews=invoice.pageviews,
        amount=f"{invoice.amount:.2f}",
        currency=invoice.currency,
        state=invoice.state.value,
        refunded=f"{invoice.refunded_amount:.2f}",
        issued_at=as_utc(invoice.issued_at),
        due_at=as_utc(invoice.due_at),
        paid_at=as_utc(invoice.paid_at) if invoice.paid_at else None,
        approval_url=invoice.approval_url,
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.ACCOUNT_READ,
    summary="My plan, this month's usage and my invoices",
    answers=BillingOverview,
)
async def billing_overview(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    settings = request.app[SETTINGS]
    month = Period.of(utcnow())
    async with AsyncSession(engine_for(request)) as session:
        plan = await plan_of(session, settings.billing, principal.account_id)
        used = await pageviews_used(session, principal.account_id, month)
        locked = await lock_of(session, principal.account_id)
        invoices = await list_invoices(session, account_id=principal.account_id)
    overview = BillingOverview(
        plan=PlanOut(
            name=plan.name,
            monthly_pageviews=plan.monthly_pageviews,
            price=f"{plan.price:.2f}",
            currency=settings.billing.currency,
        ),
        period=str(month),
        pageviews_used=used,
        locked=locked is not None,
        locked_for=locked.locked_for if locked else None,
        payments_enabled=bool(settings.paypal.client_id and settings.paypal.client_secret),
        invoices=[_invoice_out(invoice) for invoice in invoices],
    )
    return json_answer(overview, headers=NO_STORE)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.ACCOUNT_READ,
    summary="One of my invoices, with its plain-text rendering",
    answers=InvoiceDocument,
)
async def invoice_document(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        invoice = await get_invoice(
            session, request.match_info["number"], account_id=principal.account_id
        )
    document = InvoiceDocument(
        **_invoice_out(invoice).model_dump(),
        rendering=rendering_of(invoice, request.app[CIPHER]),
    )
    return json_answer(document, headers=NO_STORE)


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Pay one of my invoices: the PayPal page that approves the payment",
    answers=PaymentStarted,
)
async def pay_invoice(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    number = request.match_info["number"]
    async with AsyncSession(engine_for(request)) as session:  # the caller's, before PayPal
        await get_invoice(session, number, account_id=principal.account_id)
    started = await start_payment(
        request.app[WRITE_ENGINE],
        gateway_of(request),
        collector_url(request.app[SETTINGS]),
        principal.account_id,
        number,
        actor=principal.actor,
    )
    answer = PaymentStarted(invoice=started.invoice, approval_url=started.approval_url)
    return json_answer(answer, headers=NO_STORE)


def _page(title: str, text: str, status: int = 200) -> web.Response:
    """The small page PayPal's redirect lands the payer on."""
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p></html>"
    )
    return web.Response(
        text=body, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _paypal_id(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value or len(value) > MAX_PAYPAL_ID or not value.replace("-", "").isalnum():
        raise InvalidInput(f"the return address has no valid {name}", field=name)
    return value


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Where PayPal sends the payer back: the approved payment is executed",
)
@produces("text/html")
async def paypal_return(request: web.Request) -> web.Response:
    try:
        number = _paypal_id(request, "invoice")
        invoice = await complete_payment(
            request.app[WRITE_ENGINE],
            gateway_of(request),
            request.app[CIPHER],
            number,
            payment_id=_paypal_id(request, "paymentId"),
            payer_id=_paypal_id(request, "PayerID"),
        )
    except OtError as error:
        return _page("Payment not completed", error.message, status_of(error))
    if invoice.state.value == "paid":
        return _page("Thank you", f"Invoice {invoice.number} is paid. You may close this page.")
    return _page(
        "Payment on its way",
        f"PayPal has the payment of invoice {invoice.number} under way; the invoice is marked "
        "paid when the money arrives.",
    )


@endpoint(RouteNeeds.PUBLIC, summary="Where PayPal sends a payer who cancelled")
@produces("text/html")
async def paypal_cancel(request: web.Request) -> web.Response:
    number = request.query.get("invoice", "")[:MAX_PAYPAL_ID]
    return _page(
        "Payment cancelled",
        f"Nothing was paid; invoice {number} stays open. Pay it again from the Billing screen.",
    )


@endpoint(
    RouteNeeds.PUBLIC,
    summary="PayPal's webhook events, believed once PayPal verifies them",
    answers=WebhookReceived,
)
async def paypal_webhook(request: web.Request) -> web.Response:
    body = await read_body(request)
    outcome = await handle_webhook(
        request.app[WRITE_ENGINE],
        gateway_of(request),
        request.app[SETTINGS].billing,
        request.headers,
        body,
    )
    return json_answer(WebhookReceived(event_id=outcome.event_id, outcome=outcome.outcome))
