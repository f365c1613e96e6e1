"""`ot-admin tokens revoke`: a token named by id or by name within its account stops working at
once, through the core's revocation (the API's), with an audit entry naming the operator."""

from __future__ import annotations

import json

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import find_token
from tests import support, test_admin_cli
from tests.test_admin_cli import AdminDatabase, _json, ok, refused

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id


def make_token(database: AdminDatabase, account_id: int, name: str) -> tuple[int, str]:
    created = json.loads(
        ok(database.invoke(f"tokens create --account {account_id} --name {name} --json"))
    )
    return created["id"], created["token"]


def still_works(database: AdminDatabase, plaintext: str) -> bool:
    async def look_up() -> bool:
        async with (
            support.helper_engine(database.settings) as engine,
            AsyncSession(engine) as session,
        ):
            return await find_token(session, plaintext) is not None

    return bool(support.run_sync(look_up()))


def test_a_token_revoked_by_name_stops_working_and_the_other_stays(
    database: AdminDatabase, account_id: int
) -> None:
    ci_id, ci = make_token(database, account_id, "ci")
    _, laptop = make_token(database, account_id, "laptop")

    output = ok(database.invoke(f"tokens revoke --account {account_id} ci", SUDO_USER="alice"))

    assert output.startswith(f"token {ci_id} (ci, ") and output.endswith(" revoked\n")
    assert not still_works(database, ci)
    assert still_works(database, laptop)
    listed = json.loads(ok(database.invoke(f"tokens list --account {account_id} --json")))
    assert [(token["name"], token["state"]) for token in listed] == [
        ("ci", "revoked"),
        ("laptop", "active"),
    ]
    [entry] = database.rows("SELECT * FROM audit_entry WHERE action = 'key.revoked'")
    assert entry["actor"] == "operator:alice"
    assert entry["account_id"] == account_id
    assert _json(entry["details"]) == {"key_id": ci_id}


def test_a_token_revoked_by_id_as_json(database: AdminDatabase, account_id: int) -> None:
    token_id, plaintext = make_token(database, account_id, "ci")
    revoked = json.loads(
        ok(database.invoke(f"tokens revoke --account {account_id} {token_id} --json"))
    )
    assert revoked["id"] == token_id and revoked["state"] == "revoked"
    assert plaintext not in json.dumps(revoked)
    assert not still_works(database, plaintext)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("nope", "has no token 'nope'"),
        ("999", "has no token '999'"),
        ("twice", "has 2 live tokens named 'twice'"),
        ("gone", "token 'gone' is already revoked"),
    ],
)
def test_revoking_a_token_that_is_not_one_live_token_of_the_account_is_refused(
    database: AdminDatabase, account_id: int, which: str, expected: str
) -> None:
    make_token(database, account_id, "twice")
    make_token(database, account_id, "twice")
    make_token(database, account_id, "gone")
    ok(database.invoke(f"tokens revoke --account {account_id} gone"))
    before = database.snapshot()

    line = refused(database.invoke(f"tokens revoke --account {account_id} {which}"), exit_code=2)

    assert expected in line
    assert database.snapshot() == before


def test_a_token_of_another_account_cannot_be_revoked_through_this_one(
    database: AdminDatabase, account_id: int
) -> None:
    other = json.loads(ok(database.invoke("accounts create 'Other Ltd' --json")))["id"]
    token_id, plaintext = make_token(database, other, "ci")
    before = database.snapshot()

    line = refused(database.invoke(f"tokens revoke --account {account_id} {token_id}"), exit_code=2)

    assert f"account {account_id} has no token '{token_id}'" in line
    assert database.snapshot() == before
    assert still_works(database, plaintext)


def test_revoking_in_an_unknown_account_is_refused(database: AdminDatabase) -> None:
    line = refused(database.invoke("tokens revoke --account 999 ci"), exit_code=2)
    assert "account 999 does not exist" in line
