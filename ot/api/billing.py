"""`/ot/v1/billing`: the caller's plan, usage and invoices, and paying an invoice through PayPal."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ot.api.common import Model


class PlanOut(Model):
    name: str = Field(description="The plan's name.")
    monthly_pageviews: int = Field(description="Pageviews a month the price covers.")
    price: str = Field(description="The monthly price, a decimal in the currency (9.00).")
    currency: str = Field(description="ISO 4217 currency of the price.")


class InvoiceOut(Model):
    number: str = Field(description="The invoice's number (OT-2026-000012).")
    period: str = Field(description="The month it is for (YYYY-MM).")
    plan: str = Field(description="The plan it is for.")
    quota_pageviews: int = Field(description="The plan's monthly pageviews.")
    pageviews: int = Field(description="The pageviews stored that month.")
    amount: str = Field(description="The amount, a decimal in the currency.")
    currency: str = Field(description="ISO 4217 currency of the amount.")
    state: str = Field(
        description="open, pending, paid, refunded (the whole amount sent back), reversed (a "
        "chargeback took the money back: to pay again) or void."
    )
    refunded: str = Field(
        default="0.00",
        description="What was sent back so far, a decimal in the currency: a paid invoice may "
        "be refunded in part.",
    )
    issued_at: datetime = Field(description="When it was issued.")
    due_at: datetime = Field(description="When it is due.")
    paid_at: datetime | None = Field(description="When the money arrived.")
    approval_url: str | None = Field(
        description="The PayPal page where a payment started for it is approved."
    )


class InvoiceDocument(InvoiceOut):
    rendering: str = Field(description="The invoice as plain text, as the customer reads it.")


class BillingOverview(Model):
    plan: PlanOut = Field(description="The account's plan.")
    period: str = Field(description="This month (YYYY-MM, UTC).")
    pageviews_used: int = Field(description="Pageviews stored so far this month.")
    locked: bool = Field(description="Whether the statistics are locked for an overdue invoice.")
    locked_for: str | None = Field(description="The overdue invoice that locked them.")
    payments_enabled: bool = Field(description="Whether invoices can be paid through PayPal here.")
    invoices: list[InvoiceOut] = Field(description="The account's invoices, newest first.")


class PaymentStarted(Model):
    invoice: str = Field(description="The invoice being paid.")
    approval_url: str = Field(
        description="Where the payer approves the payment at PayPal; PayPal then sends them "
        "back to /billing/paypal/return, where the invoice is marked paid."
    )


class WebhookReceived(Model):
    event_id: str = Field(description="PayPal's event id.")
    outcome: str = Field(description="What the event did, or duplicate when handled before.")
