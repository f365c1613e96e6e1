"""API keys (`ot.accounts.api_keys`, `/ot/v1/keys`, `ot-admin tokens create --scope`): made by a
logged-in session, shown once, stored as hashes, limited to their scopes and to what their creator
may do, revoked at once, and their last use recorded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from ot import paths
from ot.admin.cli import app as admin_app
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.models import MemberRole, Site
from ot.server.app_keys import WRITE_ENGINE
from tests import support
from tests.stats_support import token_for
from tests.support import NOT_SETUP, bearer, error_of, eventually, logged_in, rows
from tests.team_support import add_member, new_account


async def make_key(
    client: TestClient, token: str, scopes: list[str], name: str = "ci"
) -> dict[str, Any]:
    response = await client.post(
        "/ot/v1/keys", json={"name": name, "scopes": scopes}, headers=bearer(token)
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def keys_in_database(settings: Settings) -> list[dict[str, Any]]:
    return await rows(settings, "SELECT * FROM api_token ORDER BY id")


async def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["stats:read", "sites:read"])
    plaintext = created["key"]
    assert plaintext.startswith("ot_") and created["scopes"] == ["sites:read", "stats:read"]
    [row] = await keys_in_database(settings)
    assert row["token_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in str(row)
    listing = await client.get("/ot/v1/keys", headers=bearer(started.token))
    [listed] = (await listing.json())["keys"]
    assert "key" not in listed and plaintext not in await listing.text()
    assert listed["prefix"] == plaintext[:10] and listed["last_used_at"] is None


async def test_a_key_acts_within_its_scopes(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    key = (await make_key(client, started.token, ["sites:read"]))["key"]
    assert (await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(key))).status == 200
    refused = await client.patch(
        f"/ot/v1/sites/{site.id}", json={"timezone": "Europe/Paris"}, headers=bearer(key)
    )
    assert "sites:write" in (await error_of(refused, 403))["message"]
    [row] = await rows(settings, "SELECT timezone FROM site")
    assert row["timezone"] == "UTC"


async def test_the_stats_api_needs_the_stats_read_scope(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    key = (await make_key(client, started.token, ["sites:read"]))["key"]
    query = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}
    refused = await client.post("/api/v2/query", json=query, headers=bearer(key))
    assert refused.status == 403 and "stats:read" in (await refused.json())["error"]
    reader = (await make_key(client, started.token, ["stats:read"]))["key"]
    assert (await client.post("/api/v2/query", json=query, headers=bearer(reader))).status == 200


async def test_a_revoked_key_is_refused_at_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["sites:read"])
    assert (await client.get("/ot/v1/sites", headers=bearer(created["key"]))).status == 200
    response = await client.delete(f"/ot/v1/keys/{created['id']}", headers=bearer(started.token))
    assert (await response.json()) == {"revoked": 1}
    refused = await client.get("/ot/v1/sites", headers=bearer(created["key"]))
    assert "revoked" in (await error_of(refused, 401))["message"]
    [listed] = (await (await client.get("/ot/v1/keys", headers=bearer(started.token))).json())[
        "keys"
    ]
    assert listed["revoked_at"] is not None
    again = await client.delete(f"/ot/v1/keys/{created['id']}", headers=bearer(started.token))
    assert (await error_of(again, 404))["field"] == "key_id"


async def test_only_a_logged_in_session_manages_keys(
    client: TestClient, settings: Settings, site: Site
) -> None:
    key = await token_for(settings, site.account_id, scopes=("account:write", "account:read"))
    for method, path, body in [
        ("GET", "/ot/v1/keys", None),
        ("POST", "/ot/v1/keys", {"name": "x", "scopes": ["stats:read"]}),
        ("DELETE", "/ot/v1/keys/1", None),
    ]:
        response = await client.request(method, path, json=body, headers=bearer(key))
        assert (await error_of(response, 403))["code"] == "forbidden"
    assert len(await keys_in_database(settings)) == 1


async def test_the_last_use_of_a_key_is_recorded_at_most_once_a_minute(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["sites:read"])
    await client.get("/ot/v1/sites", headers=bearer(created["key"]))
    [first] = await rows(settings, "SELECT last_used_at FROM api_token")
    assert first["last_used_at"] is not None
    await client.get("/ot/v1/sites", headers=bearer(created["key"]))
    [second] = await rows(settings, "SELECT last_used_at FROM api_token")
    assert second["last_used_at"] == first["last_used_at"]
    await support_set_last_used(settings, utcnow() - timedelta(hours=1))
    [stale] = await rows(settings, "SELECT last_used_at FROM api_token")
    await client.get("/ot/v1/sites", headers=bearer(created["key"]))
    [third] = await rows(settings, "SELECT last_used_at FROM api_token")
    assert third["last_used_at"] != stale["last_used_at"]


async def support_set_last_used(settings: Settings, moment: Any) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE api_token SET last_used_at = :m"), {"m": moment})
    finally:
        await engine.dispose()


async def test_bad_key_requests_are_refused_by_name_and_store_nothing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    cases: list[tuple[Any, str]] = [
        ({"name": "x", "scopes": ["stats:write"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x"}, "scopes"),
        ({"name": "   ", "scopes": ["stats:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["stats:read"]}, "name"),
        ({"name": 7, "scopes": ["stats:read"]}, "name"),
        ({"name": "x", "scopes": "stats:read"}, "scopes"),
        ({"name": "x", "scopes": ["stats:read"], "admin": True}, "admin"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        response = await client.post("/ot/v1/keys", json=body, headers=bearer(started.token))
        assert (await error_of(response, 400))["field"] == field, body
    assert await keys_in_database(settings) == []


async def test_another_accounts_key_cannot_be_revoked_and_answers_as_missing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    victim = await logged_in(settings, site.account_id)
    key = await make_key(client, victim.token, ["stats:read"])
    stranger = await logged_in(settings, await new_account(settings))
    response = await client.delete(f"/ot/v1/keys/{key['id']}", headers=bearer(stranger.token))
    missing = await client.delete("/ot/v1/keys/999999", headers=bearer(stranger.token))
    assert (await error_of(response, 404))["message"].replace(str(key["id"]), "N") == (
        await error_of(missing, 404)
    )["message"].replace("999999", "N")
    huge = await client.delete(f"/ot/v1/keys/{10**15}", headers=bearer(stranger.token))
    assert (await error_of(huge, 404))["field"] == "key_id"
    malformed = await client.delete("/ot/v1/keys/abc", headers=bearer(stranger.token))
    assert (await error_of(malformed, 400))["field"] == "key_id"
    [row] = await keys_in_database(settings)
    assert row["revoked_at"] is None


async def test_making_and_revoking_keys_is_audited(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["stats:read"])
    await client.delete(f"/ot/v1/keys/{created['id']}", headers=bearer(started.token))
    entries = await rows(
        settings, f"SELECT action, account_id, details FROM audit_entry WHERE {NOT_SETUP}"
    )
    assert [(e["action"], e["account_id"]) for e in entries] == [
        ("key.created", site.account_id),
        ("key.revoked", site.account_id),
    ]
    assert created["key"] not in str(entries)


async def test_a_team_members_key_acts_within_the_members_role(
    client: TestClient, settings: Settings, site: Site
) -> None:
    member_account = await new_account(settings)
    await add_member(settings, site.account_id, member_account, MemberRole.VIEWER)
    member = await logged_in(settings, member_account)
    key = (await make_key(client, member.token, ["sites:read", "sites:write"]))["key"]
    assert (await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(key))).status == 200
    refused = await client.patch(
        f"/ot/v1/sites/{site.id}", json={"timezone": "Europe/Paris"}, headers=bearer(key)
    )
    await error_of(refused, 403)
    removal = await client.delete(f"/ot/v1/sites/{site.id}", headers=bearer(key))
    await error_of(removal, 403)
    assert len(await rows(settings, "SELECT id FROM site")) == 1


async def test_matomo_token_auth_needs_the_sites_write_scope(
    client: TestClient, settings: Settings, site: Site
) -> None:
    reader = await token_for(settings, site.account_id, scopes=("stats:read",))
    writer = await token_for(settings, site.account_id, scopes=("sites:write",))
    hit = f"/matomo.php?idsite={site.id}&rec=1&url=https://shop.example/&cip=198.51.100.4"
    refused = await client.get(f"{hit}&token_auth={reader}")
    assert (await error_of(refused, 400))["field"] == "token_auth"
    accepted = await client.get(f"{hit}&token_auth={writer}")
    assert accepted.status in (200, 204), await accepted.text()


def test_ot_admin_token_create_takes_scopes(settings: Settings, site: Site) -> None:
    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}

    def invoke(command_line: str) -> Any:
        return CliRunner().invoke(admin_app, shlex.split(command_line), env=environment)

    default = invoke(f"tokens create --account {site.account_id}")
    scoped = invoke(
        f"tokens create --account {site.account_id} --scope sites:read --scope sites:write"
    )
    unknown = invoke(f"tokens create --account {site.account_id} --scope sites:delete")
    assert default.exit_code == 0 and scoped.exit_code == 0, default.output + scoped.output
    assert unknown.exit_code != 0 and "unknown scope 'sites:delete'" in unknown.output
    found = support.run_sync(rows(settings, "SELECT scopes FROM api_token ORDER BY id"))
    assert [sorted(_json_list(r["scopes"])) for r in found] == [
        ["stats:read"],
        ["sites:read", "sites:write"],
    ]


def _json_list(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value)


@contextmanager
def write_lock_held(settings: Settings) -> Iterator[sqlite3.Connection]:
    """SQLite's one write lock, taken by another connection (as the collector's commits take it)
    until the block ends."""
    holder = sqlite3.connect(paths.sqlite_path(settings.data_dir), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield holder
        holder.execute("COMMIT")
    finally:
        holder.close()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_key_is_let_in_while_another_connection_holds_the_write_lock(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["sites:read"])
    await client.get("/ot/v1/sites", headers=bearer(created["key"]))  # its use noted just now
    with write_lock_held(settings):
        response = await client.get("/ot/v1/sites", headers=bearer(created["key"]))
        assert response.status == 200, await response.text()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_keys_use_due_while_the_write_lock_is_held_is_noted_once_it_is_free(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    created = await make_key(client, started.token, ["sites:read"])
    await support_set_last_used(settings, utcnow() - timedelta(hours=1))
    [stale] = await rows(settings, "SELECT last_used_at FROM api_token")
    write_engine = client.server.app[WRITE_ENGINE]
    with write_lock_held(settings):
        request = asyncio.create_task(client.get("/ot/v1/sites", headers=bearer(created["key"])))

        async def waiting_for_the_lock() -> bool:
            return write_engine.pool.checkedout() == 1

        await eventually(waiting_for_the_lock, "the request waiting for the write lock")
        assert not request.done()
    response = await request
    assert response.status == 200, await response.text()
    [noted] = await rows(settings, "SELECT last_used_at FROM api_token")
    assert noted["last_used_at"] != stale["last_used_at"]
