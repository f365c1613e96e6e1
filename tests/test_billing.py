"""Billing: plans and metered usage, invoices issued once a month and numbered without gaps, paying
through PayPal (the real SDK against the fake PayPal of tests/paypal_fake.py), webhooks believed
once PayPal verifies them and applied once, refunds, and dunning that locks a dashboard while
its hits are still collected.

The customer (shop.example, a customer since September) is on the starter plan; November holds
five pageviews and two custom events of theirs, and hits just outside the month."""

from __future__ import annotations

import io
import json
import smtplib
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.accounts.store import EMAIL_CONTEXT, email_index
from ot.billing.dunning import run_dunning
from ot.billing.invoices import get_invoice, issue_invoices, rendering_of
from ot.billing.payments import handle_webhook, refund_invoice
from ot.billing.plans import Period, pageviews_used, set_plan
from ot.clock import utcnow
from ot.config import PayPalSettings, Settings
from ot.db import transaction
from ot.errors import Conflict, InvalidInput
from ot.mailer import Mail, Mailer, outbox
from ot.models import Account, Invoice, InvoiceState, Site
from ot.rights.account_deletion import purge_account
from ot.rights.erasure import erase_visitor
from ot.rights.export import write_export
from ot.rights.retention import run_retention
from ot.security import audit
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from ot.server.app import create_app
from ot.server.billing_api import GATEWAY
from ot.sites.store import delete_site
from tests import support
from tests.generated_hits import Engines, hit, store
from tests.grants_support import read
from tests.paypal_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    PAYMENTS_PATH,
    WEBHOOK_ID,
    FakePayPal,
    paypal,
)
from tests.support import TEST_OPERATOR, bearer, error_of, helper_engine, logged_in, rows
from tests.test_billing_paypal import gateway_to
from tests.test_grants_quota import _grant

__all__ = ["paypal"]  # the fixture, used by name

NOVEMBER = Period(2026, 11)
ISSUED = datetime(2026, 12, 2, 9, tzinfo=UTC)  # when the month's run happens
EMAIL = "owner@shop.example"


@dataclass
class Customer:
    site: Site
    token: str  # a session's

    @property
    def account_id(self) -> int:
        return self.site.account_id


async def _put(settings: Settings, account_id: int, **fields: Any) -> None:
    cipher = Cipher(load_secrets_of(settings))
    async with helper_engine(settings) as engine, transaction(engine) as session:
        account = await session.get(Account, account_id)
        assert account is not None
        for name, value in fields.items():
            if name == "email":
                account.email_encrypted = cipher.encrypt(value, context=EMAIL_CONTEXT)
                account.email_index = email_index(cipher, value)
            else:
                setattr(account, name, value)
        session.add(account)


async def on_plan(settings: Settings, account_id: int, plan: str) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        await set_plan(session, settings.billing, account_id, plan, actor=TEST_OPERATOR)


@pytest.fixture
async def customer(settings: Settings, site: Site, engines: Engines) -> Customer:
    await _put(settings, site.account_id, created_at=datetime(2026, 9, 1, tzinfo=UTC), email=EMAIL)
    await on_plan(settings, site.account_id, "starter")
    assert site.id is not None
    november = datetime(2026, 11, 10, 12, tzinfo=UTC)
    await store(
        engines,
        [
            *(
                hit(site.id, visitor, november + timedelta(hours=visitor), "/")
                for visitor in range(5)
            ),
            hit(site.id, 1, november, "/", name="Signup"),
            hit(site.id, 2, november, "/", name="Signup"),
            hit(site.id, 9, datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "/october"),
            hit(site.id, 9, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "/december"),
        ],
    )
    return Customer(site, (await logged_in(settings, site.account_id)).token)


async def run_month(settings: Settings, period: Period = NOVEMBER, now: datetime = ISSUED) -> Any:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        return await issue_invoices(
            session,
            Cipher(load_secrets_of(settings)),
            settings.billing,
            period,
            now=now,
            actor=TEST_OPERATOR,
        )


def return_path(number: str, payment_id: str, payer_id: str = "PAYER123ABC") -> str:
    """Where PayPal sends the payer back after they approved."""
    return f"/billing/paypal/return?invoice={number}&paymentId={payment_id}&PayerID={payer_id}"


async def invoice_row(settings: Settings, number: str) -> dict[str, Any]:
    [row] = await rows(settings, "SELECT * FROM invoice WHERE number = :n", n=number)
    return row


@pytest.fixture
def paid_settings(settings: Settings, paypal: FakePayPal) -> Settings:
    """The test's settings with PayPal configured: the fake's endpoint and credentials."""
    return settings.model_copy(
        update={
            "paypal": PayPalSettings(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                endpoint=paypal.endpoint,
                webhook_id=WEBHOOK_ID,
            )
        }
    )


@pytest.fixture
async def server(
    paid_settings: Settings, paypal: FakePayPal, aiohttp_client: Any, clock: Any
) -> TestClient:
    """The server in-process, its gateway the real SDK's to the fake (retrying without a
    pause)."""
    app = create_app(paid_settings, clock=clock)
    app[GATEWAY] = gateway_to(paypal)
    return await aiohttp_client(app)


# --- plans, usage and invoices --------------------------------------------------------------


async def test_usage_counts_the_months_pageviews_alone(
    settings: Settings, customer: Customer
) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        assert await pageviews_used(session, customer.account_id, NOVEMBER) == 5
        assert await pageviews_used(session, customer.account_id, Period(2026, 10)) == 1


async def test_a_month_is_billed_for_every_pageview_even_those_retention_and_erasure_deleted(
    settings: Settings, customer: Customer
) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        site = await session.get(Site, customer.site.id)
        assert site is not None
        site.retention_days = 30
        session.add(site)
    # Thirty days before 10 December 14:00: November's pageviews of 12:00 and 13:00 go, with
    # its two custom events and October's pageview; two at a time.
    now = datetime(2026, 12, 10, 14, tzinfo=UTC)
    async with helper_engine(settings) as engine:
        retention = await run_retention(engine, now, batch_size=2)
        assert retention.hits == 5
        erased = await erase_visitor(
            engine, Cipher(load_secrets_of(settings)), site, visitor_ids={4},
            actor=TEST_OPERATOR,
        )  # fmt: skip
        assert erased.hits == 1  # November's pageview of 16:00
    stored = await rows(settings, "SELECT pathname FROM hit WHERE name = 'pageview'")
    assert len(stored) == 3, "two of November's pageviews and December's are still stored"

    async with helper_engine(settings) as engine, transaction(engine) as session:
        assert await pageviews_used(session, customer.account_id, NOVEMBER) == 5
        assert await pageviews_used(session, customer.account_id, Period(2026, 10)) == 1
        assert await pageviews_used(session, customer.account_id, Period(2026, 12)) == 1
    [invoice] = (await run_month(settings)).issued
    assert invoice.pageviews == 5
    counted = await rows(settings, "SELECT account_id, period, pageviews FROM deleted_pageviews")
    assert sorted((row["period"], row["pageviews"]) for row in counted) == [
        ("2026-10", 1),
        ("2026-11", 3),
    ]


async def test_a_removed_sites_pageviews_are_still_billed_for_their_month(
    settings: Settings, customer: Customer
) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        site = await session.get(Site, customer.site.id)
        assert site is not None
        await delete_site(session, site, actor=TEST_OPERATOR)
    assert await rows(settings, "SELECT id FROM hit") == []
    [invoice] = (await run_month(settings)).issued
    assert invoice.pageviews == 5


async def test_a_month_is_invoiced_once_in_sequence_at_each_plans_price(
    settings: Settings, customer: Customer
) -> None:
    business = await support.make_site(settings, "big.example")
    await _put(settings, business.account_id, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    await on_plan(settings, business.account_id, "business")
    free = await support.make_site(settings, "free.example")
    await _put(settings, free.account_id, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    newcomer = await support.make_site(settings, "new.example")  # a customer since December
    await on_plan(settings, newcomer.account_id, "starter")

    first = await run_month(settings)
    assert [(i.number, i.account_id, i.amount, i.pageviews) for i in first.issued] == [
        ("OT-2026-000001", customer.account_id, Decimal("9.00"), 5),
        ("OT-2026-000002", business.account_id, Decimal("29.00"), 0),
    ]
    assert (first.already_invoiced, first.free) == (0, 1)
    again = await run_month(settings)
    assert (again.issued, again.already_invoiced) == ([], 2)
    assert len(await rows(settings, "SELECT id FROM invoice")) == 2

    row = await invoice_row(settings, "OT-2026-000001")
    assert (row["state"], row["period"], row["quota_pageviews"]) == ("open", "2026-11", 100_000)
    assert row["due_at"] is not None


async def test_the_invoice_reads_with_the_customers_details_and_is_stored_encrypted(
    settings: Settings, customer: Customer
) -> None:
    cipher = Cipher(load_secrets_of(settings))
    await _put(
        settings,
        customer.account_id,
        company_encrypted=cipher.encrypt("Shop B.V.", context="account.company"),
        address_encrypted=cipher.encrypt(
            "Keizersgracht 1\n1015 CJ Amsterdam", context="account.address"
        ),
    )
    [invoice] = (await run_month(settings)).issued
    text = rendering_of(invoice, cipher)
    assert "INVOICE OT-2026-000001" in text and "Test Shop B.V." in text
    assert "Keizersgracht 1" in text and "1015 CJ Amsterdam" in text
    assert "5 pageviews of 100,000" in text and "EUR 9.00" in text
    stored = await invoice_row(settings, invoice.number)
    assert "Keizersgracht" not in json.dumps(stored, default=str)
    assert "Test Shop" not in json.dumps(stored, default=str)


@pytest.mark.parametrize(
    ("period", "said"),
    [("2026-12", "is not over yet"), ("2027-01", "is not over yet")],
)
async def test_a_month_not_over_is_refused(
    settings: Settings, customer: Customer, period: str, said: str
) -> None:
    with pytest.raises(InvalidInput, match=said):
        await run_month(settings, Period.parse(period))
    assert await rows(settings, "SELECT id FROM invoice") == []


@pytest.mark.parametrize("text", ["2026-13", "26-11", "november", "2026-1", ""])
def test_a_month_is_written_yyyy_mm(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a month: write YYYY-MM"):
        Period.parse(text)


async def test_an_unknown_plan_is_refused_naming_the_plans(
    settings: Settings, customer: Customer
) -> None:
    with pytest.raises(InvalidInput, match='unknown plan "gold": the plans are free, starter'):
        await on_plan(settings, customer.account_id, "gold")


# --- the customer's view and paying ----------------------------------------------------------


async def test_the_customer_sees_plan_usage_and_invoices(
    server: TestClient, settings: Settings, customer: Customer
) -> None:
    await run_month(settings)
    response = await server.get("/ot/v1/billing", headers=bearer(customer.token))
    assert response.status == 200, await response.text()
    overview = await response.json()
    assert overview["plan"] == {
        "name": "starter", "monthly_pageviews": 100_000, "price": "9.00", "currency": "EUR",
    }  # fmt: skip
    assert overview["locked"] is False and overview["payments_enabled"] is True
    [invoice] = overview["invoices"]
    assert (invoice["number"], invoice["amount"], invoice["state"]) == (
        "OT-2026-000001", "9.00", "open",
    )  # fmt: skip
    document = await server.get(
        "/ot/v1/billing/invoices/OT-2026-000001", headers=bearer(customer.token)
    )
    assert "Amount due: EUR 9.00" in (await document.json())["rendering"]

    stranger = await support.make_site(settings, "stranger.example")
    theirs = await logged_in(settings, stranger.account_id)
    response = await server.get(
        "/ot/v1/billing/invoices/OT-2026-000001", headers=bearer(theirs.token)
    )
    await error_of(response, 404)


async def test_paying_approving_at_paypal_and_coming_back_marks_the_invoice_paid(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    path = f"/ot/v1/billing/invoices/{invoice.number}/payment"
    started = await server.post(path, headers=bearer(customer.token))
    assert started.status == 200, await started.text()
    approval_url = (await started.json())["approval_url"]
    assert approval_url.startswith("https://www.sandbox.paypal.com/")
    # Asked again: the same payment, not a second one.
    again = await server.post(path, headers=bearer(customer.token))
    assert (await again.json())["approval_url"] == approval_url
    [created] = paypal.requests_to(PAYMENTS_PATH)
    assert created.headers["PayPal-Request-Id"].startswith(f"{invoice.number}-pay-")
    assert created.body["transactions"][0]["amount"] == {"total": "9.00", "currency": "EUR"}

    payment_id = (await invoice_row(settings, invoice.number))["payment_id"]
    paypal.approve(payment_id, payer_id="PAYER123ABC", email="buyer@example.net")
    back = return_path(invoice.number, payment_id)
    page = await server.get(back)
    assert page.status == 200 and "is paid" in await page.text()
    row = await invoice_row(settings, invoice.number)
    assert row["state"] == "paid" and row["sale_id"] and row["paid_at"]
    assert "buyer@example.net" not in json.dumps(row, default=str)
    assert "PAYER123ABC" not in json.dumps(row, default=str)
    # PayPal's redirect again (a reload): nothing executed twice.
    assert (await server.get(back)).status == 200
    assert len(paypal.requests_to(f"{PAYMENTS_PATH}/{payment_id}/execute")) == 1


async def test_a_return_for_another_payment_changes_nothing(
    server: TestClient, settings: Settings, customer: Customer
) -> None:
    [invoice] = (await run_month(settings)).issued
    await server.post(
        f"/ot/v1/billing/invoices/{invoice.number}/payment", headers=bearer(customer.token)
    )
    page = await server.get(
        f"/billing/paypal/return?invoice={invoice.number}&paymentId=PAYID-OTHER&PayerID=X1"
    )
    assert page.status == 400 and "is not the payment of invoice" in await page.text()
    assert (await invoice_row(settings, invoice.number))["state"] == "open"


async def test_paypal_unreachable_is_503_and_the_retry_is_the_same_request(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    path = f"/ot/v1/billing/invoices/{invoice.number}/payment"
    paypal.fail_next(PAYMENTS_PATH, 503, "SERVICE_UNAVAILABLE", "down", count=3)
    refused = await server.post(path, headers=bearer(customer.token))
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert (await server.post(path, headers=bearer(customer.token))).status == 200
    ids = {request.headers["PayPal-Request-Id"] for request in paypal.requests_to(PAYMENTS_PATH)}
    assert len(ids) == 1, "a retry must reuse the stored request id"


async def test_only_the_owners_session_pays_and_nothing_is_paid_twice(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    async with helper_engine(settings) as engine, transaction(engine) as session:
        found = await session.get(Invoice, invoice.id)
        assert found is not None
        found.state = InvoiceState.PAID
        session.add(found)
    response = await server.post(
        f"/ot/v1/billing/invoices/{invoice.number}/payment", headers=bearer(customer.token)
    )
    assert "is paid: nothing to pay" in (await error_of(response, 409))["message"]
    assert paypal.requests_to(PAYMENTS_PATH) == []


# --- webhooks and refunds --------------------------------------------------------------------


async def _paid(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> str:
    [invoice] = (await run_month(settings)).issued
    await server.post(
        f"/ot/v1/billing/invoices/{invoice.number}/payment", headers=bearer(customer.token)
    )
    payment_id = (await invoice_row(settings, invoice.number))["payment_id"]
    paypal.approve(payment_id, payer_id="PAYER123ABC", email="buyer@example.net")
    await server.get(return_path(invoice.number, payment_id))
    return invoice.number


def event(event_id: str, event_type: str, resource: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "event_type": event_type, "resource_type": "sale", "resource": resource}
    ).encode()


async def test_a_verified_webhook_is_applied_once(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    sale_id = (await invoice_row(settings, number))["sale_id"]
    body = event("WH-1", "PAYMENT.SALE.REFUNDED", {"id": "REFUND-1", "sale_id": sale_id})
    first = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(body))
    assert (await first.json()) == {"event_id": "WH-1", "outcome": "refunded"}
    assert (await invoice_row(settings, number))["state"] == "refunded"
    trail_before = await rows(settings, "SELECT id FROM audit_entry")
    second = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(body))
    assert (await second.json()) == {"event_id": "WH-1", "outcome": "duplicate"}
    assert await rows(settings, "SELECT id FROM audit_entry") == trail_before


async def test_a_webhook_paypal_does_not_vouch_for_changes_nothing(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    sale_id = (await invoice_row(settings, number))["sale_id"]
    signed = event("WH-2", "PAYMENT.SALE.COMPLETED", {"id": sale_id})
    body = event("WH-2", "PAYMENT.SALE.REVERSED", {"id": sale_id})  # altered after signing
    forged = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(signed))
    assert "did not verify" in (await error_of(forged, 400))["message"]
    asked = len(paypal.requests)
    unsigned = await server.post("/webhooks/paypal", data=body)
    assert "carries no PayPal signature" in (await error_of(unsigned, 400))["message"]
    elsewhere = {**paypal.sign(body), "PAYPAL-CERT-URL": "https://evil.example/cert"}
    forged_cert = await server.post("/webhooks/paypal", data=body, headers=elsewhere)
    await error_of(forged_cert, 400)
    assert len(paypal.requests) == asked, "PayPal is not asked about requests it never signed"
    assert (await invoice_row(settings, number))["state"] == "paid"
    assert await rows(settings, "SELECT event_id FROM paypal_event") == []


async def test_a_sale_completed_later_marks_a_pending_invoice_paid(
    paid_settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(paid_settings)).issued
    async with helper_engine(paid_settings) as engine, transaction(engine) as session:
        found = await session.get(Invoice, invoice.id)
        assert found is not None
        found.state, found.payment_id = InvoiceState.PENDING, "PAYID-PENDING1"
        session.add(found)
    body = event(
        "WH-3", "PAYMENT.SALE.COMPLETED", {"id": "SALE-9", "parent_payment": "PAYID-PENDING1"}
    )
    async with helper_engine(paid_settings) as engine:
        outcome = await handle_webhook(
            engine, gateway_to(paypal), paid_settings.billing, paypal.sign(body), body
        )
    assert outcome.outcome == "paid"
    row = await invoice_row(paid_settings, invoice.number)
    assert (row["state"], row["sale_id"]) == ("paid", "SALE-9")


async def test_an_operator_refunds_a_paid_invoice_once(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    async with helper_engine(settings) as engine:
        refunded = await refund_invoice(engine, gateway_to(paypal), number, actor=TEST_OPERATOR)
        assert refunded.state == InvoiceState.REFUNDED and refunded.refund_id
        with pytest.raises(Conflict, match="is refunded already"):
            await refund_invoice(engine, gateway_to(paypal), number, actor=TEST_OPERATOR)
    [refund] = [r for r in paypal.requests if r.path.endswith("/refund")]
    assert refund.headers["PayPal-Request-Id"].startswith(f"{number}-refund-")
    assert refund.body["amount"] == {"total": "9.00", "currency": "EUR"}


# --- dunning ---------------------------------------------------------------------------------


async def dun(settings: Settings, now: datetime, mailer: Mailer | None = None) -> Any:
    async with helper_engine(settings) as engine:
        return await run_dunning(
            engine,
            Cipher(load_secrets_of(settings)),
            mailer or Mailer(settings.mail, settings.data_dir),
            settings.billing,
            now=now,
            actor=TEST_OPERATOR,
        )


class MailerFailingFor(Mailer):
    """The outbox mailer, but the mail server refuses the mails about one invoice."""

    def __init__(self, settings: Settings, number: str) -> None:
        super().__init__(settings.mail, settings.data_dir)
        self.number = number

    def send(self, mail: Mail) -> None:
        if self.number in mail.subject:
            raise smtplib.SMTPServerDisconnected("the mail server went away")
        super().send(mail)


async def three_overdue(settings: Settings, customer: Customer) -> list[Invoice]:
    """The customer and two more on the starter plan, each with an invoice for November."""
    for n, domain in enumerate(["second.example", "third.example"]):
        other = await support.make_site(settings, domain)
        await _put(
            settings,
            other.account_id,
            created_at=datetime(2026, 9, 1, tzinfo=UTC),
            email=f"owner{n}@{domain}",
        )
        await on_plan(settings, other.account_id, "starter")
    issued = (await run_month(settings)).issued
    assert len(issued) == 3
    return list(issued)


def mailed_invoices(settings: Settings) -> list[str]:
    return sorted(mail["Subject"].split()[1] for mail in outbox(settings.data_dir))


async def reminded_at(settings: Settings, number: str) -> Any:
    return (await invoice_row(settings, number))["reminded_at"]


async def test_a_reminder_is_recorded_before_it_is_mailed_and_one_not_mailed_is_sent_next_run(
    settings: Settings, customer: Customer
) -> None:
    first, second, third = await three_overdue(settings, customer)
    late = first.due_at + timedelta(hours=1)
    report = await dun(settings, late, MailerFailingFor(settings, second.number))
    assert report.reminded == [first.number, third.number]
    assert report.not_mailed == [second.number]
    assert mailed_invoices(settings) == [first.number, third.number]
    assert await reminded_at(settings, first.number) is not None
    assert await reminded_at(settings, second.number) is None, "its record was undone"

    again = await dun(settings, late + timedelta(hours=1))
    assert again.reminded == [second.number] and again.not_mailed == []
    assert mailed_invoices(settings) == sorted([first.number, second.number, third.number])


async def test_no_reminder_is_mailed_for_an_invoice_whose_record_was_rolled_back(
    settings: Settings, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = await three_overdue(settings, customer)
    record = audit.record

    async def failing_for_the_second(session: Any, action: Any, **fields: Any) -> Any:
        if fields.get("details", {}).get("invoice") == second.number:
            raise RuntimeError("the database went away")
        return await record(session, action, **fields)

    monkeypatch.setattr(audit, "record", failing_for_the_second)
    with pytest.raises(RuntimeError, match="the database went away"):
        await dun(settings, first.due_at + timedelta(hours=1))
    monkeypatch.undo()
    assert mailed_invoices(settings) == [first.number], "the first was committed, then mailed"
    assert await reminded_at(settings, first.number) is not None
    assert await reminded_at(settings, second.number) is None
    assert [mail["Subject"] for mail in outbox(settings.data_dir)] == [
        f"Invoice {first.number} is overdue"
    ]


def stats_query() -> dict[str, Any]:
    return {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}


async def test_an_overdue_invoice_is_reminded_once_then_locks_the_dashboard_until_paid(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    granted = await _grant(settings, customer.site)
    assert (await read(server, granted.key, stats_query())).status == 200
    due = invoice.due_at
    assert (await dun(settings, due - timedelta(hours=1))).reminded == []
    reminded = await dun(settings, due + timedelta(hours=1))
    assert reminded.reminded == [invoice.number] and reminded.locked == []
    [mail] = outbox(settings.data_dir)
    assert mail["To"] == EMAIL and invoice.number in mail["Subject"]
    assert (await dun(settings, due + timedelta(days=2))).reminded == []
    assert len(outbox(settings.data_dir)) == 1

    locked = await dun(settings, due + timedelta(days=settings.billing.grace_days, hours=1))
    assert locked.locked == [customer.account_id]
    query = await server.post("/api/v2/query", json=stats_query(), headers=bearer(customer.token))
    # The Stats API answers as Plausible's does: {"error": "..."}.
    assert query.status == 402
    assert f"locked until invoice {invoice.number} is paid" in (await query.json())["error"]
    summary = await server.get(
        f"/ot/v1/sites/{customer.site.id}/summary", headers=bearer(customer.token)
    )
    assert (await error_of(summary, 402))["code"] == "dashboard_locked"
    # Nor do the third parties it shares them with read them.
    shared = await read(server, granted.key, stats_query())
    assert (await error_of(shared, 402))["code"] == "dashboard_locked"
    # Its visits are still counted while locked.
    collected = await server.post(
        "/api/event",
        json=support.event(),
        headers={"User-Agent": support.CHROME_USER_AGENT, "X-Forwarded-For": "203.0.113.50"},
    )
    assert collected.status == 202

    # Paying unlocks it.
    await server.post(
        f"/ot/v1/billing/invoices/{invoice.number}/payment", headers=bearer(customer.token)
    )
    payment_id = (await invoice_row(settings, invoice.number))["payment_id"]
    paypal.approve(payment_id, payer_id="PAYER123ABC", email="buyer@example.net")
    await server.get(return_path(invoice.number, payment_id))
    query = await server.post("/api/v2/query", json=stats_query(), headers=bearer(customer.token))
    assert query.status == 200, await query.text()
    assert (await read(server, granted.key, stats_query())).status == 200
    overview = await (await server.get("/ot/v1/billing", headers=bearer(customer.token))).json()
    assert overview["locked"] is False


async def test_without_paypal_configured_paying_says_so(
    client: TestClient, settings: Settings, customer: Customer
) -> None:
    [invoice] = (await run_month(settings)).issued
    response = await client.post(
        f"/ot/v1/billing/invoices/{invoice.number}/payment", headers=bearer(customer.token)
    )
    error = await error_of(response, 409)
    assert error["code"] == "payments_off" and "OT_PAYPAL__CLIENT_ID" in error["message"]


# --- the customer's rights -------------------------------------------------------------------


async def test_the_customers_export_holds_their_invoices_as_they_received_them(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    archive = io.BytesIO()
    async with helper_engine(settings) as engine:
        await write_export(
            engine, Cipher(load_secrets_of(settings)), customer.account_id, archive,
            actor=TEST_OPERATOR,
        )  # fmt: skip
    with zipfile.ZipFile(archive) as opened:
        billing = json.loads(opened.read("account.json"))["billing"]
    assert billing["plan"] == "starter"
    [invoice] = billing["invoices"]
    assert (invoice["number"], invoice["state"], invoice["amount"]) == (number, "paid", "9.00")
    assert invoice["payer_email"] == "buyer@example.net"
    assert f"INVOICE {number}" in invoice["rendering"]


async def test_invoices_outlive_the_purge_of_their_account(
    settings: Settings, customer: Customer
) -> None:
    """Bookkeeping law keeps invoices after the customer's data is gone."""
    [invoice] = (await run_month(settings)).issued
    async with helper_engine(settings) as engine:
        await purge_account(engine, customer.account_id, now=ISSUED, batch_size=100)
    gone = await rows(settings, "SELECT id FROM site WHERE id = :id", id=customer.site.id)
    assert gone == [] and await rows(settings, "SELECT * FROM subscription") == []
    kept = await invoice_row(settings, invoice.number)
    assert kept["account_id"] == customer.account_id
    assert "Test Shop B.V." in rendering_of(Invoice(**kept), Cipher(load_secrets_of(settings)))


async def test_a_reversed_sale_and_a_denied_one_are_applied(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    sale_id = (await invoice_row(settings, number))["sale_id"]
    body = event("WH-R", "PAYMENT.SALE.REVERSED", {"id": sale_id})
    reversed_ = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(body))
    assert (await reversed_.json())["outcome"].startswith("reversed")
    assert (await invoice_row(settings, number))["state"] == "reversed"

    # A payment whose money never came: the invoice is open again, to be paid anew.
    second = await support.make_site(settings, "second.example")
    await _put(settings, second.account_id, created_at=datetime(2026, 9, 1, tzinfo=UTC))
    await on_plan(settings, second.account_id, "starter")
    [invoice] = (await run_month(settings)).issued
    async with helper_engine(settings) as engine, transaction(engine) as session:
        found = await session.get(Invoice, invoice.id)
        assert found is not None
        found.state, found.payment_id = InvoiceState.PENDING, "PAYID-DENIED1"
        found.approval_url = "https://www.sandbox.paypal.com/x"
        session.add(found)
    body = event("WH-D", "PAYMENT.SALE.DENIED", {"id": "SALE-D", "parent_payment": "PAYID-DENIED1"})
    denied = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(body))
    assert (await denied.json())["outcome"] == "denied: open again"
    row = await invoice_row(settings, invoice.number)
    assert (row["state"], row["payment_id"], row["approval_url"]) == ("open", None, None)


async def webhook(server: TestClient, paypal: FakePayPal, body: bytes) -> str:
    answer = await server.post("/webhooks/paypal", data=body, headers=paypal.sign(body))
    assert answer.status == 200, await answer.text()
    return str((await answer.json())["outcome"])


async def _due(settings: Settings, number: str, due_at: datetime) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        found = await get_invoice(session, number, for_update=True)
        found.due_at = due_at
        session.add(found)


def refunded_of(row: dict[str, Any]) -> Decimal:
    return Decimal(str(row["refunded_amount"])).quantize(Decimal("0.01"))


async def test_a_chargeback_past_the_grace_period_locks_the_dashboard_at_once_until_paid_again(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    grace = timedelta(days=settings.billing.grace_days)
    await _due(settings, number, utcnow() - grace - timedelta(days=1))
    sale_id = (await invoice_row(settings, number))["sale_id"]
    body = event("WH-CB", "PAYMENT.SALE.REVERSED", {"id": sale_id, "state": "reversed"})
    assert await webhook(server, paypal, body) == "reversed: dashboard locked"
    row = await invoice_row(settings, number)
    assert (row["state"], row["payment_id"], row["paid_at"]) == ("reversed", None, None)
    query = await server.post("/api/v2/query", json=stats_query(), headers=bearer(customer.token))
    assert query.status == 402
    assert f"locked until invoice {number} is paid" in (await query.json())["error"]

    # Paid again, with a new payment, it unlocks.
    started = await server.post(
        f"/ot/v1/billing/invoices/{number}/payment", headers=bearer(customer.token)
    )
    assert started.status == 200, await started.text()
    payment_id = (await invoice_row(settings, number))["payment_id"]
    paypal.approve(payment_id, payer_id="PAYER123ABC", email="buyer@example.net")
    await server.get(return_path(number, payment_id))
    assert (await invoice_row(settings, number))["state"] == "paid"
    query = await server.post("/api/v2/query", json=stats_query(), headers=bearer(customer.token))
    assert query.status == 200, await query.text()


async def test_a_chargeback_within_the_grace_period_is_reminded_then_locked_by_dunning(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    due = utcnow() - timedelta(days=1)
    await _due(settings, number, due)
    sale_id = (await invoice_row(settings, number))["sale_id"]
    body = event("WH-CB2", "PAYMENT.SALE.REVERSED", {"id": sale_id})
    assert await webhook(server, paypal, body) == "reversed"
    query = await server.post("/api/v2/query", json=stats_query(), headers=bearer(customer.token))
    assert query.status == 200, "not locked before its grace period is over"

    reminded = await dun(settings, utcnow())
    assert (reminded.reminded, reminded.locked) == ([number], [])
    [mail] = outbox(settings.data_dir)
    assert number in mail["Subject"]
    grace = timedelta(days=settings.billing.grace_days)
    locked = await dun(settings, due + grace + timedelta(hours=1))
    assert (locked.reminded, locked.locked) == ([], [customer.account_id])


async def test_a_partial_refund_keeps_the_invoice_paid_with_what_went_back_recorded(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    row = await invoice_row(settings, number)
    refund = {"sale_id": row["sale_id"], "parent_payment": row["payment_id"]}
    first = event(
        "WH-P1", "PAYMENT.SALE.REFUNDED",
        {**refund, "id": "REFUND-P1", "amount": {"total": "3.00", "currency": "EUR"}},
    )  # fmt: skip
    assert await webhook(server, paypal, first) == "partly refunded: EUR 3.00"
    row = await invoice_row(settings, number)
    assert (row["state"], refunded_of(row)) == ("paid", Decimal("3.00"))
    shown = await server.get(f"/ot/v1/billing/invoices/{number}", headers=bearer(customer.token))
    assert {k: (await shown.json())[k] for k in ("state", "refunded")} == {
        "state": "paid",
        "refunded": "3.00",
    }
    # The same refund told again in another event is not counted twice.
    again = event(
        "WH-P1-AGAIN", "PAYMENT.SALE.REFUNDED",
        {**refund, "id": "REFUND-P1", "amount": {"total": "3.00", "currency": "EUR"}},
    )  # fmt: skip
    assert await webhook(server, paypal, again) == "already paid"
    # The rest comes back (PayPal's older events write the amount negative): refunded.
    rest = event(
        "WH-P2", "PAYMENT.SALE.REFUNDED",
        {**refund, "id": "REFUND-P2", "amount": {"total": "-6.00", "currency": "EUR"}},
    )  # fmt: skip
    assert await webhook(server, paypal, rest) == "refunded"
    row = await invoice_row(settings, number)
    assert (row["state"], refunded_of(row)) == ("refunded", Decimal("9.00"))


async def test_a_refund_whose_amount_is_unreadable_counts_as_the_whole_rest(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    sale_id = (await invoice_row(settings, number))["sale_id"]
    refund = {"id": "REFUND-N", "sale_id": sale_id, "amount": {"total": "NaN"}}
    assert await webhook(server, paypal, event("WH-N", "PAYMENT.SALE.REFUNDED", refund)) == (
        "refunded"
    )
    row = await invoice_row(settings, number)
    assert (row["state"], refunded_of(row)) == ("refunded", Decimal("9.00"))
    later = {"id": "REFUND-N2", "sale_id": sale_id, "amount": {"total": "1.00"}}
    assert await webhook(server, paypal, event("WH-N2", "PAYMENT.SALE.REFUNDED", later)) == (
        "already refunded"
    )
    assert refunded_of(await invoice_row(settings, number)) == Decimal("9.00")


async def test_an_operator_refunds_what_a_partial_refund_left_and_its_webhook_adds_nothing(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    number = await _paid(server, settings, customer, paypal)
    row = await invoice_row(settings, number)
    partial = event(
        "WH-P3", "PAYMENT.SALE.REFUNDED",
        {"id": "REFUND-P3", "sale_id": row["sale_id"], "amount": {"total": "2.50"}},
    )  # fmt: skip
    assert await webhook(server, paypal, partial) == "partly refunded: EUR 2.50"
    async with helper_engine(settings) as engine:
        refunded = await refund_invoice(engine, gateway_to(paypal), number, actor=TEST_OPERATOR)
    [asked] = [r for r in paypal.requests if r.path.endswith("/refund")]
    assert asked.body["amount"] == {"total": "6.50", "currency": "EUR"}
    told = event(
        "WH-P4", "PAYMENT.SALE.REFUNDED",
        {"id": refunded.refund_id, "sale_id": row["sale_id"], "amount": {"total": "6.50"}},
    )  # fmt: skip
    assert await webhook(server, paypal, told) == "already refunded"
    row = await invoice_row(settings, number)
    assert (row["state"], refunded_of(row)) == ("refunded", Decimal("9.00"))


async def test_an_unpaid_invoice_is_not_refunded_and_paypal_is_not_asked(
    settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    async with helper_engine(settings) as engine:
        with pytest.raises(Conflict, match="is open: only a paid invoice is refunded"):
            await refund_invoice(engine, gateway_to(paypal), invoice.number, actor=TEST_OPERATOR)
    assert paypal.requests == []
    assert (await invoice_row(settings, invoice.number))["refund_request_id"] is None


async def test_a_payment_page_paypal_let_expire_is_replaced_by_a_new_payment(
    server: TestClient, settings: Settings, customer: Customer, paypal: FakePayPal
) -> None:
    [invoice] = (await run_month(settings)).issued
    path = f"/ot/v1/billing/invoices/{invoice.number}/payment"
    first = await (await server.post(path, headers=bearer(customer.token))).json()
    async with helper_engine(settings) as engine, transaction(engine) as session:
        found = await session.get(Invoice, invoice.id)
        assert found is not None and found.approval_created_at is not None
        found.approval_created_at -= timedelta(hours=4)  # the payer walked away from PayPal
        session.add(found)
    second = await (await server.post(path, headers=bearer(customer.token))).json()
    assert second["approval_url"] != first["approval_url"]
    ids = [request.headers["PayPal-Request-Id"] for request in paypal.requests_to(PAYMENTS_PATH)]
    assert len(ids) == 2 and ids[0] != ids[1], "a new payment is a new request"


async def test_a_purged_account_is_billed_nothing_even_on_a_priced_default_plan(
    settings: Settings, customer: Customer
) -> None:
    priced = settings.model_copy(
        update={"billing": settings.billing.model_copy(update={"default_plan": "starter"})}
    )
    async with helper_engine(settings) as engine:
        await purge_account(engine, customer.account_id, now=ISSUED, batch_size=100)
    done = await run_month(priced)
    assert done.issued == []
