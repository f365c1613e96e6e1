"""`ot-admin billing`: a billing operator puts a customer on a plan, reads their usage, runs a
month's invoices (once), reads them, and runs dunning; others are refused.

Paying and refunding go through PayPal: tests/test_billing.py drives them against the fake."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ot.billing.invoices import get_invoice
from ot.clock import utcnow
from ot.db import transaction
from ot.mailer import outbox
from ot.models import Account, InvoiceState
from tests import support, test_admin_cli
from tests.conftest import free_port
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_admin_operators import trail
from tests.test_audit_admin import CHECKPOINT_DUE, signed_to_the_end
from tests.test_billing import _put

database = test_admin_cli.database  # a fresh database per backend


def billing(login: str = "carol") -> dict[str, str]:
    return {"SUDO_USER": login}


async def _a_customer_since(database: AdminDatabase, account_id: int, moment: datetime) -> None:
    async with support.helper_engine(database.settings) as engine, transaction(engine) as session:
        account = await session.get(Account, account_id)
        assert account is not None
        account.created_at = moment
        session.add(account)


@pytest.fixture
def office(database: AdminDatabase, tmp_path: Path) -> AdminDatabase:
    """alice (admin) and carol (billing); account 1 (shop.example) a customer since September,
    with three pageviews in November imported from its access log."""
    ok(database.invoke("operators add alice --role admin"))
    ok(database.invoke("operators add carol --role billing", SUDO_USER="alice"))
    ok(database.invoke("accounts create 'Test Shop B.V.'", SUDO_USER="alice"))
    ok(database.invoke("sites add --account 1 shop.example", SUDO_USER="alice"))
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'198.51.100.{n} - - [1{n}/Nov/2026:12:00:00 +0000] "GET /p{n} HTTP/1.1" 200 512 '
            f'"-" "{support.CHROME_USER_AGENT}"\n'
            for n in range(3)
        )
    )
    ok(database.invoke(f"import-log shop.example {log}", SUDO_USER="alice"))
    support.run_sync(_a_customer_since(database, 1, datetime(2026, 9, 1, tzinfo=UTC)))
    return database


def test_plans_are_listed_with_their_quotas_and_prices(office: AdminDatabase) -> None:
    plans = json.loads(ok(office.invoke("billing plans --json", **billing())))
    assert [(p["name"], p["monthly_pageviews"], p["price"], p["default"]) for p in plans][:2] == [
        ("free", 10_000, "EUR 0.00", True),
        ("starter", 100_000, "EUR 9.00", False),
    ]


def test_a_month_is_invoiced_once_and_read_back(office: AdminDatabase) -> None:
    assert "is on the starter plan" in ok(office.invoke("billing plan 1 starter", **billing()))
    usage = json.loads(ok(office.invoke("billing usage 1 --period 2026-11 --json", **billing())))
    assert (usage["plan"], usage["pageviews"], usage["quota_pageviews"]) == ("starter", 3, 100_000)

    first = ok(office.invoke("billing run --period 2026-11", **billing()))
    assert first.splitlines()[0] == (
        "2026-11: 1 invoice issued; 0 accounts invoiced before, 0 accounts on a free plan"
    )
    assert "OT-2026-000001  account 1  EUR 9.00" in first
    again = ok(office.invoke("billing run --period 2026-11", **billing()))
    assert again.splitlines() == [
        "2026-11: 0 invoices issued; 1 account invoiced before, 0 accounts on a free plan"
    ]

    [invoice] = json.loads(ok(office.invoke("billing invoices --json", **billing())))
    assert (invoice["number"], invoice["state"], invoice["pageviews"]) == (
        "OT-2026-000001",
        "open",
        3,
    )
    shown = ok(office.invoke("billing show OT-2026-000001", **billing()))
    assert "INVOICE OT-2026-000001" in shown and "To:        Test Shop B.V." in shown
    assert "state: open" in shown
    assert json.loads(ok(office.invoke("billing overdue --json", **billing()))) == []
    assert ok(office.invoke("billing dunning", **billing())).strip() == (
        "0 reminders sent, 0 dashboards locked"
    )

    acts = [(e["actor"], e["action"]) for e in trail(office)]
    assert ("operator:carol", "plan.changed") in acts
    assert ("operator:carol", "invoice.issued") in acts
    reads = [e["details"] for e in trail(office) if e["action"] == "operator.read"]
    assert {"command": "billing usage", "arguments": {"account": "1", "period": "2026-11"}} in reads
    assert {"command": "billing show", "arguments": {"number": "OT-2026-000001"}} in reads


def test_a_billing_run_signs_the_audit_trail_when_a_checkpoint_is_due(
    office: AdminDatabase,
) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("billing run --period 2026-11", **billing(), **CHECKPOINT_DUE))
    assert trail(office)[-1]["action"] == "invoice.issued"
    assert signed_to_the_end(office)


def test_a_billing_run_for_a_script_prints_its_json_and_no_progress_bar(
    office: AdminDatabase,
) -> None:
    """CliRunner's standard error is no terminal: as under cron, or piped to a log."""
    ok(office.invoke("billing plan 1 starter", **billing()))
    result = office.invoke("billing run --period 2026-11 --json", **billing())
    assert json.loads(ok(result))["issued"][0]["number"] == "OT-2026-000001"
    assert result.stderr == ""


def test_a_billing_run_on_a_terminal_draws_its_bar_to_the_last_account(
    office: AdminDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ot.admin.output.progress_shown", lambda: True)
    ok(office.invoke("billing plan 1 starter", **billing()))
    result = office.invoke("billing run --period 2026-11 --json", **billing())
    assert json.loads(ok(result))["issued"][0]["number"] == "OT-2026-000001"
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    assert "invoicing 2026-11" in drawn and "1/1 accounts" in drawn, drawn


def test_pageviews_retention_deleted_are_still_billed(office: AdminDatabase) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("sites update shop.example --retention-days 1", SUDO_USER="alice"))
    ok(office.invoke("retention run", SUDO_USER="alice"))
    assert support.run_sync(support.rows(office.settings, "SELECT id FROM hit")) == []
    usage = json.loads(ok(office.invoke("billing usage 1 --period 2026-11 --json", **billing())))
    assert usage["pageviews"] == 3
    ok(office.invoke("billing run --period 2026-11", **billing()))
    [invoice] = json.loads(ok(office.invoke("billing invoices --json", **billing())))
    assert invoice["pageviews"] == 3


def test_an_unpaid_invoice_is_not_refunded(office: AdminDatabase) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("billing run --period 2026-11", **billing()))
    line = refused(office.invoke("billing refund OT-2026-000001 --yes", **billing()), 2)
    assert line == "error: invoice OT-2026-000001 is open: only a paid invoice is refunded"


def test_refunding_without_paypal_configured_says_what_to_set(office: AdminDatabase) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("billing run --period 2026-11", **billing()))
    support.run_sync(_mark_paid(office, "OT-2026-000001"))
    line = refused(office.invoke("billing refund OT-2026-000001 --yes", **billing()), 2)
    assert "payments through PayPal are off" in line and "OT_PAYPAL__CLIENT_ID" in line


async def _mark_paid(
    database: AdminDatabase, number: str, refunded: Decimal = Decimal("0.00")
) -> None:
    async with support.helper_engine(database.settings) as engine, transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        invoice.state, invoice.sale_id = InvoiceState.PAID, "SALE-1"
        invoice.refunded_amount = refunded
        session.add(invoice)


def test_an_invoice_refunded_in_part_shows_what_went_back(office: AdminDatabase) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("billing run --period 2026-11", **billing()))
    support.run_sync(_mark_paid(office, "OT-2026-000001", refunded=Decimal("3.00")))
    shown = ok(office.invoke("billing show OT-2026-000001", **billing()))
    assert "state: paid (EUR 3.00 refunded); PayPal payment -, sale SALE-1" in shown
    as_json = json.loads(ok(office.invoke("billing show OT-2026-000001 --json", **billing())))
    assert (as_json["state"], as_json["refunded"]) == ("paid", "EUR 3.00")


async def _overdue_since_yesterday(database: AdminDatabase, number: str) -> None:
    async with support.helper_engine(database.settings) as engine, transaction(engine) as session:
        invoice = await get_invoice(session, number, for_update=True)
        invoice.due_at = utcnow() - timedelta(days=1)
        session.add(invoice)


def test_a_reminder_the_mail_server_refused_fails_the_run_and_goes_out_with_the_next(
    office: AdminDatabase,
) -> None:
    ok(office.invoke("billing plan 1 starter", **billing()))
    ok(office.invoke("billing run --period 2026-11", **billing()))
    support.run_sync(_put(office.settings, 1, email="owner@shop.example"))
    support.run_sync(_overdue_since_yesterday(office, "OT-2026-000001"))
    nobody_listens = {
        "OT_MAIL__BACKEND": "smtp",
        "OT_MAIL__SMTP_HOST": "127.0.0.1",
        "OT_MAIL__SMTP_PORT": str(free_port()),
    }
    failed = office.invoke("billing dunning", **billing(), **nobody_listens)
    assert failed.exit_code == 1, failed.output
    assert failed.stdout.strip() == "0 reminders sent, 0 dashboards locked"
    assert failed.stderr.startswith("error: the reminders of OT-2026-000001 could not be mailed")
    assert office.rows("SELECT reminded_at FROM invoice") == [{"reminded_at": None}]

    again = ok(office.invoke("billing dunning", **billing()))
    assert again.strip() == "1 reminder sent, 0 dashboards locked"
    [mail] = outbox(office.settings.data_dir)
    assert mail["To"] == "owner@shop.example"


BAD = {
    "billing run --period 2026-13": "--period: '2026-13' is not a month: write YYYY-MM",
    "billing run --period 2099-01": "2099-01 is not over yet",
    "billing plan 1 gold": 'unknown plan "gold": the plans are free, starter, business',
    "billing plan 99 starter": "account 99 does not exist",
    "billing invoices --state late": "--state: unknown state 'late'",
    "billing show OT-2026-999999": "invoice OT-2026-999999 does not exist",
}


@pytest.mark.parametrize("command_line", sorted(BAD))
def test_bad_input_is_refused_in_words_and_changes_nothing(
    office: AdminDatabase, command_line: str
) -> None:
    before = office.snapshot()
    assert BAD[command_line] in refused(office.invoke(command_line, **billing()), 2)
    after = office.snapshot()
    # Reads are recorded; nothing else changes.
    assert {k: v for k, v in after.items() if k != "audit_entry"} == {
        k: v for k, v in before.items() if k != "audit_entry"
    }


def test_billing_needs_the_billing_role(office: AdminDatabase) -> None:
    line = refused(office.invoke("billing run --period 2026-11", SUDO_USER="alice"), 2)
    assert line == (
        "error: alice may not run `ot-admin billing run`: that needs the billing role "
        "(alice holds: admin)"
    )
    assert (
        "is on the starter plan"
        not in office.invoke("billing plan 1 starter", SUDO_USER="alice").stdout
    )
