"""Operators find, read, suspend and delete accounts (`ot-admin accounts search|show|suspend|
unsuspend|delete`). A suspended account is reachable through no door — log-in, sessions, API
keys, grants, SSH — while its sites are still counted; lifting it opens them again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.accounts.ssh_keys import key_of
from ot.accounts.suspension import suspend_account, unsuspend_account
from ot.clock import utcnow
from ot.config import Settings
from ot.db import transaction
from ot.models import MemberRole, Site
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from tests import account_support, support, test_admin_cli
from tests.account_support import EMAIL, PASSWORD, registered
from tests.stats_support import token_for
from tests.support import TEST_OPERATOR, bearer, error_of, helper_engine, logged_in
from tests.team_support import add_member, new_account
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_admin_operators import trail
from tests.test_billing import _put
from tests.test_route_access import _grant
from tests.test_ssh_access import _register
from tests.test_ssh_keys import public_line

database = test_admin_cli.database  # a fresh database per backend
QUERY = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}


async def _suspend(settings: Settings, account_id: int) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        await suspend_account(
            session, Cipher(load_secrets_of(settings)), account_id, "abuse report 117",
            by="alice", now=utcnow(), actor=TEST_OPERATOR,
        )  # fmt: skip


async def _lift(settings: Settings, account_id: int) -> None:
    async with helper_engine(settings) as engine, transaction(engine) as session:
        await unsuspend_account(session, account_id, actor=TEST_OPERATOR)


async def test_a_suspended_account_is_reachable_through_no_door_and_still_counted(
    client: TestClient, settings: Settings, site: Site
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    started = await logged_in(settings, site.account_id)
    key = await token_for(settings, site.account_id)
    grant = await _grant(settings, site)
    key_line = public_line(ed25519.Ed25519PrivateKey.generate())
    await _register(settings, site.account_id, key_line)
    await _suspend(settings, site.account_id)

    refusal = await error_of(await client.get("/ot/v1/sites", headers=bearer(started.token)), 403)
    assert refusal["code"] == "account_suspended"
    assert "this account is suspended" in refusal["message"]
    by_key = await client.post("/api/v2/query", json=QUERY, headers=bearer(key))
    assert by_key.status == 403 and "suspended" in (await by_key.json())["error"]
    shared = await client.post("/ot/v1/shared/query", json=QUERY, headers=bearer(grant.key))
    assert shared.status == 403
    async with helper_engine(settings) as engine, transaction(engine) as session:
        assert await key_of(session, *key_line.split()[:2]) is None
    collected = await client.post(
        "/api/event",
        json=support.event(),
        headers={"User-Agent": support.CHROME_USER_AGENT, "X-Forwarded-For": "203.0.113.9"},
    )
    assert collected.status == 202

    await _lift(settings, site.account_id)
    assert (await client.get("/ot/v1/sites", headers=bearer(started.token))).status == 200
    assert (await client.post("/api/v2/query", json=QUERY, headers=bearer(key))).status == 200


async def test_a_suspended_customer_cannot_log_in_and_is_told_why(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    await _suspend(settings, account_id)
    response = await account_support.log_in(client, EMAIL, PASSWORD)
    assert (await error_of(response, 403))["code"] == "account_suspended"
    assert "login.refused" in await account_support.audit_actions(settings, account_id)


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def customer(database: AdminDatabase) -> AdminDatabase:
    """Account 1, Test Shop B.V., logging in as owner@shop.example, with shop.example."""
    ok(database.invoke("accounts create 'Test Shop B.V.'"))
    ok(database.invoke("sites add --account 1 shop.example"))
    support.run_sync(_put(database.settings, 1, email="owner@shop.example"))
    return database


def test_an_account_is_found_by_its_email_and_shown_whole(customer: AdminDatabase) -> None:
    found = json.loads(ok(customer.invoke("accounts search --email Owner@Shop.example --json")))
    assert found == [{"id": 1, "name": "Test Shop B.V."}]
    # The trail, which is not encrypted, says a search was made, never for which address.
    [read] = [e for e in trail(customer) if e["action"] == "operator.read"]
    assert read["details"]["arguments"] == {"email": "(withheld)"}
    assert not customer.contains("Owner@Shop.example")
    shown = json.loads(ok(customer.invoke("accounts show 1 --json")))
    assert (shown["name"], shown["email"], shown["plan"], shown["sites"]) == (
        "Test Shop B.V.", "owner@shop.example", "free", ["shop.example"],
    )  # fmt: skip
    assert shown["suspended"] is None and shown["deletion"] is None
    text = ok(customer.invoke("accounts show 1"))
    assert "email           owner@shop.example" in text


def test_suspending_shows_on_the_account_and_lifting_ends_it(customer: AdminDatabase) -> None:
    said = ok(customer.invoke("accounts suspend 1 --reason 'abuse report 117'"))
    assert "account 1 suspended" in said
    suspended: dict[str, Any] = json.loads(ok(customer.invoke("accounts show 1 --json")))[
        "suspended"
    ]
    assert suspended["reason"] == "abuse report 117" and suspended["by"]
    assert not customer.contains("abuse report 117"), "the reason is stored encrypted"
    ok(customer.invoke("accounts unsuspend 1"))
    assert json.loads(ok(customer.invoke("accounts show 1 --json")))["suspended"] is None


def test_deleting_schedules_the_purge_after_the_grace_period(customer: AdminDatabase) -> None:
    said = ok(customer.invoke("accounts delete 1 --yes"))
    assert said.startswith("account 1 is purged after ")
    deletion = json.loads(ok(customer.invoke("accounts show 1 --json")))["deletion"]
    assert deletion["purge_after"] and deletion["purged_at"] is None


BAD = {
    "accounts search --email nobody@example.org": "no account logs in with nobody@example.org",
    "accounts show 99": "account 99 does not exist",
    "accounts suspend 1 --reason ' '": "give the reason in 1 to 500 characters",
    "accounts suspend 99 --reason abuse": "account 99 does not exist",
    "accounts unsuspend 1": "account 1 is not suspended",
    "accounts delete 99 --yes": "account 99 does not exist",
}


@pytest.mark.parametrize("command_line", sorted(BAD))
def test_bad_account_commands_are_refused_in_words_and_change_nothing(
    customer: AdminDatabase, command_line: str
) -> None:
    before = customer.snapshot()
    assert BAD[command_line] in refused(customer.invoke(command_line), 2)
    after = customer.snapshot()
    assert {k: v for k, v in after.items() if k != "audit_entry"} == {
        k: v for k, v in before.items() if k != "audit_entry"
    }


def test_suspending_twice_is_refused(customer: AdminDatabase) -> None:
    ok(customer.invoke("accounts suspend 1 --reason abuse"))
    assert "is suspended already" in refused(customer.invoke("accounts suspend 1 --reason x"), 2)


async def test_a_suspended_accounts_sites_are_out_of_its_team_members_reach_too(
    client: TestClient, settings: Settings, site: Site
) -> None:
    member = await new_account(settings, "A Member")
    await add_member(settings, site.account_id, member, MemberRole.ADMIN)
    theirs = await logged_in(settings, member)
    listed = await client.get("/ot/v1/sites", headers=bearer(theirs.token))
    assert "shop.example" in await listed.text()
    await _suspend(settings, site.account_id)
    listed = await client.get("/ot/v1/sites", headers=bearer(theirs.token))
    assert listed.status == 200 and "shop.example" not in await listed.text()
    response = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(theirs.token))
    await error_of(response, 404)
    await _lift(settings, site.account_id)
    response = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(theirs.token))
    assert response.status == 200
