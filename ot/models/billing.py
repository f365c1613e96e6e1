"""The tables of billing (`ot.billing`): each account's plan, its invoices with their payments,
the counter that numbers invoices, the pageviews whose hits were deleted before their month was
billed, and the PayPal events already handled.

Invoices and their payments are bookkeeping records: they have no foreign key to the account, so
that its purge (which follows foreign keys) leaves them, as the law requires. What they hold of
the customer is encrypted: the rendering (name and billing address) and the payer's PayPal id
and e-mail."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

import ot.models.accounts  # noqa: F401  (the table its foreign keys point to)
from ot.models.columns import Encrypted, enum_column

INVOICE_RENDERING = Encrypted("invoice.rendering")
INVOICE_PAYER_ID = Encrypted("invoice.payer_id")
INVOICE_PAYER_EMAIL = Encrypted("invoice.payer_email")


class Subscription(SQLModel, table=True):
    """The plan an account is on (accounts without a row are on the default plan), and whether
    its dashboard is locked for an unpaid invoice (`ot.billing.dunning`)."""

    __tablename__ = "subscription"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    plan: str = Field(max_length=40)
    since: datetime
    # Locked: statistics are not shown until the overdue invoice is paid; hits are still
    # collected, so nothing is lost.
    locked_at: datetime | None = None
    locked_for: str | None = Field(default=None, max_length=40)  # the invoice's number


class InvoiceState(StrEnum):
    OPEN = "open"  # issued, not paid
    PENDING = "pending"  # paid through PayPal, the money not yet arrived
    PAID = "paid"
    REFUNDED = "refunded"  # the whole amount sent back (a partial refund leaves it paid)
    REVERSED = "reversed"  # a chargeback: the payer's bank or PayPal took the money back
    VOID = "void"  # nothing to pay


class Invoice(SQLModel, table=True):
    """One account's invoice for one month: sequential `number`, the plan and the usage it is
    for, the amount, and how it was paid."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("account_id", "period"),)  # a month is invoiced once

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=40)
    account_id: int = Field(index=True)  # no foreign key: the invoice outlives the account
    period: str = Field(max_length=7)  # YYYY-MM
    plan: str = Field(max_length=40)
    quota_pageviews: int
    pageviews: int  # metered from the stored hits of the month
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    currency: str = Field(max_length=3)
    state: InvoiceState = Field(sa_column=enum_column(InvoiceState))
    issued_at: datetime
    due_at: datetime
    rendering_encrypted: str = Field(sa_column_kwargs=INVOICE_RENDERING.column_info())
    # The payment: its request id is stored before PayPal is asked, so a retry is the same
    # request (see ot.billing.gateway).
    payment_request_id: str | None = Field(default=None, max_length=64)
    payment_id: str | None = Field(default=None, max_length=64)
    approval_url: str | None = None
    approval_created_at: datetime | None = None  # PayPal's page expires (APPROVAL_LIFETIME)
    sale_id: str | None = Field(default=None, max_length=64)
    payer_id_encrypted: str | None = Field(
        default=None, sa_column_kwargs=INVOICE_PAYER_ID.column_info()
    )
    payer_email_encrypted: str | None = Field(
        default=None, sa_column_kwargs=INVOICE_PAYER_EMAIL.column_info()
    )
    paid_at: datetime | None = None
    refund_request_id: str | None = Field(default=None, max_length=64)
    refund_id: str | None = Field(default=None, max_length=64)
    refunded_at: datetime | None = None
    # What was sent back so far, the sum of the sale's refunds (partial ones too): the invoice is
    # REFUNDED once it reaches `amount`.
    refunded_amount: Decimal = Field(
        default=Decimal("0.00"),
        sa_column=Column(Numeric(12, 2), nullable=False, server_default="0"),
    )
    reminded_at: datetime | None = None


class BillingCounter(SQLModel, table=True):
    """The last number given to an invoice of a year: numbers follow each other without gaps,
    as tax law asks, because the counter moves in the transaction that issues the invoice."""

    __tablename__ = "billing_counter"

    year: int = Field(primary_key=True)
    last_number: int


class DeletedPageviews(SQLModel, table=True):
    """Pageviews of an account's month whose hits are gone (past retention, erased): counted
    here by the transaction that deletes them, so that the month's usage, which is this plus
    the pageviews still stored (`ot.billing.plans.pageviews_used`), stays exact. Counts only."""

    __tablename__ = "deleted_pageviews"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=7)  # YYYY-MM, UTC
    pageviews: int


class PayPalEvent(SQLModel, table=True):
    """A webhook event handled: the same event delivered again changes nothing."""

    __tablename__ = "paypal_event"

    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=80)
    resource_id: str = Field(max_length=64)
    invoice_number: str | None = Field(default=None, max_length=40)
    outcome: str = Field(max_length=80)
    received_at: datetime
