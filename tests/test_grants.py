"""Express permission for third parties (`ot.grants`, `/ot/v1/grants`, `/ot/v1/shared/query`):
nobody outside an account reads anything unless the customer granted it, and then only what the
grant names, for as long as it lives, every read logged for the customer to see."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from passlib.context import CryptContext
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import passwords
from ot.config import Settings
from ot.db import create_engine
from ot.models import Grant, Site
from ot.privacy import VisitorMode
from tests import support
from tests.stats_support import ALICE, BOB, CAROL, at, pageview, send, token_for
from tests.support import NOT_SETUP, bearer, error_of, logged_in

MONDAY, TUESDAY = "2026-05-04", "2026-05-05"
TWO_DAYS = [MONDAY, TUESDAY]


@dataclass
class Shop:
    """shop.example with known traffic, its owner's session, and a second site of the same
    owner that no grant names."""

    site: Site
    other_site: Site
    owner_token: str


@pytest.fixture
async def shop(settings: Settings, client: TestClient) -> Shop:
    """Monday: Alice, Bob and Carol see "/", Alice alone sees "/rare". Tuesday: Bob sees "/".
    (Cookie mode, so that Bob on both days is one visitor.)"""
    site = await support.make_site(settings, visitor_mode=VisitorMode.COOKIE)
    owner_key = await token_for(settings, site.account_id)
    await send(
        client,
        site,
        owner_key,
        [
            pageview(ALICE, at(f"{MONDAY} 09:00"), "/"),
            pageview(ALICE, at(f"{MONDAY} 09:01"), "/rare"),
            pageview(BOB, at(f"{MONDAY} 10:00"), "/"),
            pageview(CAROL, at(f"{MONDAY} 11:00"), "/"),
            pageview(BOB, at(f"{TUESDAY} 10:00"), "/"),
        ],
    )
    other = await _second_site(settings, site.account_id, "blog.example")
    session = await logged_in(settings, site.account_id)
    return Shop(site, other, session.token)


async def _second_site(settings: Settings, account_id: int, domain: str) -> Site:
    from ot.sites.store import add_site

    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            site = await add_site(session, account_id, domain, actor=support.TEST_OPERATOR)
            await session.commit()
            return site
    finally:
        await engine.dispose()


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def grant_body(site: Site, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grantee": "Example Research Ltd",
        "purpose": "Benchmark of shop traffic",
        "site_ids": [site.id],
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page", "time:day"],
        "expires_at": in_days(30),
    }
    body.update(changes)
    return body


async def make_grant(client: TestClient, shop: Shop, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        "/ot/v1/grants", json=grant_body(shop.site, **changes), headers=bearer(shop.owner_token)
    )
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


def query(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site_id": "shop.example",
        "metrics": ["visitors"],
        "date_range": TWO_DAYS,
    }
    body.update(changes)
    return body


async def shared(
    client: TestClient, credential: str, body: dict[str, Any], **headers: str
) -> ClientResponse:
    return await client.post(
        "/ot/v1/shared/query", json=body, headers={**bearer(credential), **headers}
    )


async def results(response: ClientResponse) -> list[Any]:
    assert response.status == 200, await response.text()
    return [(*row["dimensions"], *row["metrics"]) for row in (await response.json())["results"]]


async def audit_actions(settings: Settings, account_id: int) -> list[tuple[str, str]]:
    found = await support.rows(
        settings,
        (
            "SELECT actor, action FROM audit_entry "
            f"WHERE {NOT_SETUP} AND account_id = :account ORDER BY id"
        ),
        account=account_id,
    )
    return [(row["actor"], row["action"]) for row in found]


# Default deny, and what a grant lets through


async def test_statistics_are_never_shown_to_a_third_party_without_express_permission(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    # No credentials, an account's own API key, a made-up grant key: nothing.
    assert (await shared(client, "", query())).status == 401
    owner_key = await token_for(settings, shop.site.account_id)
    assert (await shared(client, owner_key, query())).status == 401
    assert (await shared(client, "otg_" + "x" * 43, query())).status == 401
    # A grant for shop.example reads nothing of the owner's other site, nor of a stranger's:
    # both answer exactly as a site that does not exist.
    await support.make_site(settings, "stranger.example")
    key = (await make_grant(client, shop))["key"]
    missing = await shared(client, key, query(site_id="nowhere.example"))
    not_granted = await shared(client, key, query(site_id="blog.example"))
    strangers = await shared(client, key, query(site_id="stranger.example"))
    answers = [await error_of(r, 404) for r in (missing, not_granted, strangers)]
    assert answers[0] == answers[1] == answers[2]
    # What was granted, it reads.
    assert await results(await shared(client, key, query())) == [(3,)]


async def test_a_grant_of_two_sites_reads_each_of_them(client: TestClient, shop: Shop) -> None:
    key = (await make_grant(client, shop, site_ids=[shop.site.id, shop.other_site.id]))["key"]
    assert await results(await shared(client, key, query())) == [(3,)]
    blog = await shared(client, key, query(site_id="blog.example"))
    assert await results(blog) == [(0,)]


async def test_a_grant_reads_only_the_metrics_and_dimensions_it_names(
    client: TestClient, shop: Shop
) -> None:
    key = (await make_grant(client, shop))["key"]
    bounce = await shared(client, key, query(metrics=["visitors", "bounce_rate"]))
    error = await error_of(bounce, 403)
    assert error["field"] == "metrics" and '"bounce_rate"' in error["message"]
    browser = await shared(client, key, query(dimensions=["visit:browser"]))
    error = await error_of(browser, 403)
    assert error["field"] == "dimensions" and '"visit:browser"' in error["message"]
    # Filtering on a dimension would tell its values too.
    filtered = await shared(client, key, query(filters=[["is", "visit:browser", ["Firefox"]]]))
    error = await error_of(filtered, 403)
    assert error["field"] == "filters" and '"visit:browser"' in error["message"]
    # A query that is not a query is still a 400, naming the problem.
    error = await error_of(await shared(client, key, query(metrics="visitors")), 400)
    assert error["field"] == "metrics"
    pages = query(dimensions=["event:page"], filters=[["is", "event:page", ["/", "/rare"]]])
    assert await results(await shared(client, key, pages)) == [("/", 3), ("/rare", 1)]


async def test_a_date_range_is_clipped_to_the_grants_window(client: TestClient, shop: Shop) -> None:
    key = (await make_grant(client, shop, date_from=TUESDAY, date_to=TUESDAY))["key"]
    response = await shared(client, key, query(dimensions=["time:day"]))
    assert await results(response) == [(TUESDAY, 1)]
    body = await response.json()
    assert body["query"]["date_range"] == [f"{TUESDAY}T00:00:00+00:00", f"{TUESDAY}T23:59:59+00:00"]
    assert "clipped" in " ".join(body["meta"]["warnings"])
    # A range wholly outside the window is refused, and so is a comparison reaching before it.
    error = await error_of(await shared(client, key, query(date_range=[MONDAY, MONDAY])), 403)
    assert error["field"] == "date_range" and TUESDAY in error["message"]
    comparing = query(
        date_range=[TUESDAY, TUESDAY], include={"comparisons": {"mode": "previous_period"}}
    )
    assert (await error_of(await shared(client, key, comparing), 403))["field"] == "include"


async def test_small_counts_are_hidden_from_the_third_party(client: TestClient, shop: Shop) -> None:
    key = (await make_grant(client, shop, min_visitors=2))["key"]
    response = await shared(
        client,
        key,
        query(
            metrics=["visitors", "pageviews"],
            dimensions=["event:page"],
            include={"totals": True, "total_rows": True},
        ),
    )
    # The grant's cells are a day and a page each. "/rare" had one visitor on Monday, "/" one
    # on Tuesday: both cells are left out of every figure, totals included.
    assert await results(response) == [("/", 3, 3)]
    meta = (await response.json())["meta"]
    assert meta["small_counts"] == {"threshold": 2, "cells": ["time:day", "event:page"]}
    assert meta["totals"] == [3, 3]
    assert meta["total_rows"] == 1
    assert "sum of cells" in " ".join(meta["warnings"])
    # Without a breakdown, and day by day, the figures are the same cells' sums.
    assert await results(await shared(client, key, query(metrics=["pageviews"]))) == [(3,)]
    days = await shared(client, key, query(metrics=["pageviews"], dimensions=["time:day"]))
    assert await results(days) == [(MONDAY, 3)]
    # Visitors are counted per page: added up over pages they would count one person again
    # and again, so they are asked for page by page.
    refused = await error_of(await shared(client, key, query(metrics=["visitors"])), 403)
    assert refused["field"] == "metrics" and '"event:page"' in refused["message"]
    one_page = query(metrics=["visitors"], filters=[["is", "event:page", ["/"]]])
    assert await results(await shared(client, key, one_page)) == [(3,)]


async def test_a_comparison_is_made_of_cells_that_reach_the_threshold_too(
    client: TestClient, shop: Shop
) -> None:
    key = (await make_grant(client, shop, min_visitors=2))["key"]
    body = query(
        metrics=["pageviews"],
        date_range=[TUESDAY, TUESDAY],
        include={"comparisons": {"mode": "previous_period"}},
    )
    answer = await (await shared(client, key, body)).json()
    # Tuesday's one visitor is a cell under 2; Monday's "/" counts, its "/rare" does not.
    assert answer["results"] == [
        {
            "metrics": [0],
            "dimensions": [],
            "comparison": {"dimensions": [], "metrics": [3], "change": [-100]},
        }
    ]
    assert answer["query"]["comparison_date_range"][0].startswith(MONDAY)


async def test_without_a_threshold_nothing_is_hidden(client: TestClient, shop: Shop) -> None:
    key = (await make_grant(client, shop, min_visitors=0))["key"]
    response = await shared(client, key, query(dimensions=["event:page"]))
    assert await results(response) == [("/", 3), ("/rare", 1)]
    assert "small_counts" not in (await response.json())["meta"]


# Revocation, expiry, logging


async def test_a_revoked_grant_stops_reads_at_once(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, share_link=True)
    key, link = grant["key"], grant["link_token"]
    assert (await shared(client, key, query())).status == 200
    assert (await shared(client, link, query())).status == 200
    revoked = await client.delete(f"/ot/v1/grants/{grant['id']}", headers=bearer(shop.owner_token))
    assert revoked.status == 200, await revoked.text()
    assert (await revoked.json())["status"] == "revoked"
    for credential in (key, link):
        assert (await error_of(await shared(client, credential, query()), 401))["field"] == "token"
    plausible = await client.post("/api/v2/query", json=query(), headers=bearer(key))
    assert plausible.status == 401
    # Revoking again changes nothing and is not audited twice.
    again = await client.delete(f"/ot/v1/grants/{grant['id']}", headers=bearer(shop.owner_token))
    assert again.status == 200
    actions = await audit_actions(settings, shop.site.account_id)
    assert [a for a in actions if a[1] == "grant.revoked"] == [
        (f"account:{shop.site.account_id}", "grant.revoked")
    ]


async def test_an_expired_grant_reads_nothing(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop)
    assert (await shared(client, grant["key"], query())).status == 200
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            row = await session.get(Grant, grant["id"])
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
            await session.commit()
    finally:
        await engine.dispose()
    assert (await shared(client, grant["key"], query())).status == 401
    listed = await client.get(f"/ot/v1/grants/{grant['id']}", headers=bearer(shop.owner_token))
    assert (await listed.json())["status"] == "expired"


async def test_every_read_through_a_grant_is_logged_with_its_whole_query_for_the_customer(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, min_visitors=2)
    key = grant["key"]
    answered = query(dimensions=["event:page"], filters=[["contains", "event:page", ["secret"]]])
    assert (await shared(client, key, answered)).status == 200
    assert (await shared(client, key, query(metrics=["bounce_rate"]))).status == 403
    plausible = await client.post(
        "/api/v2/query", json=query(dimensions=["event:page"]), headers=bearer(key)
    )
    assert plausible.status == 200, await plausible.text()
    response = await client.get(
        f"/ot/v1/grants/{grant['id']}/reads", headers=bearer(shop.owner_token)
    )
    assert response.status == 200, await response.text()
    reads = (await response.json())["reads"]
    assert [(r["outcome"], r["via"], r["site_id"]) for r in reads] == [
        ("answered", "key", shop.site.id),
        ("refused", "key", shop.site.id),
        ("answered", "key", shop.site.id),
    ]
    first = reads[-1]
    # The customer sees exactly what was asked, filter values included ...
    assert first["query"] == answered
    assert reads[1]["query"] == query(metrics=["bounce_rate"])
    assert first["metrics"] == ["visitors"] and first["dimensions"] == ["event:page"]
    assert first["filtered_dimensions"] == ["event:page"]
    assert (first["first_day"], first["last_day"]) == (MONDAY, TUESDAY)
    assert reads[1]["reason"] == "forbidden: metrics"
    # ... which is kept encrypted, bound to its grant, like the customer's other data.
    stored = repr(await support.rows(settings, "SELECT * FROM grant_read"))
    assert "secret" not in stored and "shop.example" not in stored
    # Each read is in the audit trail too, as the grant's doing.
    actions = await audit_actions(settings, shop.site.account_id)
    grant_actor = f"grant:{grant['id']}"
    assert [a for a in actions if a[0] == grant_actor] == [(grant_actor, "grant.read")] * 3
    assert (f"account:{shop.site.account_id}", "grant.created") in actions
    # Paging backwards through the log.
    older = await client.get(
        f"/ot/v1/grants/{grant['id']}/reads?limit=1&before_id={reads[1]['id']}",
        headers=bearer(shop.owner_token),
    )
    assert [r["id"] for r in (await older.json())["reads"]] == [first["id"]]


# The key, the link and its password


async def test_the_grant_key_is_shown_once_and_kept_only_as_a_hash(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, share_link=True)
    assert grant["key"].startswith("otg_") and grant["link_token"].startswith("otl_")
    assert grant["grantee"] == "Example Research Ltd" and grant["status"] == "active"
    listing = await client.get("/ot/v1/grants", headers=bearer(shop.owner_token))
    text = await listing.text()
    assert grant["key"] not in text and grant["link_token"] not in text
    assert [g["id"] for g in (await listing.json())["grants"]] == [grant["id"]]
    assert "key" not in (await listing.json())["grants"][0]
    stored = await support.rows(settings, "SELECT * FROM access_grant")
    raw = repr(stored)
    for secret in (grant["key"], grant["link_token"], "Example Research", "Benchmark"):
        assert secret not in raw


async def test_a_share_link_with_a_password_needs_the_password(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, share_link=True, link_password="correct horse")
    link = grant["link_token"]
    assert grant["password_protected"] is True
    error = await error_of(await shared(client, link, query()), 401)
    assert error["field"] == "password"
    wrong = await shared(client, link, query(), **{"X-Share-Password": "wrong horse"})
    assert (await error_of(wrong, 401))["field"] == "password"
    right = await shared(client, link, query(), **{"X-Share-Password": "correct horse"})
    assert await results(right) == [(3,)]
    # The key itself needs no password; the link is not a Stats API key.
    assert (await shared(client, grant["key"], query())).status == 200
    assert (await client.post("/api/v2/query", json=query(), headers=bearer(link))).status == 401
    actions = await audit_actions(settings, shop.site.account_id)
    assert actions.count((f"grant:{grant['id']}", "grant.password_refused")) == 2
    stored = await support.rows(settings, "SELECT link_password_hash FROM access_grant")
    assert stored[0]["link_password_hash"].startswith("$argon2id$")
    # Hashed like an account password, with the settings' parameters (the tests' cheap ones).
    hashing = settings.accounts
    parameters = f"$m={hashing.password_hash_memory_kib},t={hashing.password_hash_passes},p=1$"
    assert parameters in stored[0]["link_password_hash"]


async def _store_link_password_hash(settings: Settings, grant_id: int, stored: str) -> None:
    async with support.helper_engine(settings) as engine, engine.begin() as connection:
        await connection.execute(
            text("UPDATE access_grant SET link_password_hash = :stored WHERE id = :id"),
            {"stored": stored, "id": grant_id},
        )


# How `ot/grants/passwords.py` hashed link passwords until it was deleted (2026-12-06): fixed
# parameters, whatever the settings said.
OLD_LINK_PASSWORDS = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)


async def test_a_link_password_hashed_with_the_old_fixed_parameters_still_opens_the_link(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, share_link=True, link_password="correct horse")
    old = OLD_LINK_PASSWORDS.hash("correct horse")
    assert "$m=19456,t=2,p=1$" in old
    hashing = settings.accounts  # not the old parameters: the hash must name its own
    assert (hashing.password_hash_memory_kib, hashing.password_hash_passes) != (19 * 1024, 2)
    await _store_link_password_hash(settings, grant["id"], old)
    link = grant["link_token"]
    right = await shared(client, link, query(), **{"X-Share-Password": "correct horse"})
    assert await results(right) == [(3,)]
    wrong = await shared(client, link, query(), **{"X-Share-Password": "wrong horse"})
    assert (await error_of(wrong, 401))["field"] == "password"


async def test_a_stored_link_password_that_is_no_hash_opens_nothing_and_raises_nothing(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop, share_link=True, link_password="correct horse")
    link = grant["link_token"]
    for stored in ("correct horse", "", "$argon2id$v=19$m=65536,t=3,p=4$garbled"):
        await _store_link_password_hash(settings, grant["id"], stored)
        for password in ("correct horse", "wrong horse", "$argon2id$v=19$m=65536,t=3,p=4$garbled"):
            answer = await shared(client, link, query(), **{"X-Share-Password": password})
            assert (await error_of(answer, 401))["field"] == "password", (stored, password)


async def test_link_passwords_are_hashed_and_checked_off_the_event_loop(
    client: TestClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 costs tens of milliseconds of CPU, which the collector must not wait behind. The
    test, the in-process server and its handlers share this thread's event loop; the hashing
    and checking functions record the thread they run in."""
    threads: dict[str, list[int]] = {"hash": [], "check": []}
    real_hash, real_matches = passwords.hash_password, passwords.password_matches

    def hash_password(password: str, settings: Any) -> str:
        threads["hash"].append(threading.get_ident())
        return real_hash(password, settings)

    def password_matches(password: str, stored: str) -> bool:
        threads["check"].append(threading.get_ident())
        return real_matches(password, stored)

    monkeypatch.setattr(passwords, "hash_password", hash_password)
    monkeypatch.setattr(passwords, "password_matches", password_matches)
    grant = await make_grant(client, shop, share_link=True, link_password="correct horse")
    link = grant["link_token"]
    right = await shared(client, link, query(), **{"X-Share-Password": "correct horse"})
    assert await results(right) == [(3,)]
    wrong = await shared(client, link, query(), **{"X-Share-Password": "wrong horse"})
    assert (await error_of(wrong, 401))["field"] == "password"
    assert len(threads["hash"]) == 1 and len(threads["check"]) == 2
    event_loop_thread = threading.get_ident()
    assert event_loop_thread not in threads["hash"] + threads["check"]


async def test_the_plausible_query_api_reads_through_a_grant_within_its_limits(
    client: TestClient, shop: Shop
) -> None:
    key = (await make_grant(client, shop, min_visitors=2))["key"]
    response = await client.post(
        "/api/v2/query", json=query(dimensions=["event:page"]), headers=bearer(key)
    )
    assert await results(response) == [("/", 3)]
    outside = await client.post(
        "/api/v2/query", json=query(metrics=["bounce_rate"]), headers=bearer(key)
    )
    assert outside.status == 403 and "bounce_rate" in (await outside.json())["error"]
    other = await client.post(
        "/api/v2/query", json=query(site_id="blog.example"), headers=bearer(key)
    )
    assert other.status == 404
    assert await other.json() == {
        "error": "Site does not exist or user does not have access to it."
    }
    csv = await client.post(
        "/api/v2/query",
        json=query(dimensions=["event:page"]),
        headers={**bearer(key), "Accept": "text/csv"},
    )
    assert await csv.text() == "event:page,visitors\r\n/,3\r\n"


# Who may grant, and bad requests


BAD_GRANTS: dict[str, tuple[dict[str, Any], str]] = {
    "no grantee": ({"grantee": None}, "grantee"),
    "blank grantee": ({"grantee": "   "}, "grantee"),
    "huge purpose": ({"purpose": "x" * 5000}, "purpose"),
    "no sites": ({"site_ids": []}, "site_ids"),
    "site ids not numbers": ({"site_ids": ["shop.example"]}, "site_ids.0"),
    "huge site id": ({"site_ids": [10**40]}, "site_ids.0"),
    "repeated site": ({"site_ids": "twice"}, "site_ids"),
    "unknown metric": ({"metrics": ["money"]}, "metrics"),
    "repeated metric": ({"metrics": ["visitors", "visitors"]}, "metrics"),
    "unknown dimension": ({"dimensions": ["visit:shoe_size"]}, "dimensions"),
    "no expiry": ({"expires_at": None}, "expires_at"),
    "expiry without zone": ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    "expiry in the past": ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    "expiry too far": ({"expires_at": in_days(3650)}, "expires_at"),
    "window backwards": ({"date_from": TUESDAY, "date_to": MONDAY}, "date_from"),
    "window at the end of time": ({"date_to": "9999-12-31"}, "date_to"),
    "window before time": ({"date_from": "0001-01-01"}, "date_from"),
    "negative threshold": ({"min_visitors": -1}, "min_visitors"),
    "password without link": ({"link_password": "correct horse"}, "share_link"),
    "short password": ({"share_link": True, "link_password": "short"}, "link_password"),
    "unknown field": ({"everything": True}, "everything"),
}


@pytest.mark.parametrize("case", BAD_GRANTS, ids=list(BAD_GRANTS))
async def test_a_bad_grant_request_is_refused_and_grants_nothing(
    settings: Settings, client: TestClient, shop: Shop, case: str
) -> None:
    changes, field = BAD_GRANTS[case]
    if changes.get("site_ids") == "twice":
        changes = {"site_ids": [shop.site.id, shop.site.id]}
    body = {k: v for k, v in grant_body(shop.site, **changes).items() if v is not None}
    response = await client.post("/ot/v1/grants", json=body, headers=bearer(shop.owner_token))
    assert (await error_of(response, 400))["field"] == field
    assert await support.rows(settings, "SELECT id FROM access_grant") == []


async def test_only_those_allowed_to_manage_grants_on_every_named_site_may_grant(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    stranger = await support.make_site(settings, "stranger.example")
    stranger_token = (await logged_in(settings, stranger.account_id)).token
    # A stranger naming the shop's site: as if it did not exist.
    body = grant_body(shop.site)
    theirs = await client.post("/ot/v1/grants", json=body, headers=bearer(stranger_token))
    missing = await client.post(
        "/ot/v1/grants",
        json=grant_body(shop.site, site_ids=[987654]),
        headers=bearer(stranger_token),
    )
    assert (await error_of(theirs, 404))["message"].replace(str(shop.site.id), "ID") == (
        await error_of(missing, 404)
    )["message"].replace("987654", "ID")
    # The owner naming its own site and a stranger's: refused whole.
    mixed = grant_body(shop.site, site_ids=[shop.site.id, stranger.id])
    response = await client.post("/ot/v1/grants", json=mixed, headers=bearer(shop.owner_token))
    await error_of(response, 404)
    # An API key needs the grants:write scope.
    stats_key = await token_for(settings, shop.site.account_id)
    response = await client.post("/ot/v1/grants", json=body, headers=bearer(stats_key))
    assert (await error_of(response, 403))["field"] == "scope"
    # A viewer of the shop's team may not grant; an admin may.
    for role, status in (("viewer", 404), ("admin", 201)):
        member = await support.make_site(settings, f"{role}.example")
        await _join(settings, shop.site.account_id, member.account_id, role)
        token = (await logged_in(settings, member.account_id)).token
        response = await client.post("/ot/v1/grants", json=body, headers=bearer(token))
        assert response.status == status, await response.text()
    assert len(await support.rows(settings, "SELECT id FROM access_grant")) == 1


async def test_an_api_key_with_the_grants_write_scope_may_grant(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    key = await token_for(settings, shop.site.account_id, "grants")
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE api_token SET scopes = :scopes"),
                {"scopes": '["grants:read", "grants:write"]'},
            )
    finally:
        await engine.dispose()
    response = await client.post("/ot/v1/grants", json=grant_body(shop.site), headers=bearer(key))
    assert response.status == 201, await response.text()
    listing = await client.get("/ot/v1/grants", headers=bearer(key))
    assert len((await listing.json())["grants"]) == 1
    actions = await audit_actions(settings, shop.site.account_id)
    assert actions[-1][1] == "grant.created" and "/key:" in actions[-1][0]


async def _join(settings: Settings, team_id: int, member_id: int, role: str) -> None:
    from ot.models import MemberRole, Membership

    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            session.add(
                Membership(
                    account_id=team_id,
                    member_account_id=member_id,
                    role=MemberRole(role),
                    created_at=datetime.now(UTC),
                )
            )
            await session.commit()
    finally:
        await engine.dispose()


async def test_another_accounts_grant_answers_as_missing(
    settings: Settings, client: TestClient, shop: Shop
) -> None:
    grant = await make_grant(client, shop)
    stranger = await support.make_site(settings, "stranger.example")
    stranger_token = (await logged_in(settings, stranger.account_id)).token
    for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/reads")):
        theirs = await client.request(
            method, f"/ot/v1/grants/{grant['id']}{suffix}", headers=bearer(stranger_token)
        )
        missing = await client.request(
            method, f"/ot/v1/grants/987654{suffix}", headers=bearer(stranger_token)
        )
        assert (await theirs.text()).replace(str(grant["id"]), "ID") == (
            await missing.text()
        ).replace("987654", "ID")
        assert theirs.status == 404
    listing = await client.get("/ot/v1/grants", headers=bearer(stranger_token))
    assert (await listing.json())["grants"] == []
    # The grant still works: the stranger's DELETE changed nothing.
    assert (await shared(client, grant["key"], query())).status == 200


@pytest.mark.parametrize("grant_id", ["abc", "-1", "1" * 30, "99999999999"])
async def test_a_malformed_or_impossible_grant_id_is_refused(
    client: TestClient, shop: Shop, grant_id: str
) -> None:
    response = await client.get(f"/ot/v1/grants/{grant_id}", headers=bearer(shop.owner_token))
    assert response.status in (400, 404)
    await error_of(response, response.status)
