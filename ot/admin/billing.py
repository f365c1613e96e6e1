"""`ot-admin billing`: plans, usage, invoices, refunds and dunning (`ot.billing`)."""

from __future__ import annotations

from typing import Any

import typer

from ot.admin.context import FAILED, context_from, refuse, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, plural, print_json, print_listing, progress_bar
from ot.billing.dunning import overdue_invoices, run_dunning
from ot.billing.invoices import (
    get_invoice,
    issue_invoices,
    list_invoices,
    money,
    rendering_of,
)
from ot.billing.plans import Period, pageviews_used, plan_of, set_plan
from ot.clock import as_utc, utcnow
from ot.models import Invoice, InvoiceState

app = AdminTyper(help="Billing: plans, usage, invoices, refunds and dunning.")

INVOICE_COLUMNS = [
    "number", "account_id", "period", "plan", "pageviews", "amount", "state", "issued_at",
    "due_at", "paid_at",
]  # fmt: skip


def _listed(invoice: Invoice) -> dict[str, object]:
    def day(value: Any) -> str | None:
        return None if value is None else as_utc(value).date().isoformat()

    return {
        "number": invoice.number,
        "account_id": invoice.account_id,
        "period": invoice.period,
        "plan": invoice.plan,
        "pageviews": invoice.pageviews,
        "amount": money(invoice.amount, invoice.currency),
        "state": invoice.state.value,
        "issued_at": day(invoice.issued_at),
        "due_at": day(invoice.due_at),
        "paid_at": day(invoice.paid_at),
    }


def _period(text: str | None) -> Period:
    from ot.errors import InvalidInput

    try:
        return Period.parse(text) if text is not None else Period.of(utcnow())
    except InvalidInput as error:
        refuse(f"--period: {error.message}")


@app.command("plans")
def plans_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """List the plans: monthly pageview quota and price.

    Plans are set in the settings (`[billing] plans`).

    \b
    Example:
      ot-admin billing plans
    """
    settings = context_from(ctx).settings.billing
    rows = [
        {
            "name": plan.name,
            "monthly_pageviews": plan.monthly_pageviews,
            "price": money(plan.price, settings.currency),
            "default": plan.name == settings.default_plan,
        }
        for plan in settings.plans
    ]
    print_listing(
        rows,
        ["name", "monthly_pageviews", "price", "default"],
        as_json=as_json,
        shown={"monthly_pageviews": lambda n: f"{n:,}", "default": lambda d: "yes" if d else ""},
    )


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    account: int = typer.Argument(..., metavar="ACCOUNT_ID"),
    plan: str = typer.Argument(..., metavar="PLAN", help="A plan of `billing plans`."),
) -> None:
    """Put an account on a plan; its next invoice is for it.

    \b
    Example:
      ot-admin billing plan 3 business
    """
    context = context_from(ctx)

    async def action() -> None:
        async with context.session() as session:
            await set_plan(session, context.settings.billing, account, plan, actor=context.actor)

    run(action)
    typer.echo(f"account {account} is on the {plan} plan")


@app.command("usage")
def usage_command(
    ctx: typer.Context,
    account: int = typer.Argument(..., metavar="ACCOUNT_ID"),
    period: str | None = typer.Option(None, metavar="YYYY-MM", help="Default: this month."),
    as_json: bool = json_option(),
) -> None:
    """Show an account's plan and the pageviews it used in a month.

    \b
    Example:
      ot-admin billing usage 3 --period 2026-11
    """
    context = context_from(ctx)
    month = _period(period)

    async def action() -> dict[str, object]:
        from ot.accounts.store import get_account

        async with context.session() as session:
            await get_account(session, account)
            chosen = await plan_of(session, context.settings.billing, account)
            used = await pageviews_used(session, account, month)
            return {
                "account_id": account,
                "period": str(month),
                "plan": chosen.name,
                "quota_pageviews": chosen.monthly_pageviews,
                "pageviews": used,
            }

    usage = run(action)
    if as_json:
        print_json(usage)
        return
    share = int(usage["pageviews"]) / int(usage["quota_pageviews"])  # type: ignore[call-overload]
    typer.echo(
        f"account {account}, {month}: plan {usage['plan']}, "
        f"{plural(int(usage['pageviews']), 'pageview')} of "  # type: ignore[call-overload]
        f"{int(usage['quota_pageviews']):,} ({share:.0%})"  # type: ignore[call-overload]
    )


@app.command("run")
def run_command(
    ctx: typer.Context,
    period: str = typer.Option(..., metavar="YYYY-MM", help="The month to invoice (ended)."),
    as_json: bool = json_option(),
) -> None:
    """Issue a month's invoices; running it again issues nothing twice.

    Every account on a priced plan gets one invoice for the month, numbered in sequence.

    \b
    Example:
      ot-admin billing run --period 2026-11
    """
    context = context_from(ctx)
    month = _period(period)

    async def action() -> Any:
        # The write lock: the invoices' numbers are taken from the counter in this transaction.
        # The bar is gone before anything else is said (an error, a warning).
        async with context.session() as session:
            with progress_bar(f"invoicing {month}", unit="accounts") as progress:
                return await issue_invoices(
                    session,
                    context.cipher(),
                    context.settings.billing,
                    month,
                    now=utcnow(),
                    actor=context.actor,
                    progress=progress,
                )

    done = run(action)
    if as_json:
        print_json(
            {
                "period": str(month),
                "issued": [_listed(invoice) for invoice in done.issued],
                "already_invoiced": done.already_invoiced,
                "free": done.free,
            }
        )
        return
    typer.echo(
        f"{month}: {plural(len(done.issued), 'invoice')} issued; "
        f"{plural(done.already_invoiced, 'account')} invoiced before, "
        f"{plural(done.free, 'account')} on a free plan"
    )
    for invoice in done.issued:
        typer.echo(
            f"  {invoice.number}  account {invoice.account_id}  "
            f"{money(invoice.amount, invoice.currency)}"
        )


@app.command("invoices")
def invoices_command(
    ctx: typer.Context,
    account: int | None = typer.Option(None, "--account", metavar="ACCOUNT_ID"),
    state: str | None = typer.Option(
        None, metavar="STATE", help=f"One of: {', '.join(s.value for s in InvoiceState)}."
    ),
    as_json: bool = json_option(),
) -> None:
    """List invoices, newest first.

    \b
    Example:
      ot-admin billing invoices --state open
    """
    context = context_from(ctx)
    try:
        states = frozenset({InvoiceState(state)}) if state else None
    except ValueError:
        refuse(
            f"--state: unknown state {state!r}; the states are "
            f"{', '.join(s.value for s in InvoiceState)}"
        )

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            found = await list_invoices(session, account_id=account, states=states)
            return [_listed(invoice) for invoice in found]

    print_listing(run(action), INVOICE_COLUMNS, as_json=as_json)


@app.command("show")
def show_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., metavar="NUMBER"),
    as_json: bool = json_option(),
) -> None:
    """Show an invoice as the customer reads it, and how it was paid.

    \b
    Example:
      ot-admin billing show OT-2026-000012
    """
    context = context_from(ctx)

    async def action() -> tuple[dict[str, object], str, bool]:
        async with context.session() as session:
            invoice = await get_invoice(session, number)
            shown = {
                **_listed(invoice),
                "payment_id": invoice.payment_id,
                "sale_id": invoice.sale_id,
                "refund_id": invoice.refund_id,
                "refunded": money(invoice.refunded_amount, invoice.currency),
                "reminded_at": None
                if invoice.reminded_at is None
                else as_utc(invoice.reminded_at).isoformat(),
            }
            return shown, rendering_of(invoice, context.cipher()), invoice.refunded_amount > 0

    shown, rendering, refunded_in_part = run(action)
    if as_json:
        print_json({**shown, "rendering": rendering})
        return
    typer.echo(rendering)
    state = str(shown["state"])
    if state == InvoiceState.PAID and refunded_in_part:
        state += f" ({shown['refunded']} refunded)"
    typer.echo(
        f"state: {state}; PayPal payment {shown['payment_id'] or '-'}, "
        f"sale {shown['sale_id'] or '-'}, refund {shown['refund_id'] or '-'}"
    )


@app.command("refund")
def refund_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., metavar="NUMBER"),
    yes: bool = typer.Option(False, "--yes", help="Refund without asking."),
) -> None:
    """Refund a paid invoice in full through PayPal.

    \b
    Example:
      ot-admin billing refund OT-2026-000012 --yes
    """
    from ot.billing.payments import check_refundable, paypal_gateway, refund_invoice

    context = context_from(ctx)
    if not yes:
        typer.confirm(f"Send the whole amount of invoice {number} back to its payer?", abort=True)

    async def action() -> Invoice:
        async with context.session() as session:
            check_refundable(await get_invoice(session, number))  # before asking for PayPal
        async with context.engine() as engine:
            gateway = paypal_gateway(context.settings)
            return await refund_invoice(engine, gateway, number, actor=context.actor)

    invoice = run(action)
    typer.echo(
        f"invoice {number} refunded: {money(invoice.amount, invoice.currency)} "
        f"(PayPal refund {invoice.refund_id})"
    )


@app.command("overdue")
def overdue_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """List open invoices past their due date, oldest first.

    \b
    Example:
      ot-admin billing overdue
    """
    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            return [_listed(each) for each in await overdue_invoices(session, now=utcnow())]

    print_listing(run(action), INVOICE_COLUMNS, as_json=as_json)


@app.command("dunning")
def dunning_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Remind overdue invoices; lock dashboards past the grace period.

    Each invoice is reminded once. Run it daily (cron). Locked dashboards still collect
    hits; paying unlocks them.

    \b
    Example:
      ot-admin billing dunning
    """
    from ot.mailer import Mailer

    context = context_from(ctx)
    mailer = Mailer(context.settings.mail, context.settings.data_dir)

    async def action() -> Any:
        # Not one unit of work: run_dunning commits each invoice before mailing its reminder.
        async with context.engine() as engine:
            return await run_dunning(
                engine,
                context.cipher(),
                mailer,
                context.settings.billing,
                now=utcnow(),
                actor=context.actor,
            )

    report = run(action)
    if as_json:
        print_json(
            {"reminded": report.reminded, "locked": report.locked, "not_mailed": report.not_mailed}
        )
    else:
        typer.echo(
            f"{plural(len(report.reminded), 'reminder')} sent, "
            f"{plural(len(report.locked), 'dashboard')} locked"
        )
    if report.not_mailed:
        typer.echo(
            f"error: the reminders of {', '.join(report.not_mailed)} could not be mailed (see "
            "the log); the next run sends them",
            err=True,
        )
        raise typer.Exit(FAILED)
