"""Billing in the terminal: `b` on the sites shows the customer's plan, this month's pageviews
against the plan's quota and their invoices; an invoice reads as it was issued; `p` shows
PayPal's page to approve the payment (as an address and a QR code) and, once approved, a reload
shows the invoice paid; without PayPal set up, `p` says so; a locked account sees why, and its
dashboard's refusal says to pay from Billing.

The customer and their November invoice come from tests/test_billing.py. The server with PayPal
is that module's `server` fixture (the real SDK to the fake PayPal of tests/paypal_fake.py); the
other tests use the plain `client` fixture, on the same database, where PayPal is not set up."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from textual.pilot import Pilot
from textual.widgets import Static

from ot.api.billing import BillingOverview, InvoiceDocument, InvoiceOut, PlanOut
from ot.client import CredentialStore
from ot.clock import ManualClock
from ot.config import Settings
from ot.tui.app import OtApp
from ot.tui.screens.billing import BillingScreen, money, state_cell, usage_words
from ot.tui.screens.billing_invoice import InvoiceScreen
from ot.tui.screens.billing_payment import PaymentScreen
from ot.tui.screens.dashboard import DashboardScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.widgets.qr_code import QrCode
from tests.paypal_fake import FakePayPal
from tests.test_billing import (
    Customer,
    customer,
    dun,
    invoice_row,
    paid_settings,
    paypal,
    return_path,
    run_month,
    server,
)
from tests.test_tui_snapshots import SIZES, SnapCompare, on_sites, settled
from tests.tui_canned import CannedClient, ago, fixed_now
from tests.tui_support import (
    SMALL,
    TUI,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI
__all__ = ["customer", "paid_settings", "paypal", "server"]  # fixtures, used by name

NUMBER = "OT-2026-000001"  # the customer's November invoice


@asynccontextmanager
async def on_billing(
    server: TestClient, customer: Customer, credentials: CredentialStore, clock: ManualClock
) -> AsyncIterator[tuple[OtApp, Pilot[None], BillingScreen]]:
    """The app logged in as the customer, gone from the sites to Billing with `b`, once it
    shows the invoices."""
    app = tui_app(server, credentials, clock, token=customer.token)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        await pilot.press("b")
        await wait_for_screen(pilot, BillingScreen)
        screen = app.screen
        assert isinstance(screen, BillingScreen)
        await wait_for(pilot, lambda: screen.overview is not None, "the billing overview")
        await pilot.pause()
        yield app, pilot, screen


async def test_billing_shows_the_plan_this_months_usage_and_the_invoices(
    client: TestClient,
    settings: Settings,
    customer: Customer,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await run_month(settings)
    async with on_billing(client, customer, tui_credentials, clock) as (app, _, _):
        shown = screen_text(app)
        assert "Plan starter: 100,000 pageviews a month for EUR 9.00 a month" in shown
        assert re.search(r"This month \(\d{4}-\d\d\): \d+ of 100,000 pageviews \(0 %\)", shown)
        [row] = [line for line in shown.splitlines() if NUMBER in line]
        for cell in ("2026-11", "starter", "EUR 9.00", "to pay", "2026-12-16"):
            assert cell in row, cell
        assert "locked" not in shown


async def test_enter_shows_the_invoice_as_it_was_issued(
    client: TestClient,
    settings: Settings,
    customer: Customer,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await run_month(settings)
    async with on_billing(client, customer, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("enter")
        await wait_for_screen(pilot, InvoiceScreen)
        shown = screen_text(app)
        assert f"INVOICE {NUMBER}" in shown
        assert "Plan starter, 2026-11: 5 pageviews of 100,000" in shown
        assert "Amount due: EUR 9.00" in shown
        await pilot.press("escape")
        await wait_for_screen(pilot, BillingScreen)


async def test_paying_shows_paypals_page_and_once_approved_the_invoice_reads_paid(
    server: TestClient,
    settings: Settings,
    customer: Customer,
    paypal: FakePayPal,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await run_month(settings)
    async with on_billing(server, customer, tui_credentials, clock) as (app, pilot, billing):
        await pilot.press("p")
        await wait_for_screen(pilot, PaymentScreen)
        payment = app.screen
        assert isinstance(payment, PaymentScreen)
        approval_url = payment.approval_url
        assert approval_url.startswith("https://www.sandbox.paypal.com/")
        assert str(payment.query_one("#url", Static).render()) == approval_url
        assert payment.query_one(QrCode).encoded == approval_url  # to pay from a phone
        assert f"Pay {NUMBER} (EUR 9.00)" in screen_text(app)
        await pilot.press("c")
        assert app.clipboard == approval_url

        # The customer approves at PayPal, which sends them back to the server.
        payment_id = (await invoice_row(settings, NUMBER))["payment_id"]
        paypal.approve(payment_id, payer_id="PAYER123ABC", email="buyer@example.net")
        assert (await server.get(return_path(NUMBER, payment_id))).status == 200

        await pilot.press("escape")
        await wait_for_screen(pilot, BillingScreen)
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: billing.overview is not None and billing.overview.invoices[0].state == "paid",
            "the invoice paid",
        )
        await pilot.pause()
        [row] = [line for line in screen_text(app).splitlines() if NUMBER in line]
        assert "paid" in row

        await pilot.press("p")  # nothing left to pay
        await wait_for(
            pilot,
            lambda: f"Pay: Invoice {NUMBER} is paid: nothing to pay." in notifications(app),
            "the refusal",
        )


async def test_paying_where_paypal_is_not_set_up_says_payments_are_not_enabled(
    client: TestClient,
    settings: Settings,
    customer: Customer,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await run_month(settings)
    async with on_billing(client, customer, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: any("not enabled on this server" in told for told in notifications(app)),
            "the refusal",
        )
        assert isinstance(app.screen, BillingScreen)
        assert (await invoice_row(settings, NUMBER))["state"] == "open"


LOCKED_TOLD = (
    f"Statistics locked: The statistics of this account are locked until invoice {NUMBER} is "
    "paid (its visits are still counted). Pay it from Billing: press b on your sites."
)


async def test_a_locked_accounts_figures_are_refused_in_words_that_say_to_pay_from_billing(
    client: TestClient,
    settings: Settings,
    customer: Customer,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    [invoice] = (await run_month(settings)).issued
    await dun(settings, invoice.due_at + timedelta(days=settings.billing.grace_days, hours=1))
    app = tui_app(client, tui_credentials, clock, token=customer.token)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        await wait_for(pilot, lambda: LOCKED_TOLD in notifications(app), "the sites' refusal")
        await pilot.press("enter")
        await wait_for_screen(pilot, DashboardScreen)
        await wait_for(
            pilot, lambda: notifications(app).count(LOCKED_TOLD) == 2, "the dashboard's refusal"
        )


async def test_a_locked_account_sees_on_billing_which_invoice_to_pay(
    client: TestClient,
    settings: Settings,
    customer: Customer,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    [invoice] = (await run_month(settings)).issued
    await dun(settings, invoice.due_at + timedelta(days=settings.billing.grace_days, hours=1))
    async with on_billing(client, customer, tui_credentials, clock) as (app, _, billing):
        # The banner's lines, joined: it wraps inside its border at 80 columns.
        shown = " ".join(screen_text(app).replace("│", " ").split())
        assert (
            f"Your statistics are locked until invoice {NUMBER} is paid; your visits are "
            "still counted. Press p on it below to pay it."
        ) in shown
        chosen = billing.chosen_invoice()
        assert chosen is not None and chosen.number == NUMBER


def overview(used: int, quota: int = 100_000) -> BillingOverview:
    return BillingOverview(
        plan=PlanOut(name="starter", monthly_pageviews=quota, price="9.00", currency="EUR"),
        period="2026-12",
        pageviews_used=used,
        locked=False,
        locked_for=None,
        payments_enabled=True,
        invoices=[],
    )


def test_usage_reads_as_pageviews_of_the_quota_and_warns_when_over_it() -> None:
    assert usage_words(overview(12_345)) == (
        "This month (2026-12): 12,345 of 100,000 pageviews (12 %)"
    )
    assert usage_words(overview(123_456)) == (
        "This month (2026-12): 123,456 of 100,000 pageviews (123 %)\n"
        "Over the plan by 23,456 pageviews: they are all counted; consider the next plan up."
    )


def test_amounts_read_as_the_invoices_write_them() -> None:
    assert money("1234.5", "EUR") == "EUR 1,234.50"
    assert money("9", "USD") == "USD 9.00"


def test_the_invoice_list_says_what_a_refund_or_a_chargeback_did() -> None:
    now = ago(0)
    partly = _invoice("OT-2026-000301", "2026-09", "paid", 1, issued=ago(66)).model_copy(
        update={"refunded": "3.00"}
    )
    assert state_cell(partly, now).plain == "paid, EUR 3.00 refunded"
    whole = _invoice("OT-2026-000302", "2026-09", "refunded", 1, issued=ago(66))
    assert state_cell(whole, now).plain == "refunded"
    charged_back = _invoice("OT-2026-000303", "2026-09", "reversed", 1, issued=ago(66))
    assert state_cell(charged_back, now).plain == "charged back"
    assert "red" in str(state_cell(charged_back, now).style), "to pay again, like overdue"


# --- how it looks ----------------------------------------------------------------------------


def _invoice(number: str, month: str, state: str, pageviews: int, **moments: Any) -> InvoiceOut:
    issued = moments.get("issued", ago(4))
    return InvoiceOut(
        number=number,
        period=month,
        plan="business",
        quota_pageviews=1_000_000,
        pageviews=pageviews,
        amount="29.00",
        currency="EUR",
        state=state,
        issued_at=issued,
        due_at=issued + timedelta(days=14),
        paid_at=moments.get("paid"),
        approval_url=None,
    )


# A locked account's invoices: October's overdue, November's not yet due, the earlier paid.
LOCKED_INVOICES = [
    _invoice("OT-2026-000412", "2026-11", "open", 1_184_230, issued=ago(4)),
    _invoice("OT-2026-000377", "2026-10", "open", 912_004, issued=ago(35)),
    _invoice("OT-2026-000301", "2026-09", "paid", 874_512, issued=ago(66), paid=ago(60)),
    _invoice("OT-2026-000250", "2026-08", "paid", 803_115, issued=ago(97), paid=ago(90)),
]


class BilledClient(CannedClient):
    """The canned client of the snapshots, with a locked account's billing."""

    async def billing(self) -> BillingOverview:
        return BillingOverview(
            plan=PlanOut(
                name="business", monthly_pageviews=1_000_000, price="29.00", currency="EUR"
            ),
            period="2026-12",
            pageviews_used=164_350,
            locked=True,
            locked_for="OT-2026-000377",
            payments_enabled=True,
            invoices=LOCKED_INVOICES,
        )

    async def invoice(self, number: str) -> InvoiceDocument:
        raise AssertionError("not shown in the pictures")


@SIZES
def test_the_billing_of_a_locked_account(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = OtApp(BilledClient(), now=fixed_now)

    async def to_billing(pilot: Pilot[None]) -> None:
        await on_sites(pilot)
        await pilot.press("b")
        await wait_for_screen(pilot, BillingScreen)
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=to_billing)
