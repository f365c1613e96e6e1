"""`ot-admin operators` and the check every command makes: only named operators with the role a
command needs run it; every refusal and every read of customer data is in the audit trail.

CliRunner runs the commands in this process, as root (uid 0): an operator is named as sudo
names them, by `SUDO_USER`. While no admin is appointed, root acts as one (the bootstrap), which
is how the other tests of `ot-admin` run."""

from __future__ import annotations

import json
import os
import pwd
from typing import Any

import pytest

from ot.admin.permissions import PERMISSIONS
from ot.security.operators import os_user
from tests import support, test_admin_cli
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_audit_admin import command_names, entries
from tests.test_billing import _put

database = test_admin_cli.database  # a fresh database per backend
ROOT = pwd.getpwuid(os.getuid()).pw_name


def trail(database: AdminDatabase) -> list[dict[str, Any]]:
    """The audit entries, their details decoded (SQLite's JSON column reads back as text)."""
    return [
        {**entry, "details": json.loads(d) if isinstance(d := entry["details"], str) else d}
        for entry in entries(database)
    ]


def as_operator(database: AdminDatabase, login: str, command_line: str) -> Any:
    return database.invoke(command_line, SUDO_USER=login)


@pytest.fixture
def appointed(database: AdminDatabase) -> AdminDatabase:
    """alice an admin (appointed by root, the bootstrap), bob legal, carol billing."""
    ok(database.invoke("operators add alice --role admin"))
    ok(as_operator(database, "alice", "operators add bob --role legal"))
    ok(as_operator(database, "alice", "operators add carol --role billing"))
    return database


def test_every_command_says_which_roles_may_run_it() -> None:
    assert set(PERMISSIONS) == command_names()


def test_before_any_admin_root_acts_as_one_and_appoints_the_first(
    database: AdminDatabase,
) -> None:
    result = database.invoke("operators list")
    assert result.exit_code == 0 and result.stdout.splitlines()[1:] == []
    assert "no operators appointed" in result.stderr
    ok(database.invoke("accounts create Ada"))  # root, acting as admin

    first = refused(database.invoke("operators add bob --role legal"), 2)
    assert "the first operator must be an admin" in first
    assert "alice appointed admin" in ok(database.invoke("operators add alice --role admin"))

    listed = json.loads(ok(as_operator(database, "alice", "operators list --json")))
    assert [(row["login"], row["role"], row["appointed_by"]) for row in listed] == [
        ("alice", "admin", ROOT)
    ]
    added = [e for e in trail(database) if e["action"] == "operator.added"]
    assert added[-1]["actor"] == f"operator:{ROOT}"
    assert added[-1]["details"] == {"login": "alice", "role": "admin", "bootstrap": True}


def test_once_an_admin_is_appointed_root_is_refused_like_anyone_unnamed(
    appointed: AdminDatabase,
) -> None:
    before = appointed.snapshot()
    line = refused(appointed.invoke("accounts create Ada"), 2)
    assert line == (
        f"error: {ROOT} is not an operator: an admin appoints operators with "
        f"`ot-admin operators add {ROOT} --role ROLE` (`ot-admin accounts create` refused)"
    )
    line = refused(as_operator(appointed, "mallory", "sites list"), 2)
    assert "mallory is not an operator" in line

    after = appointed.snapshot()
    added = after.pop("audit_entry")[len(before["audit_entry"]) :]
    before.pop("audit_entry")
    assert after == before, "a refused command changed something"
    assert [(e["actor"], e["action"]) for e in added] == [
        (f"operator:{ROOT}", "operator.refused"),
        ("operator:mallory", "operator.refused"),
    ]
    assert [e["details"] for e in trail(appointed)[-2:]] == [
        {"act": "accounts create"},
        {"act": "sites list"},
    ]


def test_a_groups_singular_name_still_runs_it_under_its_own_name_and_roles(
    appointed: AdminDatabase,
) -> None:
    """`account`, `site`, `token` and `goal` were the groups' names: operators' scripts keep
    working, checked and recorded as the plural command they run."""
    refused(as_operator(appointed, "carol", "account create Ada"), 2)
    assert trail(appointed)[-1]["details"] == {"act": "accounts create", "needed_role": "admin"}
    ok(as_operator(appointed, "alice", "account create Ada"))
    assert "Ada" in ok(as_operator(appointed, "alice", "account list"))
    assert trail(appointed)[-1]["details"]["command"] == "accounts list"
    listed = ok(appointed.invoke("--help")).split("Commands:", 1)[1].split()
    assert {"accounts", "sites", "tokens", "goals"} <= set(listed)
    assert not {"account", "site", "token", "goal"} & set(listed)


def test_a_command_needs_one_of_its_roles(appointed: AdminDatabase) -> None:
    line = refused(as_operator(appointed, "bob", "accounts create Ada"), 2)
    assert line == (
        "error: bob may not run `ot-admin accounts create`: that needs the admin role "
        "(bob holds: legal)"
    )
    refusal = trail(appointed)[-1]
    assert refusal["action"] == "operator.refused" and refusal["actor"] == "operator:bob"
    assert refusal["details"] == {"act": "accounts create", "needed_role": "admin"}

    # Finding the account concerned is every role's casework; the statistics are not.
    ok(as_operator(appointed, "alice", "accounts create Ada"))
    assert "Ada" in ok(as_operator(appointed, "carol", "accounts list"))
    assert "Ada" in ok(as_operator(appointed, "bob", "accounts list"))
    line = refused(as_operator(appointed, "carol", "sites list"), 2)
    assert "needs the admin role (carol holds: billing)" in line
    # Anyone appointed may check the trail's integrity.
    assert ok(as_operator(appointed, "carol", "audit verify")).strip().endswith("intact")


READ_COMMANDS = {
    "accounts list": "accounts list",
    "audit show": "audit show --limit 5",
    "goals list": "goals list example.com",
    "sites list": "sites list",
    "sites summary": "sites summary example.com",
    "stats query": "stats query example.com --metrics visitors",
    "tokens list": "tokens list --account {account}",
    "accounts search": "accounts search --email owner@example.org",
    "accounts show": "accounts show {account}",
    "billing invoices": "billing invoices",
    "billing overdue": "billing overdue",
    "billing usage": "billing usage {account}",
}
# Reads that need more set up, checked where that is: an invoice to show.
READS_CHECKED_ELSEWHERE = {"billing show": "tests/test_billing_cli.py"}


def test_every_command_that_shows_customer_data_is_listed_here() -> None:
    reading = {name for name, rule in PERMISSIONS.items() if rule.reads_customer_data}
    assert reading == set(READ_COMMANDS) | set(READS_CHECKED_ELSEWHERE)


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_showing_customer_data_writes_who_read_what(database: AdminDatabase, command: str) -> None:
    created = ok(database.invoke("accounts create Ada"))
    account = created.split()[1]
    ok(database.invoke(f"sites add --account {account} example.com"))
    ok(database.invoke("operators add alice --role admin"))
    ok(as_operator(database, "alice", "operators add alice --role billing"))
    support.run_sync(_put(database.settings, int(account), email="owner@example.org"))

    ok(as_operator(database, "alice", READ_COMMANDS[command].format(account=account)))
    read = trail(database)[-1]
    assert (read["actor"], read["action"]) == ("operator:alice", "operator.read")
    assert read["details"]["command"] == command
    if command == "tokens list":
        assert read["details"]["arguments"] == {"account": account}


def test_removing_an_operator_ends_their_roles_and_keeps_the_history(
    appointed: AdminDatabase,
) -> None:
    assert "bob no longer holds: legal" in ok(
        as_operator(appointed, "alice", "operators remove bob")
    )
    assert "bob is not an operator" in refused(as_operator(appointed, "bob", "accounts list"), 2)
    rows = json.loads(ok(as_operator(appointed, "alice", "operators list --all --json")))
    bob = [row for row in rows if row["login"] == "bob"]
    assert bob[0]["ended_by"] == "alice" and bob[0]["ended_at"]
    current = ok(as_operator(appointed, "alice", "operators list")).splitlines()
    assert current[0].split("\t") == [
        "login",
        "role",
        "appointed_by",
        "appointed_at",
        "ended_by",
        "ended_at",
    ]
    assert sorted(line.split("\t")[0] for line in current[1:]) == ["alice", "carol"]


def test_operators_bad_input_is_refused_in_words(appointed: AdminDatabase) -> None:
    before = appointed.snapshot()
    cases = {
        "operators add dave --role auditor": 'unknown role "auditor": the roles are admin, '
        "billing, legal",
        "operators add Dave! --role legal": '"Dave!" is not a plausible login',
        "operators add bob --role legal": "bob already holds the legal role",
        "operators remove dave": "dave is not an operator",
        "operators remove alice": "alice is the last admin",
    }
    for command_line, expected in cases.items():
        assert expected in refused(as_operator(appointed, "alice", command_line), 2)
    assert refused(as_operator(appointed, "bob", "operators add dave --role legal"), 2) == (
        "error: bob may not run `ot-admin operators add`: that needs the admin role "
        "(bob holds: legal)"
    )
    after = appointed.snapshot()
    added = after.pop("audit_entry")[len(before["audit_entry"]) :]
    before.pop("audit_entry")
    assert after == before
    assert [e["action"] for e in added] == ["operator.refused"]  # bob, who is no admin


def test_behind_sudo_to_the_service_user_the_operator_is_the_one_sudo_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Operators run `sudo -u opentracker ot-admin ...`: the data folder's owner holds the keys
    already, so the name sudo gives is believed; anyone else is named by their own login."""
    monkeypatch.setattr(os, "geteuid", lambda: 1234)
    named = os_user({"SUDO_USER": "alice"}, owner_uid=1234)
    assert (named.login, named.owns_installation, named.may_bootstrap) == ("alice", True, True)
    stranger = os_user({"SUDO_USER": "alice"}, owner_uid=999)
    assert stranger.login != "alice" and not stranger.may_bootstrap


def test_the_installations_own_user_migrates_before_each_start_unappointed(
    appointed: AdminDatabase,
) -> None:
    """The systemd unit runs `ot-admin db upgrade --create` as the service's user (who owns the
    data folder: here this process) before each start: that alone it may do unappointed."""
    ok(appointed.invoke("db upgrade", SUDO_USER=None))
    assert f"{ROOT} is not an operator" in refused(appointed.invoke("db status", SUDO_USER=None))
    assert "mallory is not an operator" in refused(as_operator(appointed, "mallory", "db upgrade"))
