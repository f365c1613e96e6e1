"""`ot-admin audit` and the operator's own trail: every command that changes data leaves an entry
naming the operator, and `audit verify` says whether the trail holds and where it breaks."""

from __future__ import annotations

import json
import os
import pwd
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import text, update
from sqlmodel import col

from ot import paths
from ot.admin import cli
from ot.clock import utcnow
from ot.db import create_engine
from ot.models import AuditEntry
from ot.security.secrets import load_secrets_of
from tests import support, test_admin_cli
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_audit_checkpoints import recompute_chain

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id


def entries(database: AdminDatabase) -> list[dict[str, object]]:
    return database.rows("SELECT * FROM audit_entry ORDER BY id")


def test_operator_actions_are_written_to_the_audit_trail(database: AdminDatabase) -> None:
    as_alice = {"SUDO_USER": "alice"}
    created = ok(database.invoke("accounts create 'Jane Doe Consulting'", **as_alice))
    account = int(re.findall(r"\d+", created)[0])
    ok(database.invoke(f"sites add --account {account} example.com", **as_alice))
    ok(database.invoke(f"tokens create --account {account} --name ci", **as_alice))
    ok(database.invoke("goals add example.com --event Signup", **as_alice))
    ok(database.invoke("goals remove example.com Signup", **as_alice))

    trail = entries(database)
    assert [entry["action"] for entry in trail] == [
        "account.created",
        "site.added",
        "key.created",
        "goal.added",
        "goal.removed",
    ]
    assert {entry["actor"] for entry in trail} == {"operator:alice"}
    assert {entry["account_id"] for entry in trail} == {account}
    assert "Jane Doe" not in repr(trail), "no personal data in the trail"


def login_of_this_process() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def test_the_operator_is_the_login_of_the_user_id_when_not_behind_sudo(
    database: AdminDatabase,
) -> None:
    """As under cron, which sets no USER: the user id's login, never `operator:unknown`."""
    ok(database.invoke("accounts create Someone", USER=None, SUDO_USER=None))
    assert entries(database)[-1]["actor"] == f"operator:{login_of_this_process()}"


def test_the_operator_is_not_taken_from_the_user_variable(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create Someone", USER="mallory", SUDO_USER=None))
    assert entries(database)[-1]["actor"] == f"operator:{login_of_this_process()}"


def test_the_operator_behind_sudo_is_the_login_that_ran_sudo(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create Someone", USER="root", SUDO_USER="alice"))
    assert entries(database)[-1]["actor"] == "operator:alice"


def test_a_refused_command_leaves_no_entry(database: AdminDatabase, account_id: int) -> None:
    before = entries(database)
    result = database.invoke(f"sites add --account {account_id} 'not a domain'")
    assert result.exit_code != 0
    assert entries(database) == before


def test_audit_verify_reports_the_length_and_intact(
    database: AdminDatabase, account_id: int
) -> None:
    ok(database.invoke("audit checkpoint"))
    output = ok(database.invoke("audit verify"))
    assert "1 entry checked" in output and "1 signed checkpoint" in output
    assert output.strip().endswith("intact")


def test_audit_verify_names_the_first_broken_link_and_fails(
    database: AdminDatabase, account_id: int
) -> None:
    ok(database.invoke(f"sites add --account {account_id} example.com"))
    first = entries(database)[0]["id"]
    _execute(database, f"UPDATE audit_entry SET action = 'x' WHERE id = {first}")
    result = database.invoke("audit verify")
    assert result.exit_code == 1
    assert f"BROKEN at entry {first}: its content does not match its hash" in result.stdout


def test_audit_verify_refuses_a_public_key_that_is_not_one(database: AdminDatabase) -> None:
    result = database.invoke("audit verify --public-key not-a-key")
    assert result.exit_code == 2 and "Ed25519" in result.stderr


def test_audit_show_lists_one_account_newest_first(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create One"))
    ok(database.invoke("accounts create Two"))
    two = max(int(entry["account_id"]) for entry in entries(database))  # type: ignore[call-overload]
    lines = ok(database.invoke(f"audit show --account {two} --json")).splitlines()
    shown = [json.loads(line) for line in lines]
    assert [(each["action"], each["account_id"]) for each in shown] == [("account.created", two)]
    everything = ok(database.invoke("audit show")).splitlines()
    # Newest first: the reads of the trail by these two commands are in it too.
    assert [line.split("\t")[3] for line in everything] == [
        "operator.read", "operator.read", "account.created", "account.created"
    ]  # fmt: skip


def test_audit_public_key_prints_the_verifying_key(database: AdminDatabase) -> None:
    public_key = ok(database.invoke("audit public-key")).strip()
    ok(database.invoke("accounts create One"))
    ok(database.invoke("audit checkpoint"))
    assert ok(database.invoke(f"audit verify --public-key {public_key}")).strip().endswith("intact")


def _execute(database: AdminDatabase, sql: str) -> None:
    async def run() -> None:
        engine = create_engine(database.settings)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(sql))
        finally:
            await engine.dispose()

    support.run_sync(run())


# The settings under which every new entry makes a checkpoint due.
CHECKPOINT_DUE = {"OT_AUDIT__CHECKPOINT_EVERY_ENTRIES": "1"}


def signed_to_the_end(database: AdminDatabase) -> bool:
    """Whether a signed checkpoint covers the trail's last entry."""
    [last] = database.rows("SELECT max(id) AS id FROM audit_entry")
    [signed] = database.rows("SELECT max(entry_id) AS id FROM audit_checkpoint")
    return last["id"] is not None and signed["id"] == last["id"]


def test_ot_admin_signs_a_checkpoint_once_one_is_due(database: AdminDatabase) -> None:
    every_entry = CHECKPOINT_DUE
    ok(database.invoke("accounts create One", **every_entry))
    [checkpoint] = database.rows("SELECT entry_id FROM audit_checkpoint")
    assert checkpoint["entry_id"] == entries(database)[-1]["id"]
    ok(database.invoke("accounts create Two"))  # default: every 100 entries, not yet
    assert len(database.rows("SELECT * FROM audit_checkpoint")) == 1


def _forge(database: AdminDatabase, *, hours_back: float = 0) -> None:
    """What someone holding the host can do: change an entry, date the trail back (to look
    old enough), recompute every hash and remove every checkpoint, rows and file."""

    async def forge() -> None:
        engine = create_engine(database.settings)
        try:
            async with engine.begin() as connection:
                first = (await connection.execute(text("SELECT min(id) FROM audit_entry"))).scalar()
                await connection.execute(
                    update(AuditEntry).where(col(AuditEntry.id) == first).values(actor="x")
                )
                if hours_back:
                    moment = utcnow().replace(microsecond=0) - timedelta(hours=hours_back)
                    await connection.execute(update(AuditEntry).values(at=moment))
                await connection.execute(text("DELETE FROM audit_checkpoint"))
            await recompute_chain(engine)
        finally:
            await engine.dispose()
        paths.audit_checkpoints_path(database.settings.data_dir).unlink(missing_ok=True)

    support.run_sync(forge())


def test_audit_verify_fails_on_entries_past_the_signing_window_that_no_checkpoint_covers(
    database: AdminDatabase,
) -> None:
    for name in ("One", "Two", "Three"):
        ok(database.invoke(f"accounts create {name}"))
    ok(database.invoke("audit checkpoint"))
    _forge(database, hours_back=2)

    result = database.invoke("audit verify")
    assert result.exit_code == 1
    assert "BROKEN: 3 entries since " in result.stdout
    assert "are not covered by any signed checkpoint" in result.stdout
    as_json = database.invoke("audit verify --json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["intact"] is False and report["overdue"]["entries"] == 3
    assert report["first_broken_id"] is None, "the recomputed chain holds by itself"


def test_audit_head_prints_what_verify_expect_head_checks_later(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create One"))
    ok(database.invoke("audit checkpoint"))
    head_line = ok(database.invoke("audit head"))
    head = head_line.split("\t")[0]
    assert len(head) == 64 and "entry 1" in head_line
    assert json.loads(ok(database.invoke("audit head --json")))["head"] == head
    assert ok(database.invoke(f"audit verify --expect-head {head}")).strip().endswith("intact")

    _forge(database)
    ok(database.invoke("audit checkpoint"))  # signed again with the key found on the host
    assert ok(database.invoke("audit verify")).strip().endswith("intact")
    result = database.invoke(f"audit verify --expect-head {head}")
    assert result.exit_code == 1
    assert f"the head {head} kept off the host is not in the trail" in result.stdout


def test_audit_verify_refuses_a_head_that_is_not_one(database: AdminDatabase) -> None:
    line = refused(database.invoke("audit verify --expect-head 1234"))
    assert "not a head" in line
    assert database.invoke("audit verify --expect-head 1234").exit_code == 2


def test_audit_head_prints_nothing_when_the_trail_does_not_verify(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create One"))
    ok(database.invoke("audit checkpoint"))
    _execute(database, "UPDATE audit_entry SET action = 'x'")
    result = database.invoke("audit head")
    assert result.exit_code == 1 and result.stdout == ""
    assert "does not verify" in result.stderr


# --- every command that changes data -------------------------------------------------------
# The commands are read from the Typer app: a new command fails the first test below until it is
# walked (`COMMAND_WALKS`) or said to change no customer data, with a reason.

# Commands that only read.
READ_ONLY = {
    "accounts list",
    "accounts search",
    "accounts show",
    "audit head",
    "audit public-key",
    "audit show",
    "audit verify",
    "db check",
    "db status",
    "goals list",
    "keys status",
    "operators list",
    "sites list",
    "sites snippet",
    "sites summary",
    "stats query",
    "tokens list",
}
# Commands that change something, but no customer data an entry would speak of.
NOT_AUDITED = {
    "db upgrade": "migrates the schema: no customer data, and it comes before any trail",
    "audit checkpoint": "signs the trail's head: the signed checkpoint is its own record",
    # Its acts name the system (system:retention, system:purge) as `ot serve`'s hourly run
    # does, and happen only for data past its time (see test_retention, test_account_deletion).
    "retention run": "runs the server's housekeeping by hand",
    # Audited, but not countable here: the trail becomes the backup's, with `database.restored`
    # on top (tests/test_backups.py checks that entry and that the restored trail verifies).
    "db restore": "replaces the whole trail with the backup's",
    # sshd asks it for every key offered; the login a key makes is the act, recorded by the SSH
    # channel (login.succeeded, "via": "ssh"; tests/test_ssh_access.py).
    "ssh authorized-keys": "answers sshd; notes the key's last use",
}
# Commands whose entries are checked by their own tests, which set up what they need.
DISCLOSURE_COMMANDS = "approve due export lift-gag list notify open reject report show verify"
BILLING_COMMANDS = "dunning invoices overdue plan plans refund run show usage"
WALKED_ELSEWHERE = {
    # Two legal operators (four eyes), a request in the right state: test_disclosure_cli checks
    # each act's entry (opened, reviewed, approved, refused, exported, notified, gag lifted).
    **{
        f"disclosure {name}": "tests/test_disclosure_cli.py" for name in DISCLOSURE_COMMANDS.split()
    },
    # A billing operator, accounts on plans, a month's hits: test_billing_cli checks the entries
    # (plan.changed, invoice.issued, operator.read); refunds go through PayPal (test_billing).
    **{f"billing {name}": "tests/test_billing_cli.py" for name in BILLING_COMMANDS.split()},
}
OPERATOR = "alice"


def command_names() -> set[str]:
    """Every command of `ot-admin`, as typed after it (`site add`)."""
    root = typer.main.get_command(cli.app)
    found: set[str] = set()

    def walk(command: Any, context: Any, words: list[str]) -> None:
        if not hasattr(command, "list_commands"):
            found.add(" ".join(words))
            return
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            walk(sub, type(context)(sub, parent=context, info_name=name), [*words, name])

    walk(root, root.make_context("ot-admin", [], resilient_parsing=True), [])
    return found


def _account(database: AdminDatabase) -> int:
    created = ok(database.invoke("accounts create 'Jane Doe Consulting'"))
    return int(re.findall(r"\d+", created)[0])


def _suspended(database: AdminDatabase) -> int:
    account = _account(database)
    ok(database.invoke(f"accounts suspend {account} --reason abuse"))
    return account


def _site(database: AdminDatabase) -> str:
    ok(database.invoke(f"sites add --account {_account(database)} example.com"))
    return "example.com"


def _with_goal(database: AdminDatabase) -> str:
    ok(database.invoke(f"goals add {_site(database)} --page /thanks --name Thanks"))
    return "example.com"


def _token(database: AdminDatabase) -> str:
    """`--account N ID` of a live token."""
    account = _account(database)
    created = json.loads(ok(database.invoke(f"tokens create --account {account} --json")))
    return f"--account {account} {created['id']}"


def _old_key(database: AdminDatabase) -> str:
    """A key no value uses any more: the current one, once rotated away from."""
    old = load_secrets_of(database.settings).current_key_id
    ok(database.invoke("keys rotate"))
    return old


def _log(database: AdminDatabase, folder: Path) -> str:
    log = folder / "access.log"
    log.write_text(
        '203.0.113.9 - - [01/Dec/2026:10:00:00 +0000] "GET /pricing HTTP/1.1" 200 512 "-" '
        f'"{support.CHROME_USER_AGENT}"\n'
    )
    return str(log)


def _operator(database: AdminDatabase) -> str:
    """bob, a legal operator, appointed while this process's login and alice are admins (the
    walk runs as either)."""
    ok(database.invoke(f"operators add {login_of_this_process()} --role admin"))
    admin = {"SUDO_USER": login_of_this_process()}
    ok(database.invoke("operators add alice --role admin", **admin))
    ok(database.invoke("operators add bob --role legal", **admin))
    return "bob"


# Each data-changing command, set up to succeed: the command line to run, after the setup.
COMMAND_WALKS: dict[str, Callable[[AdminDatabase, Path], str]] = {
    "accounts create": lambda db, folder: "accounts create Ada",
    "accounts delete": lambda db, folder: f"accounts delete {_account(db)} --yes",
    "accounts suspend": lambda db, folder: f"accounts suspend {_account(db)} --reason abuse",
    "accounts unsuspend": lambda db, folder: f"accounts unsuspend {_suspended(db)}",
    "db backup": lambda db, folder: f"db backup {folder}/ot.db",
    "accounts export": lambda db, folder: f"accounts export {_account(db)} --out {folder}/x.zip",
    "erase": lambda db, folder: f"erase {_site(db)} --visitor-id 1",
    "goals add": lambda db, folder: f"goals add {_site(db)} --event Signup",
    "goals remove": lambda db, folder: f"goals remove {_with_goal(db)} Thanks",
    "import-log": lambda db, folder: f"import-log {_site(db)} {_log(db, folder)}",
    "keys retire": lambda db, folder: f"keys retire {_old_key(db)}",
    "keys rotate": lambda db, folder: "keys rotate",
    "operators add": lambda db, folder: "operators add bob --role admin",
    "operators remove": lambda db, folder: f"operators remove {_operator(db)}",
    "rollups run": lambda db, folder: "rollups run",
    "sites add": lambda db, folder: f"sites add --account {_account(db)} example.com",
    "sites remove": lambda db, folder: f"sites remove {_site(db)} --yes",
    "sites update": lambda db, folder: f"sites update {_site(db)} --timezone Europe/Amsterdam",
    "tokens create": lambda db, folder: f"tokens create --account {_account(db)}",
    "tokens revoke": lambda db, folder: f"tokens revoke {_token(db)}",
}


def test_every_command_is_walked_or_said_to_change_no_customer_data() -> None:
    listed = [*COMMAND_WALKS, *READ_ONLY, *NOT_AUDITED, *WALKED_ELSEWHERE]
    assert len(listed) == len(set(listed)), "a command is listed twice"
    assert set(listed) == command_names(), "walk the new command, or list it with a reason"


@pytest.mark.parametrize("command", sorted(COMMAND_WALKS))
def test_a_changing_command_leaves_an_entry_naming_the_operator(
    database: AdminDatabase, tmp_path: Path, command: str
) -> None:
    command_line = COMMAND_WALKS[command](database, tmp_path)
    assert command_line.startswith(command)
    before = len(entries(database))
    ok(database.invoke(command_line, SUDO_USER=OPERATOR))
    added = entries(database)[before:]
    assert f"operator:{OPERATOR}" in [entry["actor"] for entry in added], added


@pytest.mark.parametrize("command", sorted(COMMAND_WALKS))
def test_without_sudo_every_changing_command_names_the_login_of_the_user_id(
    database: AdminDatabase, tmp_path: Path, command: str
) -> None:
    """The same operator for every command, also under cron (no USER, no SUDO_USER)."""
    command_line = COMMAND_WALKS[command](database, tmp_path)
    before = len(entries(database))
    ok(database.invoke(command_line, USER=None, SUDO_USER=None))
    added = entries(database)[before:]
    operators = {entry["actor"] for entry in added if str(entry["actor"]).startswith("operator:")}
    assert operators == {f"operator:{login_of_this_process()}"}, added
