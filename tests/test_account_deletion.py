"""Deleting an account (`POST /ot/v1/account/deletion`): every session and key ends at once,
the owner may log in again and cancel during the grace period, and afterwards the purge deletes
hits, visits, rollups, goals, sites, keys, sessions, memberships and personal data, leaving a
tombstone and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.passwords import hash_password
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.models import Account, MemberRole, Membership, Site
from ot.rights.account_deletion import purge_due_accounts, request_deletion
from ot.security.audit import Actor, verify_chain
from tests import support
from tests.generated_hits import Engines, roll
from tests.rights_support import ALICE, BOB, admin, audit_actions, count, visit
from tests.stats_support import goal, token_for
from tests.support import bearer, error_of, logged_in

PASSWORD = "correct horse battery staple"
CONFIRM = {"confirm": True, "password": PASSWORD}


@pytest.fixture(autouse=True)
async def owner_password(settings: Settings, site: Site) -> None:
    """The site's owner has a password: deletion asks for it again."""
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            account = await session.get(Account, site.account_id)
            assert account is not None
            account.password_hash = hash_password(PASSWORD, settings.accounts)
            session.add(account)
            await session.commit()
    finally:
        await engine.dispose()


async def _member_of(settings: Settings, team_id: int, member_id: int) -> None:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            session.add(
                Membership(
                    account_id=team_id,
                    member_account_id=member_id,
                    role=MemberRole.VIEWER,
                    created_at=utcnow(),
                )
            )
            await session.commit()
    finally:
        await engine.dispose()


async def _purge(settings: Settings, days_later: int) -> list[int]:
    engine = create_engine(settings, for_writes=True)
    try:
        return await purge_due_accounts(
            engine, utcnow() + timedelta(days=days_later), settings.rights.batch_size
        )
    finally:
        await engine.dispose()


async def test_deleting_the_account_ends_every_session_and_key_at_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    other_session = await logged_in(settings, site.account_id)
    key = await token_for(settings, site.account_id)

    response = await client.post(
        "/ot/v1/account/deletion", json=CONFIRM, headers=bearer(started.token)
    )

    assert response.status == 202, await response.text()
    body = await response.json()
    assert body["scheduled"] is True
    for token in (started.token, other_session.token, key):
        answer = await client.get("/ot/v1/sessions", headers=bearer(token))
        assert answer.status in (401, 403)
    assert (await client.post("/api/v2/query", json={}, headers=bearer(key))).status == 401
    actions = [e["action"] for e in await audit_actions(settings)]
    assert "account.deletion_requested" in actions


async def test_the_purge_waits_for_the_grace_period(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await visit(client, settings, site, ALICE, utcnow() - timedelta(minutes=5))
    started = await logged_in(settings, site.account_id)
    await client.post("/ot/v1/account/deletion", json=CONFIRM, headers=bearer(started.token))

    assert await _purge(settings, days_later=settings.rights.deletion_grace_days - 1) == []

    assert await count(settings, "hit", site_id=site.id) == 1


async def test_a_deletion_can_be_cancelled_during_the_grace_period(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    await client.post("/ot/v1/account/deletion", json=CONFIRM, headers=bearer(started.token))
    again = await logged_in(settings, site.account_id)  # the owner logs in again

    status = await client.get("/ot/v1/account/deletion", headers=bearer(again.token))
    assert (await status.json())["scheduled"] is True
    response = await client.delete("/ot/v1/account/deletion", headers=bearer(again.token))

    assert response.status == 200, await response.text()
    assert (await response.json())["scheduled"] is False
    assert await _purge(settings, days_later=365) == []
    assert await count(settings, "site", id=site.id) == 1
    assert "account.deletion_cancelled" in [e["action"] for e in await audit_actions(settings)]


async def test_cancelling_when_nothing_is_scheduled_is_not_found(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)

    response = await client.delete("/ot/v1/account/deletion", headers=bearer(started.token))

    assert (await error_of(response, 404))["field"] == "account"


async def test_after_the_grace_period_hits_and_personal_data_are_purged(
    client: TestClient, settings: Settings, site: Site, engines: Engines
) -> None:
    now = utcnow()
    await visit(client, settings, site, ALICE, now - timedelta(days=2), now - timedelta(hours=1))
    await goal(settings, site, page="/pricing")
    await roll(engines, now)
    other = await support.make_site(settings, "other.example")
    await visit(client, settings, other, BOB, now - timedelta(hours=1))
    await _member_of(settings, other.account_id, site.account_id)
    await _member_of(settings, site.account_id, other.account_id)
    started = await logged_in(settings, site.account_id)
    await client.post("/ot/v1/account/deletion", json=CONFIRM, headers=bearer(started.token))

    purged = await _purge(settings, days_later=settings.rights.deletion_grace_days + 1)

    assert purged == [site.account_id]
    for table in ("hit", "visit", "rollup_day", "rollup_bitmap", "goal", "visitor_ordinal"):
        assert await count(settings, table, site_id=site.id) == 0, table
    assert await count(settings, "site", account_id=site.account_id) == 0
    assert await count(settings, "api_token", account_id=site.account_id) == 0
    assert await count(settings, "login_session", account_id=site.account_id) == 0
    assert await count(settings, "membership", account_id=site.account_id) == 0
    assert await count(settings, "membership", member_account_id=site.account_id) == 0
    [tombstone] = await support.rows(
        settings, "SELECT * FROM account WHERE id = :id", id=site.account_id
    )
    assert tombstone["name_encrypted"] == ""
    # The other tenant keeps everything.
    assert await count(settings, "hit", site_id=other.id) == 1
    assert await count(settings, "site", account_id=other.account_id) == 1


async def test_the_audit_trail_outlives_the_purge_and_still_verifies(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    await client.post("/ot/v1/account/deletion", json=CONFIRM, headers=bearer(started.token))

    await _purge(settings, days_later=settings.rights.deletion_grace_days + 1)

    actions = [e["action"] for e in await audit_actions(settings)]
    assert actions[-2:] == ["account.deletion_requested", "account.purged"]
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            assert (await verify_chain(session)).intact
    finally:
        await engine.dispose()


async def test_deletion_needs_an_express_confirmation(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)

    for body in (
        {"confirm": False, "password": PASSWORD},
        {"password": PASSWORD},
        {"confirm": "yes please", "password": PASSWORD},
    ):
        response = await client.post(
            "/ot/v1/account/deletion", json=body, headers=bearer(started.token)
        )
        assert (await error_of(response, 400))["field"] == "confirm"

    assert await count(settings, "account_deletion") == 0
    assert (await client.get("/ot/v1/sessions", headers=bearer(started.token))).status == 200


async def test_deletion_cannot_be_asked_twice(
    client: TestClient, settings: Settings, site: Site
) -> None:
    first = await logged_in(settings, site.account_id)
    await client.post("/ot/v1/account/deletion", json=CONFIRM, headers=bearer(first.token))
    second = await logged_in(settings, site.account_id)

    response = await client.post(
        "/ot/v1/account/deletion", json=CONFIRM, headers=bearer(second.token)
    )

    await error_of(response, 409)
    assert (await client.get("/ot/v1/sessions", headers=bearer(second.token))).status == 200


@pytest.mark.parametrize("path", ["/ot/v1/account/deletion"])
async def test_an_api_key_cannot_delete_the_account(
    client: TestClient, settings: Settings, site: Site, path: str
) -> None:
    key = await token_for(settings, site.account_id)

    response = await client.post(path, json=CONFIRM, headers=bearer(key))

    await error_of(response, 403)
    assert await count(settings, "account_deletion") == 0


async def test_ot_admin_retention_run_purges_accounts_past_their_grace_period(
    settings: Settings, site: Site
) -> None:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            await request_deletion(
                session, site.account_id, now=utcnow(), grace_days=0, actor=Actor.account(1)
            )
            await session.commit()
    finally:
        await engine.dispose()

    result = await admin(settings, "retention run")

    assert result.exit_code == 0, result.output
    assert "purged 1 deleted account\n" in result.stdout
    assert await count(settings, "site", account_id=site.account_id) == 0


async def test_deletion_needs_the_password_entered_again(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    for body in ({"confirm": True, "password": "not it"}, {"confirm": True}):
        response = await client.post(
            "/ot/v1/account/deletion", json=body, headers=bearer(started.token)
        )
        assert (await error_of(response, 403 if "password" in body else 400))["field"] == (
            "password"
        )
    assert await count(settings, "account_deletion") == 0
    assert (await client.get("/ot/v1/sessions", headers=bearer(started.token))).status == 200
    assert "account.deletion_refused" in [
        entry["action"] for entry in await audit_actions(settings)
    ]
