"""Grants never outlive the people and the account behind them (`ot.accounts.grant_suspension`): a
grant stops the moment the member it answers to leaves the team, is removed or may no longer
grant, and every grant and share link stops the moment the account asks to be deleted. Only an
owner of the team lets a suspended grant read again; every step is audited with its actor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.passwords import hash_password
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.models import Account, AccountDeletion, MemberRole, Site
from ot.rights.account_deletion import purge_due_accounts
from tests import support
from tests.grants_support import grant, read
from tests.support import NOT_SETUP, bearer, error_of, helper_engine, logged_in
from tests.team_support import add_member, new_account

BODY = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}
PASSWORD = "correct horse battery staple"


@dataclass
class Team:
    """shop.example's owner, and an admin of its team who granted a third party access."""

    site: Site
    owner_token: str
    member_id: int  # the admin's account
    membership_id: int
    member_token: str
    granted: dict[str, Any]  # the admin's grant, with its key and link


@pytest.fixture
async def team(settings: Settings, client: TestClient, site: Site) -> Team:
    member = await new_account(settings, "An Admin")
    membership = await add_member(settings, site.account_id, member, MemberRole.ADMIN)
    member_token = (await logged_in(settings, member)).token
    assert site.id is not None
    granted = await grant(client, member_token, [site.id], share_link=True)
    assert (await read(client, granted["key"], BODY)).status == 200
    owner_token = (await logged_in(settings, site.account_id)).token
    return Team(site, owner_token, member, membership, member_token, granted)


async def _reads(client: TestClient, granted: dict[str, Any]) -> list[int]:
    """What the grant's key and link answer now."""
    return [(await read(client, granted[name], BODY)).status for name in ("key", "link_token")]


async def _audit(settings: Settings) -> list[tuple[str, str, int | None]]:
    """(actor, action, grant id) of every grant entry of the audit trail."""
    entries = await support.rows(
        settings, f"SELECT actor, action, details FROM audit_entry WHERE {NOT_SETUP} ORDER BY id"
    )
    found = []
    for entry in entries:
        details = entry["details"]
        if isinstance(details, str):
            details = json.loads(details)
        if entry["action"] in ("grant.suspended", "grant.confirmed"):
            found.append((entry["actor"], entry["action"], details.get("grant_id")))
    return found


async def _grant_of(client: TestClient, token: str, grant_id: int) -> dict[str, Any]:
    response = await client.get(f"/ot/v1/grants/{grant_id}", headers=bearer(token))
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_a_removed_members_grant_reads_nothing_until_an_owner_confirms_it(
    settings: Settings, client: TestClient, team: Team
) -> None:
    grant_id = team.granted["id"]
    other_admin = await new_account(settings, "Another Admin")
    await add_member(settings, team.site.account_id, other_admin, MemberRole.ADMIN)
    removed = await client.delete(
        f"/ot/v1/team/members/{team.membership_id}", headers=bearer(team.owner_token)
    )
    assert removed.status == 200, await removed.text()
    # The key and the share link stop at once.
    assert await _reads(client, team.granted) == [401, 401]
    listed = await client.get("/ot/v1/grants?status=suspended", headers=bearer(team.owner_token))
    [suspended] = (await listed.json())["grants"]
    assert (suspended["id"], suspended["status"]) == (grant_id, "suspended")
    assert suspended["suspended_reason"] == "member_removed"
    assert suspended["created_by_account_id"] == team.member_id
    active = await client.get("/ot/v1/grants?status=active", headers=bearer(team.owner_token))
    assert (await active.json())["grants"] == []
    unknown = await client.get("/ot/v1/grants?status=paused", headers=bearer(team.owner_token))
    assert (await error_of(unknown, 400))["field"] == "status"
    # An admin may revoke it, but only an owner brings it back.
    admin_token = (await logged_in(settings, other_admin)).token
    confirm = f"/ot/v1/grants/{grant_id}/confirm"
    assert (await error_of(await client.post(confirm, headers=bearer(admin_token)), 403))[
        "field"
    ] == "grant_id"
    confirmed = await client.post(confirm, headers=bearer(team.owner_token))
    assert confirmed.status == 200, await confirmed.text()
    answer = await confirmed.json()
    assert (answer["status"], answer["suspended_at"], answer["suspended_reason"]) == (
        "active",
        None,
        None,
    )
    # From now on it answers to the owner who confirmed it.
    assert answer["created_by_account_id"] == team.site.account_id
    assert await _reads(client, team.granted) == [200, 200]
    again = await client.post(confirm, headers=bearer(team.owner_token))
    assert (await error_of(again, 409))["field"] == "grant_id"
    owner = f"account:{team.site.account_id}"
    assert await _audit(settings) == [
        (owner, "grant.suspended", grant_id),
        (owner, "grant.confirmed", grant_id),
    ]


async def test_a_member_who_leaves_takes_its_grants_along(
    settings: Settings, client: TestClient, team: Team
) -> None:
    left = await client.delete(
        f"/ot/v1/team/members/{team.membership_id}", headers=bearer(team.member_token)
    )
    assert left.status == 200, await left.text()
    assert await _reads(client, team.granted) == [401, 401]
    granted = await _grant_of(client, team.owner_token, team.granted["id"])
    assert granted["suspended_reason"] == "member_left"
    actor = f"account:{team.member_id}"
    assert await _audit(settings) == [(actor, "grant.suspended", team.granted["id"])]


async def test_a_member_whose_role_may_no_longer_grant_has_its_grants_suspended(
    settings: Settings, client: TestClient, team: Team
) -> None:
    member = f"/ot/v1/team/members/{team.membership_id}"
    lowered = await client.patch(member, json={"role": "viewer"}, headers=bearer(team.owner_token))
    assert lowered.status == 200, await lowered.text()
    assert await _reads(client, team.granted) == [401, 401]
    granted = await _grant_of(client, team.owner_token, team.granted["id"])
    assert granted["suspended_reason"] == "role_lowered"
    # Raising the role again brings nothing back by itself.
    await client.patch(member, json={"role": "admin"}, headers=bearer(team.owner_token))
    assert await _reads(client, team.granted) == [401, 401]


async def test_an_owner_made_admin_keeps_its_grants(
    settings: Settings, client: TestClient, site: Site
) -> None:
    co_owner = await new_account(settings, "A Co-owner")
    membership = await add_member(settings, site.account_id, co_owner, MemberRole.OWNER)
    assert site.id is not None
    granted = await grant(client, (await logged_in(settings, co_owner)).token, [site.id])
    owner_token = (await logged_in(settings, site.account_id)).token
    response = await client.patch(
        f"/ot/v1/team/members/{membership}", json={"role": "admin"}, headers=bearer(owner_token)
    )
    assert response.status == 200, await response.text()
    assert (await read(client, granted["key"], BODY)).status == 200  # admins may grant


async def _with_password(settings: Settings, account_id: int) -> None:
    async with helper_engine(settings) as engine, AsyncSession(engine) as session:
        account = await session.get(Account, account_id)
        assert account is not None
        account.password_hash = hash_password(PASSWORD, settings.accounts)
        session.add(account)
        await session.commit()


async def _ask_for_deletion(client: TestClient, settings: Settings, account_id: int) -> None:
    await _with_password(settings, account_id)
    token = (await logged_in(settings, account_id)).token
    response = await client.post(
        "/ot/v1/account/deletion",
        json={"confirm": True, "password": PASSWORD},
        headers=bearer(token),
    )
    assert response.status == 202, await response.text()


@dataclass
class Elsewhere:
    """Another team, of which the shop's owner is an admin who made a grant there."""

    site: Site
    owner_token: str
    granted: dict[str, Any]


@pytest.fixture
async def elsewhere(settings: Settings, client: TestClient, site: Site) -> Elsewhere:
    other = await support.make_site(settings, "other.example")
    await add_member(settings, other.account_id, site.account_id, MemberRole.ADMIN)
    shop_owner = (await logged_in(settings, site.account_id)).token
    assert other.id is not None
    granted = await grant(client, shop_owner, [other.id])
    owner_token = (await logged_in(settings, other.account_id)).token
    return Elsewhere(other, owner_token, granted)


async def test_asking_for_the_accounts_deletion_stops_every_grant_and_share_link_at_once(
    settings: Settings, client: TestClient, team: Team, elsewhere: Elsewhere
) -> None:
    assert team.site.id is not None
    own = await grant(client, team.owner_token, [team.site.id], share_link=True)
    other_body = {**BODY, "site_id": "other.example"}
    assert (await read(client, elsewhere.granted["key"], other_body)).status == 200
    await _ask_for_deletion(client, settings, team.site.account_id)
    # The account's own grants, those its members made, and the one it made in another team.
    assert await _reads(client, own) == [401, 401]
    assert await _reads(client, team.granted) == [401, 401]
    assert (await read(client, elsewhere.granted["key"], other_body)).status == 401
    theirs = await _grant_of(client, elsewhere.owner_token, elsewhere.granted["id"])
    assert theirs["suspended_reason"] == "creator_deletion_requested"
    owner = f"account:{team.site.account_id}"
    assert sorted(await _audit(settings)) == sorted(
        (owner, "grant.suspended", grant_id)
        for grant_id in (own["id"], team.granted["id"], elsewhere.granted["id"])
    )
    # Logged in again during the grace period, the owner can neither grant nor confirm.
    again = (await logged_in(settings, team.site.account_id)).token
    refused = await client.post(
        "/ot/v1/grants",
        json={
            "grantee": "Someone",
            "purpose": "Anything",
            "site_ids": [team.site.id],
            "metrics": ["visitors"],
            "expires_at": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=bearer(again),
    )
    assert (await error_of(refused, 409))["field"] == "account"
    confirm = await client.post(f"/ot/v1/grants/{own['id']}/confirm", headers=bearer(again))
    assert (await error_of(confirm, 409))["field"] == "account"
    assert (
        await support.rows(settings, "SELECT id FROM access_grant WHERE suspended_at IS NULL") == []
    )


async def test_a_cancelled_deletion_leaves_the_grants_suspended_until_an_owner_confirms_them(
    settings: Settings, client: TestClient, team: Team
) -> None:
    await _ask_for_deletion(client, settings, team.site.account_id)
    again = (await logged_in(settings, team.site.account_id)).token
    cancelled = await client.delete("/ot/v1/account/deletion", headers=bearer(again))
    assert cancelled.status == 200, await cancelled.text()
    assert await _reads(client, team.granted) == [401, 401]
    granted = await _grant_of(client, again, team.granted["id"])
    assert granted["suspended_reason"] == "account_deletion_requested"
    confirmed = await client.post(
        f"/ot/v1/grants/{team.granted['id']}/confirm", headers=bearer(again)
    )
    assert confirmed.status == 200, await confirmed.text()
    assert await _reads(client, team.granted) == [200, 200]


async def test_a_grant_confirmed_by_its_teams_owner_outlives_the_purge_of_its_maker(
    settings: Settings, client: TestClient, site: Site, elsewhere: Elsewhere
) -> None:
    await _ask_for_deletion(client, settings, site.account_id)
    confirmed = await client.post(
        f"/ot/v1/grants/{elsewhere.granted['id']}/confirm", headers=bearer(elsewhere.owner_token)
    )
    assert confirmed.status == 200, await confirmed.text()
    engine = create_engine(settings, for_writes=True)
    try:
        purged = await purge_due_accounts(
            engine, utcnow() + timedelta(days=365), settings.rights.batch_size
        )
    finally:
        await engine.dispose()
    assert purged == [site.account_id]
    other_body = {**BODY, "site_id": "other.example"}
    assert (await read(client, elsewhere.granted["key"], other_body)).status == 200


async def test_no_grant_reads_while_its_account_is_to_be_deleted_even_one_made_in_a_race(
    settings: Settings, client: TestClient, team: Team
) -> None:
    """A grant made while the deletion was being asked for (so never suspended) reads nothing
    either: reading checks for the request too."""
    async with helper_engine(settings) as engine, AsyncSession(engine) as session:
        now = utcnow()
        session.add(
            AccountDeletion(
                account_id=team.site.account_id, requested_at=now, purge_after=now + timedelta(30)
            )
        )
        await session.commit()
    assert await _reads(client, team.granted) == [401, 401]
