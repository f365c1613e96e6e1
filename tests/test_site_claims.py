"""Claiming a domain (`ot.sites.claims`, `POST /ot/v1/sites/claims`): a team that proves control
of a domain (DNS TXT record on a DNS server the test runs on loopback, or a file on the domain's
web server) gets a verified site for it, taking the domain from another account's *unverified*
site. That site keeps its data under another name, and its owner is told by mail and in its
audit trail. A verified site's domain can never be claimed."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.server.app import create_app
from ot.sites.claims import released_domain
from tests.account_support import mails_to, registered, text_of
from tests.dns_server import LoopbackDns, dns
from tests.support import NOT_SETUP, bearer, error_of, event, logged_in, rows, store_hits
from tests.test_site_verification import verifying_client

__all__ = ["dns"]  # the fixture, used by name

SQUATTER = "squatter@example.com"
OWNER = "owner@example.com"


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, dns: LoopbackDns) -> TestClient:
    """The server in-process, asking the loopback DNS server for the domains' TXT records."""
    return await verifying_client(aiohttp_client, settings, dns)


async def session_of(client: TestClient, settings: Settings, email: str) -> str:
    """A registered, confirmed account with that address, logged in."""
    account_id = await registered(client, settings, email=email)
    return (await logged_in(settings, account_id)).token


@pytest.fixture
async def squatted(client: TestClient, settings: Settings) -> dict[str, Any]:
    """shop.example, added first by someone who never proved control of it, with a hit."""
    token = await session_of(client, settings, SQUATTER)
    response = await client.post(
        "/ot/v1/sites", json={"domain": "shop.example"}, headers=bearer(token)
    )
    assert response.status == 201, await response.text()
    await store_hits(client, [event(url="https://shop.example/")])
    site: dict[str, Any] = await response.json()
    return site


async def claim(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/ot/v1/sites/claims", json={"domain": "shop.example", **body}, headers=bearer(token)
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def trail(settings: Settings) -> list[tuple[str, int]]:
    found = await rows(
        settings, f"SELECT action, account_id FROM audit_entry WHERE {NOT_SETUP} ORDER BY id"
    )
    return [(row["action"], row["account_id"]) for row in found]


async def test_a_verified_owner_claims_a_domain_an_unverified_site_of_another_account_holds(
    client: TestClient, settings: Settings, dns: LoopbackDns, squatted: dict[str, Any]
) -> None:
    owner = await session_of(client, settings, OWNER)
    asked = await claim(client, owner, timezone="Europe/Amsterdam")
    assert asked["claimed"] is False and asked["site"] is None
    proof = asked["proof"]
    assert proof["dns_name"] == "_opentracker.shop.example"
    assert proof["dns_value"] in asked["hint"]
    [held] = await rows(settings, "SELECT id, domain FROM site")
    assert held["domain"] == "shop.example", "nothing changes before the proof"

    dns.publish(proof["dns_name"], proof["dns_value"])
    claimed = await claim(client, owner, timezone="Europe/Amsterdam")

    assert claimed["claimed"] is True
    site = claimed["site"]
    assert site["domain"] == "shop.example" and site["verified_at"] is not None
    assert site["timezone"] == "Europe/Amsterdam"
    released = released_domain("shop.example", squatted["id"])
    sites = await rows(settings, "SELECT id, account_id, domain FROM site ORDER BY id")
    assert [(row["id"], row["domain"]) for row in sites] == [
        (squatted["id"], released),
        (site["id"], "shop.example"),
    ]
    hits = await rows(settings, "SELECT site_id FROM hit")
    assert [row["site_id"] for row in hits] == [squatted["id"]], "its data stays where it was"
    actions = await trail(settings)
    assert ("site.domain_released", squatted["account_id"]) in actions
    assert ("site.claimed", site["account_id"]) in actions
    [notice] = mails_to(settings, SQUATTER)[-1:]
    assert "shop.example" in notice["Subject"] and released in text_of(notice)


async def test_hits_for_a_claimed_domain_go_to_the_claiming_teams_site(
    client: TestClient,
    aiohttp_client: Any,
    settings: Settings,
    dns: LoopbackDns,
    squatted: dict[str, Any],
) -> None:
    owner = await session_of(client, settings, OWNER)
    proof = (await claim(client, owner))["proof"]
    dns.publish("shop.example", proof["dns_value"])  # at the domain itself works too
    site = (await claim(client, owner))["site"]
    # Another server process (a running one's site cache follows within 30 seconds).
    collector = await aiohttp_client(create_app(settings))
    await store_hits(collector, [event(url="https://shop.example/after")])
    hits = await rows(settings, "SELECT site_id, pathname FROM hit ORDER BY id")
    assert [(row["site_id"], row["pathname"]) for row in hits] == [
        (squatted["id"], "/"),
        (site["id"], "/after"),
    ]


async def test_a_verified_sites_domain_can_never_be_claimed(
    client: TestClient, settings: Settings, dns: LoopbackDns, squatted: dict[str, Any]
) -> None:
    squatter = (await logged_in(settings, squatted["account_id"])).token
    verification = squatted["verification"]
    dns.publish(verification["dns_name"], verification["dns_value"])
    verified = await client.post(f"/ot/v1/sites/{squatted['id']}/verify", headers=bearer(squatter))
    assert (await verified.json())["verified"] is True
    before = await rows(settings, "SELECT * FROM site ORDER BY id")
    owner = await session_of(client, settings, OWNER)

    response = await client.post(
        "/ot/v1/sites/claims", json={"domain": "shop.example"}, headers=bearer(owner)
    )
    error = await error_of(response, 409)
    assert error["field"] == "domain" and "cannot be claimed" in error["message"]
    assert await rows(settings, "SELECT * FROM site ORDER BY id") == before


async def test_a_claims_proof_is_worth_nothing_to_another_team(
    client: TestClient, settings: Settings, dns: LoopbackDns, squatted: dict[str, Any]
) -> None:
    """The token is derived from the team and the domain: the squatter cannot publish it for
    someone else, nor use someone else's published token."""
    owner = await session_of(client, settings, OWNER)
    stranger = await session_of(client, settings, "stranger@example.com")
    owners_proof = (await claim(client, owner))["proof"]
    dns.publish(owners_proof["dns_name"], owners_proof["dns_value"])
    strangers = await claim(client, stranger)
    assert strangers["claimed"] is False
    assert strangers["proof"]["token"] != owners_proof["token"]
    assert (await rows(settings, "SELECT domain FROM site"))[0]["domain"] == "shop.example"


async def test_claiming_a_free_domain_gives_a_verified_site(
    client: TestClient, settings: Settings, dns: LoopbackDns
) -> None:
    owner = await session_of(client, settings, OWNER)
    proof = (await claim(client, owner, domain="free.example"))["proof"]
    dns.publish(proof["dns_name"], proof["dns_value"])
    claimed = await claim(client, owner, domain="free.example")
    assert claimed["claimed"] is True and claimed["site"]["verified_at"] is not None


async def test_claiming_a_domain_the_team_holds_already_is_refused(
    client: TestClient, settings: Settings, squatted: dict[str, Any]
) -> None:
    squatter = (await logged_in(settings, squatted["account_id"])).token
    response = await client.post(
        "/ot/v1/sites/claims", json={"domain": "shop.example"}, headers=bearer(squatter)
    )
    error = await error_of(response, 409)
    assert "verify that site instead" in error["message"]


async def test_a_claim_with_bad_settings_is_refused_before_anything_is_asked(
    client: TestClient, settings: Settings, dns: LoopbackDns, squatted: dict[str, Any]
) -> None:
    owner = await session_of(client, settings, OWNER)
    before = await rows(settings, "SELECT * FROM site ORDER BY id")
    response = await client.post(
        "/ot/v1/sites/claims",
        json={"domain": "shop.example", "timezone": "Mars/Olympus"},
        headers=bearer(owner),
    )
    assert (await error_of(response, 400))["field"] == "timezone"
    bad_domain = await client.post(
        "/ot/v1/sites/claims", json={"domain": "https://shop.example/"}, headers=bearer(owner)
    )
    assert (await error_of(bad_domain, 400))["field"] == "domain"
    assert dns.records.asked == []
    assert await rows(settings, "SELECT * FROM site ORDER BY id") == before


async def test_claiming_needs_a_caller_who_may_add_sites(client: TestClient) -> None:
    response = await client.post("/ot/v1/sites/claims", json={"domain": "shop.example"})
    await error_of(response, 401)
