"""`--json` on `ot-admin`'s commands that print something: one JSON document on standard
output with stable keys, holding what the text says and no secret the text does not show."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from ot.schema import head_revision
from ot.security.secrets import load_secrets_of
from tests import test_admin_cli
from tests.test_admin_cli import ACCOUNT_NAME, AdminDatabase, ok, refused

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id


def as_json(database: AdminDatabase, command_line: str) -> Any:
    result = database.invoke(f"{command_line} --json")
    return json.loads(ok(result))  # the whole of stdout is one document


def test_account_create_and_list_as_json(database: AdminDatabase) -> None:
    created = as_json(database, "accounts create '  Jane Doe Consulting '")
    assert created == {"id": created["id"], "name": ACCOUNT_NAME}
    assert as_json(database, "accounts list") == [{"id": created["id"], "name": ACCOUNT_NAME}]


def test_account_list_as_json_is_an_empty_list_without_accounts(database: AdminDatabase) -> None:
    assert as_json(database, "accounts list") == []
    assert ok(database.invoke("accounts list")) == "id\tname\n"


def test_token_create_as_json_shows_the_token_once_and_list_shows_only_its_prefix(
    database: AdminDatabase, account_id: int
) -> None:
    result = database.invoke(f"tokens create --account {account_id} --name ci --json")
    created = json.loads(ok(result))
    assert "cannot be shown again" in result.stderr
    assert set(created) == {
        "id", "account_id", "name", "prefix", "scopes", "state", "created_at", "last_used_at",
        "token",
    }  # fmt: skip
    assert created["account_id"] == account_id
    assert created["name"] == "ci" and created["scopes"] == ["stats:read"]
    assert created["state"] == "active" and created["last_used_at"] is None
    assert re.fullmatch(r"ot_[A-Za-z0-9_-]{43}", created["token"])
    assert created["token"].startswith(created["prefix"])

    listing = as_json(database, f"tokens list --account {account_id}")
    listed = {key: value for key, value in created.items() if key not in ("token", "account_id")}
    assert listing == [listed]
    assert created["token"] not in json.dumps(listing)
    assert not database.contains(created["token"])


def test_site_add_as_json_gives_the_settings_and_the_snippet(
    database: AdminDatabase, account_id: int
) -> None:
    added = as_json(
        database,
        f"sites add --account {account_id} example.com --timezone Europe/Amsterdam"
        " --retention-days 400",
    )
    assert added["domain"] == "example.com" and added["account_id"] == account_id
    assert added["timezone"] == "Europe/Amsterdam" and added["retention_days"] == 400
    assert added["snippet"].strip() == ok(database.invoke("sites snippet example.com")).strip()
    [listed] = as_json(database, "sites list")
    assert {key: value for key, value in added.items() if key != "snippet"} == listed


def test_site_summary_as_json(database: AdminDatabase, account_id: int) -> None:
    ok(database.invoke(f"sites add --account {account_id} example.com"))
    summary = as_json(database, "sites summary example.com --period 7d")
    assert set(summary) == {
        "site", "period", "date_range", "visitors", "visits", "pageviews", "bounce_rate",
        "visit_duration", "events", "top_pages", "top_sources", "visitors_are_daily_sums",
    }  # fmt: skip
    assert summary["site"] == "example.com" and summary["period"] == "7d"
    assert summary["visitors"] == 0 and summary["top_pages"] == []


def test_keys_status_as_json_counts_the_values_of_each_key(
    database: AdminDatabase, account_id: int
) -> None:
    current = load_secrets_of(database.settings).current_key_id
    status = as_json(database, "keys status")
    assert status["keys"] == [{"key": current, "values": 1, "state": "current"}]
    assert status["unknown_key_values"] == 0
    assert status["by_column"]["account.name_encrypted"] == {current: 1}
    assert status["not_encrypted"] == {}
    material = load_secrets_of(database.settings).encryption_keys[current]
    printed = json.dumps(status)
    for encoded in (base64.b64encode(material), base64.urlsafe_b64encode(material)):
        assert encoded.decode().rstrip("=") not in printed, "never a key's material"


def test_audit_verify_as_json(database: AdminDatabase, account_id: int) -> None:
    report = as_json(database, "audit verify")
    assert report["intact"] is True


def test_db_status_as_json(database: AdminDatabase) -> None:
    assert as_json(database, "db status") == {
        "current": head_revision(),
        "expected": head_revision(),
        "up_to_date": True,
    }


@pytest.mark.parametrize(
    ("command_line", "expected"),
    [
        ("tokens create --account 999", "account 999 does not exist"),
        ("tokens list --account 999", "account 999 does not exist"),
        ("sites add --account 999 other.example", "account 999 does not exist"),
        ("sites summary nowhere.example", "nowhere.example"),
        ("accounts create ' '", "must not be blank"),
    ],
)
def test_a_refusal_under_json_is_one_error_line_and_nothing_on_stdout(
    database: AdminDatabase, command_line: str, expected: str
) -> None:
    before = database.snapshot()
    assert expected in refused(database.invoke(f"{command_line} --json"))
    assert database.snapshot() == before
