"""`ot-admin`'s exit codes, the same in every group: 0 done, 1 failed, 2 refused (invalid or
unknown input, with one `error:` line naming the problem and nothing changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_admin_cli
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_audit_admin import _execute

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id

# One refusal per group, each naming what is wrong.
REFUSALS = {
    "accounts create ' '": "must not be blank",
    "accounts export 999 --out {folder}/export.zip": "account 999 does not exist",
    "sites add --account 999 other.example": "account 999 does not exist",
    "sites update nowhere.example --timezone UTC": "site 'nowhere.example' does not exist",
    "sites remove example.com": "add --yes to confirm",
    "sites summary example.com --period fortnite": '--period: unknown period "fortnite"',
    "tokens create --account 999": "account 999 does not exist",
    "tokens revoke --account {account} nope": "has no token 'nope'",
    "goals add example.com": "either a page",
    "goals remove example.com Nope": "has no goal named 'Nope'",
    "stats query example.com --period last_week": "--period: unknown period",
    "erase example.com": "exactly one of --visitor-id, --client-id, --ip",
    "import-log example.com {folder}/access.log --format apache": "unknown log format 'apache'",
    "keys retire no-such-key": "there is no key no-such-key",
    "audit verify --expect-head 1234": "not a head",
}


@pytest.mark.parametrize("command_line", sorted(REFUSALS))
def test_a_refusal_exits_2_with_one_line_and_changes_nothing(
    database: AdminDatabase, account_id: int, tmp_path: Path, command_line: str
) -> None:
    ok(database.invoke(f"sites add --account {account_id} example.com"))
    before = database.snapshot()
    result = database.invoke(command_line.format(account=account_id, folder=tmp_path))
    assert REFUSALS[command_line] in refused(result, exit_code=2)
    assert database.snapshot() == before


@pytest.mark.parametrize("command_line", ["accounts list --colour", "sites add", "stats query"])
def test_a_command_line_click_cannot_read_exits_2(
    database: AdminDatabase, command_line: str
) -> None:
    result = database.invoke(command_line)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_a_failure_exits_1(database: AdminDatabase) -> None:
    """The trail does not verify: the command did its work and found a problem."""
    ok(database.invoke("accounts create One"))
    _execute(database, "UPDATE audit_entry SET action = 'x'")
    result = database.invoke("audit verify")
    assert result.exit_code == 1, result.output
