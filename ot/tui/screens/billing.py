"""The account's billing: its plan, this month's pageviews against the plan's quota, whether the
statistics are locked for an overdue invoice, and the invoices, to read and to pay through
PayPal. Opened with `b` from the sites."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, ProgressBar, Static

from ot.api.billing import BillingOverview, InvoiceOut
from ot.tui.calls import app_of, attempt, client_of
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

# What an invoice's state means to the customer (the API's words are its states' names).
STATE_WORDS = {
    "open": "to pay",
    "pending": "pending",  # PayPal took the payment but has not settled it yet
    "paid": "paid",
    "refunded": "refunded",
    "reversed": "charged back",  # the money went back to the payer: to pay again
    "void": "void",
}
PAYABLE = frozenset({"open", "reversed"})


def money(amount: str, currency: str) -> str:
    """`EUR 1,234.00`, as the invoices write it."""
    return f"{currency} {Decimal(amount):,.2f}"


def plan_words(overview: BillingOverview) -> str:
    plan = overview.plan
    return (
        f"Plan {plan.name}: {plan.monthly_pageviews:,} pageviews a month for "
        f"{money(plan.price, plan.currency)} a month"
    )


def usage_words(overview: BillingOverview) -> str:
    """Like `12,345 of 100,000 pageviews (12 %)`, and how far over the quota when it is."""
    used, quota = overview.pageviews_used, overview.plan.monthly_pageviews
    share = f" ({used * 100 // quota} %)" if quota else ""
    words = f"This month ({overview.period}): {used:,} of {quota:,} pageviews{share}"
    if used > quota:
        words += (
            f"\nOver the plan by {used - quota:,} pageviews: they are all counted; "
            "consider the next plan up."
        )
    return words


def locked_words(overview: BillingOverview) -> str:
    invoice = overview.locked_for or "an overdue invoice"
    return (
        f"Your statistics are locked until invoice {invoice} is paid; your visits are still "
        "counted. Press p on it below to pay it."
    )


def state_cell(invoice: InvoiceOut, now: datetime) -> Text:
    """The state in words; an open invoice past its due date is overdue, in red; a paid one
    refunded in part says how much came back."""
    if invoice.state in PAYABLE and invoice.due_at < now:
        return Text("overdue" if invoice.state == "open" else "charged back", style="bold red")
    words = STATE_WORDS.get(invoice.state, invoice.state)
    if invoice.state == "paid" and Decimal(invoice.refunded):
        words += f", {money(invoice.refunded, invoice.currency)} refunded"
    return Text(words, style="yellow" if invoice.state in PAYABLE else "")


class BillingScreen(Screen[None]):
    HELP = """# Billing

Your plan, this month's pageviews against what the plan covers, and your invoices, newest
first. While an invoice is overdue your statistics are locked (your visits are still counted):
pay it and they open again.

- **Enter** or `v` shows the invoice under the cursor as text.
- `p` pays the invoice under the cursor through PayPal: open the address shown in a browser,
  or scan its QR code with your phone, and approve the payment there. Close that window and
  the invoice shows as paid (`r` reloads).
"""
    DEFAULT_CSS = """
    BillingScreen #locked {
        display: none;
        border: round $error;
        color: $error;
        text-style: bold;
        padding: 0 1;
        height: auto;
    }
    BillingScreen.-locked #locked { display: block; }
    BillingScreen #plan { padding: 0 1; height: auto; }
    BillingScreen #usage { padding: 0 1; height: auto; }
    BillingScreen #usage.-over { color: $warning; text-style: bold; }
    BillingScreen #usage-bar { padding: 0 1; height: 1; }
    BillingScreen #invoices { height: 1fr; margin: 1 0 0 0; }
    BillingScreen #no-invoices {
        display: none;
        padding: 1 1;
        color: $text-muted;
        height: auto;
    }
    BillingScreen.-no-invoices #no-invoices { display: block; }
    BillingScreen.-no-invoices #invoices { display: none; }
    """
    AUTO_FOCUS = "#invoices"
    BINDINGS = [
        Binding("enter", "view", "View", show=False),
        Binding("v", "view", "View"),
        Binding("p", "pay", "Pay"),
        Binding("r", "reload", "Reload"),
        Binding("escape,q", "back", "Back", key_display="Esc"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.overview: BillingOverview | None = None

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        yield Static(id="locked")
        yield Static("Asking the server for your plan…", id="plan")
        yield Static(id="usage")
        yield ProgressBar(id="usage-bar", show_eta=False, show_percentage=False)
        yield DataTable(id="invoices", cursor_type="row", zebra_stripes=True)
        yield Static("No invoices yet: the first comes after your first month.", id="no-invoices")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Billing"
        table = self.query_one("#invoices", DataTable)
        table.add_column("Invoice", key="number")
        table.add_column("Month", key="month")
        table.add_column("Plan", key="plan")
        table.add_column("Pageviews", key="pageviews")
        table.add_column("Amount", key="amount")
        table.add_column("State", key="state")
        table.add_column("Due", key="due")
        self.load()

    # --- loading ---------------------------------------------------------------------------

    @work(exclusive=True, group="billing")
    async def load(self) -> None:
        table = self.query_one("#invoices", DataTable)
        overview = await attempt(self, client_of(self).billing(), busy=table)
        if overview is not None and self.is_attached:
            self.show(overview)

    def show(self, overview: BillingOverview) -> None:
        chosen = self.chosen_invoice()
        self.overview = overview
        self.set_class(overview.locked, "-locked")
        self.query_one("#locked", Static).update(locked_words(overview))
        self.query_one("#plan", Static).update(Text(plan_words(overview)))
        usage = self.query_one("#usage", Static)
        usage.update(Text(usage_words(overview)))
        usage.set_class(overview.pageviews_used > overview.plan.monthly_pageviews, "-over")
        quota = overview.plan.monthly_pageviews
        self.query_one("#usage-bar", ProgressBar).update(
            total=max(quota, 1), progress=min(overview.pageviews_used, quota)
        )
        # The cursor stays where the customer left it; at first, on the invoice to pay.
        cursor_on = chosen.number if chosen is not None else overview.locked_for
        self.show_invoices(overview.invoices, cursor_on)

    def show_invoices(self, invoices: list[InvoiceOut], cursor_on: str | None) -> None:
        table = self.query_one("#invoices", DataTable)
        table.clear()
        self.set_class(not invoices, "-no-invoices")
        now = app_of(self).now()
        for invoice in invoices:
            table.add_row(
                Text(invoice.number, style="bold"),
                invoice.period,
                Text(invoice.plan),
                Text(f"{invoice.pageviews:,}", justify="right"),
                Text(money(invoice.amount, invoice.currency), justify="right"),
                state_cell(invoice, now),
                f"{invoice.due_at:%Y-%m-%d}",
                key=invoice.number,
            )
        if cursor_on is not None and cursor_on in table.rows:
            table.move_cursor(row=table.get_row_index(cursor_on))

    def chosen_invoice(self) -> InvoiceOut | None:
        table = self.query_one("#invoices", DataTable)
        if self.overview is None or not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((each for each in self.overview.invoices if each.number == key), None)

    # --- keys ------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#invoices")
    def _row_chosen(self) -> None:
        self.action_view()

    def action_view(self) -> None:
        invoice = self.chosen_invoice()
        if invoice is None:
            self.notify("No invoice yet.", title="Invoice")
            return
        self.view_invoice(invoice.number)

    @work(exclusive=True, group="invoice")
    async def view_invoice(self, number: str) -> None:
        table = self.query_one("#invoices", DataTable)
        document = await attempt(self, client_of(self).invoice(number), busy=table)
        if document is not None and self.is_attached:
            from ot.tui.screens.billing_invoice import InvoiceScreen

            self.app.push_screen(InvoiceScreen(document))

    def action_pay(self) -> None:
        invoice = self.chosen_invoice()
        if self.overview is None or invoice is None:
            self.notify("No invoice to pay.", title="Pay")
            return
        if not self.overview.payments_enabled:
            self.notify(
                "Payments through PayPal are not enabled on this server: ask its operator how "
                "to pay.",
                title="Pay",
                severity="warning",
            )
            return
        if invoice.state not in PAYABLE:
            words = STATE_WORDS.get(invoice.state, invoice.state)
            self.notify(f"Invoice {invoice.number} is {words}: nothing to pay.", title="Pay")
            return
        self.pay(invoice)

    @work(exclusive=True, group="invoice")
    async def pay(self, invoice: InvoiceOut) -> None:
        table = self.query_one("#invoices", DataTable)
        started = await attempt(self, client_of(self).pay_invoice(invoice.number), busy=table)
        if started is None or not self.is_attached:
            return
        from ot.tui.screens.billing_payment import PaymentScreen

        amount = money(invoice.amount, invoice.currency)
        # Back from PayPal, the invoice may be paid already: show it as it is now.
        self.app.push_screen(
            PaymentScreen(started.invoice, amount, started.approval_url), self._reload_after
        )

    def _reload_after(self, _: object) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()
