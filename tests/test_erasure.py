"""Erasing one visitor's hits on the customer's request (`POST /ot/v1/sites/{id}/erasures`,
`ot-admin erase`): by stored visitor id, by the tracker's first-party id, or by IP as far as the
site's IP policy kept it; the rollups stop counting the visitor; the audit trail keeps counts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.clock import utcnow
from ot.config import Settings
from ot.models import Site
from ot.privacy import IpPolicy, VisitorMode
from tests import support
from tests.generated_hits import Engines, roll
from tests.rights_support import ALICE, BOB, admin, audit_actions, count, visit
from tests.stats_support import token_for
from tests.support import bearer, error_of, logged_in


async def _site(settings: Settings, ip_policy: IpPolicy) -> Site:
    return await support.make_site(settings, visitor_mode=VisitorMode.COOKIE, ip_policy=ip_policy)


async def _alice_and_bob(client: TestClient, settings: Settings, site: Site) -> None:
    now = utcnow()
    # A day apart: Alice's visits fall on two days whatever the time of day the test runs.
    await visit(client, settings, site, ALICE, now - timedelta(days=2), now - timedelta(days=1))
    await visit(client, settings, site, BOB, now - timedelta(hours=1))


async def _erase(client: TestClient, settings: Settings, site: Site, body: dict[str, Any]) -> Any:
    started = await logged_in(settings, site.account_id)
    return await client.post(
        f"/ot/v1/sites/{site.id}/erasures", json=body, headers=bearer(started.token)
    )


async def _visitor_ids(settings: Settings) -> set[int]:
    return {hit["visitor_id"] for hit in await support.hits(settings)}


async def test_a_visitors_hits_are_erased_on_request_by_tracker_id(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.TRUNCATED)
    await _alice_and_bob(client, settings, site)
    before = await _visitor_ids(settings)

    response = await _erase(client, settings, site, {"client_id": ALICE.client_id})

    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["hits"], body["visits"]) == (2, 2)
    assert len(await _visitor_ids(settings)) == len(before) - 1
    assert await count(settings, "hit", site_id=site.id) == 1


async def test_a_visitors_hits_are_erased_on_request_by_visitor_id(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.NONE)
    await _alice_and_bob(client, settings, site)
    [bob] = [hit["visitor_id"] for hit in await support.hits(settings) if hit["pathname"] == "/"][
        -1:
    ]

    response = await _erase(client, settings, site, {"visitor_id": bob})

    assert (await response.json())["hits"] == 1
    assert bob not in await _visitor_ids(settings)
    assert await count(settings, "hit", site_id=site.id) == 2


async def test_a_visitors_hits_are_erased_on_request_by_full_ip(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)

    response = await _erase(client, settings, site, {"ip": ALICE.ip})

    body = await response.json()
    assert (body["hits"], body["matched_by_network"], body["notes"]) == (2, 0, [])
    assert await count(settings, "hit", site_id=site.id) == 1


async def test_a_truncated_ip_matches_its_whole_network_and_the_answer_says_so(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.TRUNCATED)
    await _alice_and_bob(client, settings, site)  # both in 198.51.100.0/24

    response = await _erase(client, settings, site, {"ip": ALICE.ip})

    body = await response.json()
    assert body["hits"] == 3 and body["matched_by_network"] == 3
    assert "only the network" in body["notes"][0]


async def test_an_ip_that_was_never_kept_cannot_be_matched_and_the_answer_says_so(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.NONE)
    await _alice_and_bob(client, settings, site)

    response = await _erase(client, settings, site, {"ip": ALICE.ip})

    body = await response.json()
    assert body["hits"] == 0
    assert "keeps no IP addresses" in body["notes"][0]
    assert await count(settings, "hit", site_id=site.id) == 3


async def test_erased_visitors_leave_the_rollups(
    client: TestClient, settings: Settings, engines: Engines
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)
    await roll(engines, utcnow())
    totals = (
        "SELECT sum(visitors) AS n FROM rollup_day"
        " WHERE site_id = :s AND dimension = '' AND span_days = 1"
    )
    assert (await support.rows(settings, totals, s=site.id))[0]["n"] == 3  # Alice twice, Bob

    response = await _erase(client, settings, site, {"ip": ALICE.ip})
    assert (await response.json())["days_to_roll_again"] >= 1
    assert await count(settings, "rollup_pending_day", site_id=site.id) >= 1
    await roll(engines, utcnow())

    assert (await support.rows(settings, totals, s=site.id))[0]["n"] == 1


async def test_an_erasure_is_audited_without_the_visitors_identifiers(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)

    await _erase(client, settings, site, {"ip": ALICE.ip})
    await _erase(client, settings, site, {"client_id": BOB.client_id})

    entries = [e for e in await audit_actions(settings) if e["action"] == "site.visitor_erased"]
    assert len(entries) == 2
    text = json.dumps([e["details"] for e in entries])
    assert ALICE.ip not in text and BOB.client_id not in text
    first = entries[0]["details"]
    first = first if isinstance(first, dict) else json.loads(first)
    assert first == {"site_id": site.id, "by": "ip", "hits": 2, "visits": 2}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"visitor_id": 1, "ip": "192.0.2.1"}, "body"),
        ({"ip": "not-an-ip"}, "ip"),
        ({"ip": ""}, "ip"),
        ({"visitor_id": 2**70}, "visitor_id"),
        ({"visitor_id": "twelve"}, "visitor_id"),
        ({"client_id": "x" * 201}, "client_id"),
    ],
)
async def test_a_malformed_erasure_is_refused_and_changes_nothing(
    client: TestClient, settings: Settings, body: dict[str, Any], field: str
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)

    response = await _erase(client, settings, site, body)

    assert (await error_of(response, 400))["field"] == field
    assert await count(settings, "hit", site_id=site.id) == 3


async def test_another_tenants_site_answers_as_a_missing_one(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)
    stranger = await support.make_site(settings, "stranger.example")
    started = await logged_in(settings, stranger.account_id)

    theirs = await client.post(
        f"/ot/v1/sites/{site.id}/erasures", json={"ip": ALICE.ip}, headers=bearer(started.token)
    )
    missing = await client.post(
        "/ot/v1/sites/987654/erasures", json={"ip": ALICE.ip}, headers=bearer(started.token)
    )

    assert (await error_of(theirs, 404))["message"].replace(str(site.id), "N") == (
        await error_of(missing, 404)
    )["message"].replace("987654", "N")
    assert await count(settings, "hit", site_id=site.id) == 3


async def test_a_key_without_sites_write_cannot_erase(
    client: TestClient, settings: Settings
) -> None:
    site = await _site(settings, IpPolicy.FULL)
    key = await token_for(settings, site.account_id, scopes=("stats:read",))

    response = await client.post(
        f"/ot/v1/sites/{site.id}/erasures", json={"ip": ALICE.ip}, headers=bearer(key)
    )

    assert (await error_of(response, 403))["field"] == "scope"


async def test_an_operator_erases_a_visitor_by_ip(client: TestClient, settings: Settings) -> None:
    site = await _site(settings, IpPolicy.FULL)
    await _alice_and_bob(client, settings, site)

    result = await admin(settings, f"erase {site.domain} --ip {BOB.ip}")

    assert result.exit_code == 0, result.output
    assert "erased 1 hit in 1 visit" in result.stdout
    assert await count(settings, "hit", site_id=site.id) == 2
    [entry] = [e for e in await audit_actions(settings) if e["action"] == "site.visitor_erased"]
    assert entry["actor"].startswith("operator:")


async def test_an_operator_must_name_the_visitor_exactly_once(settings: Settings) -> None:
    site = await _site(settings, IpPolicy.FULL)

    result = await admin(settings, f"erase {site.domain}")

    assert result.exit_code == 2
    assert "exactly one" in result.stderr


async def test_a_tracker_id_on_a_cookieless_site_matches_nothing_and_the_answer_says_why(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await _alice_and_bob(client, settings, site)  # shop.example is cookieless

    response = await _erase(client, settings, site, {"client_id": ALICE.client_id})

    body = await response.json()
    assert body["hits"] == 0
    assert "cookieless" in body["notes"][0]
    assert await count(settings, "hit", site_id=site.id) == 3
