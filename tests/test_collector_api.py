"""The collector's Plausible-compatible endpoint, POST /api/event, through the real ingest path:
what is stored and enriched, what is dropped, and how bad input is answered."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from ot.server import create_app
from tests.support import CHROME_USER_AGENT, event, hits, make_site, rows, store_hits

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def post(client: TestClient, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/event",
        data=data,
        headers={"User-Agent": CHROME_USER_AGENT, "Content-Type": "text/plain", **headers},
    )


async def test_a_pageview_is_stored_with_everything_enriched(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await post(
        client,
        {
            "n": "pageview",
            "u": "https://shop.example/shoes/?utm_medium=email&utm_campaign=launch&secret=1",
            "d": "shop.example",
            "r": "https://www.google.de/search?q=shoes",
        },
        **{"X-Forwarded-For": "8.8.8.8", "User-Agent": IPHONE},
    )
    assert response.status == 202
    assert await response.text() == "ok"
    [hit] = await hits(settings)
    assert hit["site_id"] == site.id
    assert (hit["name"], hit["hostname"], hit["pathname"]) == (
        "pageview",
        "shop.example",
        "/shoes/",
    )
    assert hit["query"] == "utm_medium=email&utm_campaign=launch"  # `secret` is not allowlisted
    assert (hit["utm_medium"], hit["utm_campaign"]) == ("email", "launch")
    assert (hit["referrer_source"], hit["referrer"]) == ("Google", "https://www.google.de/search")
    assert (hit["browser"], hit["os"], hit["device"]) == ("Safari", "iOS", "Mobile")
    assert hit["os_version"].startswith("17")
    assert hit["country"] == "US"


async def test_a_mobile_or_desktop_apps_page_url_is_stored_not_refused(
    client: TestClient, settings: Settings, site: Site
) -> None:
    # Plausible's mobile and desktop clients send app:// (and Electron file:///) URLs; a refusal
    # would make their queues resend the event forever.
    for url in ("app://localhost/settings", "file:///opt/app/index.html"):
        response = await post(client, event(url=url, r="app://localhost/home"))
        assert response.status == 202, await response.text()
    stored = await hits(settings)
    assert [(hit["hostname"], hit["pathname"]) for hit in stored] == [
        ("localhost", "/settings"),
        ("", "/opt/app/index.html"),
    ]
    # An app:// referrer names no source, as with Plausible: the visit is direct.
    assert (stored[0]["referrer_source"], stored[0]["referrer"]) == ("Direct / None", "")


async def test_plausible_long_field_names_and_props_are_accepted(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await store_hits(
        client,
        [
            event(
                "Signup",
                props={"plan": "pro", "seats": 3, "trial": True},
                revenue={"currency": "eur", "amount": "12.50"},
            )
        ],
    )
    [hit] = await hits(settings)
    assert hit["name"] == "Signup"
    assert hit["props"] == {"plan": "pro", "seats": "3", "trial": "true"}
    assert float(hit["revenue_amount"]) == 12.5
    assert hit["revenue_currency"] == "EUR"


async def test_a_hit_for_several_domains_is_stored_once_per_known_site(
    client: TestClient, settings: Settings, site: Site
) -> None:
    other = await make_site(settings, "blog.example")
    await store_hits(client, [event(domain="shop.example,blog.example,unknown.example")])
    assert sorted(hit["site_id"] for hit in await hits(settings)) == sorted([site.id, other.id])


async def test_www_in_the_domain_finds_the_site(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await store_hits(client, [event(domain="www.shop.example")])
    assert len(await hits(settings)) == 1


async def test_an_unknown_domain_is_refused_with_404_naming_the_domain(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await post(client, event(domain="nobody.example"))
    assert response.status == 404
    body = await response.json()
    assert body["error"]["field"] == "domain"
    assert "nobody.example" in body["error"]["message"]
    assert await hits(settings) == []


async def test_a_retried_event_id_is_stored_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    first = event(eid="retry-me-0001")
    await store_hits(client, [first, first, event(eid="another-0002")])
    stored = await hits(settings)
    assert sorted(hit["event_id"] for hit in stored) == ["another-0002", "retry-me-0001"]
    [visit] = await rows(settings, "SELECT pageviews FROM visit")
    assert visit["pageviews"] == 2  # the retry did not count twice in the visit either


async def test_bots_are_acknowledged_dropped_and_counted(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await post(client, event(), **{"User-Agent": GOOGLEBOT})
    assert response.status == 202
    await store_hits(client, [event()])  # the next batch carries the dropped count
    assert len(await hits(settings)) == 1
    dropped = await rows(settings, "SELECT reason, count FROM dropped_hits")
    assert dropped == [{"reason": "bot", "count": 1}]


async def test_do_not_track_is_honoured_when_the_site_says_so(
    client: TestClient, settings: Settings, site: Site
) -> None:
    relaxed = await make_site(settings, "relaxed.example", respect_do_not_track=False)
    for domain in ("shop.example", "relaxed.example"):
        response = await post(client, event(domain=domain), DNT="1")
        assert response.status == 202
        response = await post(client, event(domain=domain), **{"Sec-GPC": "1"})
        assert response.status == 202
    assert {hit["site_id"] for hit in await hits(settings)} == {relaxed.id}


async def test_excluded_ips_and_paths_are_not_stored(
    client: TestClient, settings: Settings
) -> None:
    await make_site(
        settings, "shop.example", excluded_ips=["192.0.2.0/24"], excluded_paths=["/admin/*"]
    )
    await post(client, event(), **{"X-Forwarded-For": "192.0.2.55"})
    await post(client, event(url="https://shop.example/admin/users"))
    await store_hits(client, [event(url="https://shop.example/admin")])
    assert [hit["pathname"] for hit in await hits(settings)] == ["/admin"]
    dropped = await rows(settings, "SELECT reason, count FROM dropped_hits ORDER BY reason")
    assert dropped == [
        {"reason": "excluded_ip", "count": 1},
        {"reason": "excluded_path", "count": 1},
    ]


async def test_ip_policy_decides_what_is_kept_and_it_is_encrypted(
    client: TestClient, settings: Settings
) -> None:
    for domain, policy in (
        ("full.example", "full"),
        ("cut.example", "truncated"),
        ("none.example", "none"),
    ):
        await make_site(settings, domain, ip_policy=policy)
        await store_hits(client, [event(domain=domain)], ip="203.0.113.77")
    stored = await rows(
        settings,
        "SELECT site.domain, hit.site_id, hit.ip_encrypted"
        " FROM hit JOIN site ON site.id = hit.site_id",
    )
    kept = {row["domain"]: row["ip_encrypted"] for row in stored}
    site_of = {row["domain"]: row["site_id"] for row in stored}
    assert kept["none.example"] is None
    for domain in ("full.example", "cut.example"):
        assert kept[domain].startswith("v1.")
        assert "203.0.113" not in kept[domain]
    from ot.ingest.collector import ip_context
    from ot.security.crypto import Cipher
    from ot.security.secrets import load_or_create_secrets

    cipher = Cipher(load_or_create_secrets(settings.data_dir))
    full, cut = (kept[d] for d in ("full.example", "cut.example"))
    assert cipher.decrypt(full, context=ip_context(site_of["full.example"])) == "203.0.113.77"
    assert cipher.decrypt(cut, context=ip_context(site_of["cut.example"])) == "203.0.113.0"


async def test_cookieless_sites_ignore_client_ids_and_cookie_sites_use_them(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await make_site(settings, "cookie.example", visitor_mode="cookie")
    for domain in ("shop.example", "cookie.example"):
        await store_hits(client, [event(domain=domain, vid="visitor-a")], ip="198.51.100.1")
        await store_hits(client, [event(domain=domain, vid="visitor-a")], ip="198.51.100.2")
    visitors = await rows(
        settings,
        "SELECT site.domain, COUNT(DISTINCT hit.visitor_id) AS n FROM hit "
        "JOIN site ON site.id = hit.site_id GROUP BY site.domain ORDER BY site.domain",
    )
    # Same id from two addresses: one visitor with a cookie, two without.
    assert visitors == [{"domain": "cookie.example", "n": 1}, {"domain": "shop.example", "n": 2}]


async def test_plausible_engagement_events_are_acknowledged_but_not_stored(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await post(client, event("engagement", sd=80, e=12000))
    assert response.status == 202
    assert await hits(settings) == []


async def test_bad_input_is_answered_with_plausible_and_our_error_shape(
    client: TestClient, settings: Settings, site: Site
) -> None:
    cases: list[tuple[Any, str, str]] = [
        (b"{not json", "body", "request"),
        (b"\xff\xfe\x00garbage", "body", "request"),
        ([1, 2, 3], "body", "request"),
        ({"u": "https://shop.example/", "d": "shop.example"}, "name", "event_name"),
        ({"n": "pageview", "d": "shop.example"}, "url", "url"),
        ({"n": "pageview", "u": "https://shop.example/"}, "domain", "domain"),
        ({"n": 12.5, "u": "https://shop.example/", "d": "shop.example"}, "name", "event_name"),
        (event(url="data:text/html,<script>alert(1)</script>"), "url", "url"),
        (event(url="javascript:alert(1)"), "url", "url"),
        (event(url="/relative/path"), "url", "url"),
        (event(props={f"k{i}": "v" for i in range(31)}), "props", "props"),
        (event(props={"k": "v" * 2001}), "props", "props"),
        (event(props={"k" * 301: "v"}), "props", "props"),
        (event(revenue={"currency": "EURO", "amount": 1}), "revenue", "revenue"),
        (event(revenue={"currency": "EUR", "amount": "lots"}), "revenue", "revenue"),
        (event("x" * 121), "name", "event_name"),
    ]
    for body, field, plausible_key in cases:
        response = await post(client, body)
        assert response.status == 400, (body, await response.text())
        answer = await response.json()
        assert answer["error"]["field"] == field, (body, answer)
        assert answer["error"]["message"]
        assert plausible_key in answer["errors"], (body, answer)
    assert await hits(settings) == []
    metrics = await (await client.get("/metrics")).text()
    assert 'ot_requests_rejected_total{code="invalid_input",endpoint="plausible"}' in metrics


async def test_a_body_over_the_limit_is_refused_with_413(
    client: TestClient, settings: Settings, site: Site
) -> None:
    huge = json.dumps(event(props={"k": "v" * 70_000})).encode()
    response = await post(client, huge)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "body_too_large"
    assert await hits(settings) == []


async def test_collector_endpoints_are_open_to_other_origins_and_nothing_else_is(
    client: TestClient, site: Site
) -> None:
    preflight = await client.options(
        "/api/event",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    accepted = await post(client, event(), Origin="https://shop.example")
    assert accepted.headers["Access-Control-Allow-Origin"] == "*"
    refused = await post(client, b"{", Origin="https://shop.example")
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    for path in ("/healthz", "/readyz", "/metrics", "/nothing-here"):
        response = await client.get(path, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unknown_paths_answer_a_json_404(client: TestClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_tracker_script_is_served_cacheable_with_an_etag(client: TestClient) -> None:
    response = await client.get("/js/ot.js")
    assert response.status == 200
    assert response.content_type == "application/javascript"
    assert "max-age" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = await client.get("/js/ot.js", headers={"If-None-Match": etag})
    assert again.status == 304


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    aiohttp_client: Any, settings: Settings, site: Site
) -> None:
    untrusting = settings.model_copy(
        update={"server": settings.server.model_copy(update={"trusted_proxies": []})}
    )
    direct = await aiohttp_client(create_app(untrusting))
    response = await post(direct, event(), **{"X-Forwarded-For": "8.8.8.8"})
    assert response.status == 202
    [hit] = await hits(settings)
    assert hit["country"] == ""  # located as the loopback peer it came from, not as 8.8.8.8
    from ot.ingest.collector import ip_context
    from ot.security.crypto import Cipher
    from ot.security.secrets import load_or_create_secrets

    kept = Cipher(load_or_create_secrets(settings.data_dir)).decrypt(
        hit["ip_encrypted"], context=ip_context(hit["site_id"])
    )
    assert kept == "127.0.0.0"
