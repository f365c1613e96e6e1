"""Specification of the image beacon, GET /pixel.gif, checked end to end by reading back what the
server stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from decimal import Decimal

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from tests.support import CHROME_USER_AGENT, error_of, hits, make_site, rows

VISITOR_IP = "203.0.113.7"
# A desktop mail client showing remote images (webmail proxies, e.g. "GoogleImageProxy", are
# classified as bots and dropped).
MAIL_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


async def pixel(
    client: TestClient,
    params: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
) -> ClientResponse:
    """One pixel request, as an `<img src="https://collector/pixel.gif?...">` makes it."""
    sent = {"User-Agent": CHROME_USER_AGENT, "X-Forwarded-For": VISITOR_IP, **(headers or {})}
    return await client.get("/pixel.gif", params=params, headers=sent)


# --- what is stored ----------------------------------------------------------------------------


async def test_a_pixel_with_domain_and_url_stores_a_pageview(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await pixel(
        client,
        {
            "d": "shop.example",
            "u": "https://shop.example/landing?utm_source=newsletter",
            "r": "https://news.example/issue/7",
        },
    )
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert (hit["site_id"], hit["name"]) == (site.id, "pageview")
    assert (hit["hostname"], hit["pathname"]) == ("shop.example", "/landing")
    assert hit["utm_source"] == "newsletter"
    assert hit["referrer_source"] == "newsletter"
    assert hit["browser"] == "Chrome"
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert (visit["pageviews"], visit["entry_page"]) == (1, "/landing")


async def test_without_u_the_referer_header_is_the_page(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await pixel(
        client, {"d": "shop.example"}, headers={"Referer": "https://shop.example/no-script"}
    )
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert hit["pathname"] == "/no-script"


async def test_u_wins_over_the_referer_header(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await pixel(
        client,
        {"d": "shop.example", "u": "https://shop.example/from-u"},
        headers={"Referer": "https://shop.example/from-referer"},
    )
    assert response.status == 200
    [hit] = await hits(settings)
    assert hit["pathname"] == "/from-u"


async def test_without_u_nor_referer_the_home_page_of_the_domain_is_the_page(
    client: TestClient, settings: Settings, site: Site
) -> None:
    assert (await pixel(client, {"d": "shop.example"})).status == 200
    [hit] = await hits(settings)
    assert (hit["hostname"], hit["pathname"]) == ("shop.example", "/")


async def test_a_custom_name_records_an_email_open_with_its_props(
    client: TestClient, settings: Settings, site: Site
) -> None:
    params = {
        "d": "shop.example",
        "n": "Email Open",
        "u": "https://shop.example/newsletter/42",
        "p": json.dumps({"campaign": "autumn", "variant": 2}),
    }
    response = await pixel(client, params, headers={"User-Agent": MAIL_USER_AGENT})
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert hit["name"] == "Email Open"
    assert hit["props"] == {"campaign": "autumn", "variant": "2"}
    assert hit["pathname"] == "/newsletter/42"
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert (visit["pageviews"], visit["events"]) == (0, 1)


async def test_a_pixel_with_revenue_stores_it(
    client: TestClient, settings: Settings, site: Site
) -> None:
    revenue = json.dumps({"currency": "eur", "amount": "19.99"})
    response = await pixel(client, {"d": "shop.example", "n": "Purchase", "revenue": revenue})
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert Decimal(str(hit["revenue_amount"])) == Decimal("19.99")
    assert hit["revenue_currency"] == "EUR"


async def test_a_pixel_counted_for_several_domains_is_stored_for_each_known_one(
    client: TestClient, settings: Settings, site: Site
) -> None:
    other = await make_site(settings, "blog.example")
    response = await pixel(client, {"d": "shop.example,blog.example,unknown.example"})
    assert response.status == 200, await response.text()
    stored = await hits(settings)
    assert len(stored) == 2
    assert {hit["site_id"] for hit in stored} == {site.id, other.id}


async def test_a_retried_pixel_with_an_event_id_counts_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    for _ in range(2):
        assert (await pixel(client, {"d": "shop.example", "eid": "open-42-jane"})).status == 200
    assert len(await hits(settings)) == 1


async def test_do_not_track_is_acknowledged_with_the_image_and_nothing_is_stored(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await pixel(client, {"d": "shop.example"}, headers={"DNT": "1"})
    assert (response.status, response.content_type) == (200, "image/gif")
    assert await hits(settings) == []


# --- the answer --------------------------------------------------------------------------------


async def test_the_answer_is_a_transparent_1x1_gif_never_cached(
    client: TestClient, site: Site
) -> None:
    response = await pixel(client, {"d": "shop.example"})
    assert response.status == 200
    assert response.content_type == "image/gif"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert body[:6] in (b"GIF87a", b"GIF89a")
    assert struct.unpack("<HH", body[6:10]) == (1, 1)  # logical screen width and height
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- refusals ----------------------------------------------------------------------------------


async def test_an_unknown_domain_is_refused_naming_domain(
    client: TestClient, settings: Settings, site: Site
) -> None:
    error = await error_of(await pixel(client, {"d": "nobody.example"}), 404)
    assert error["field"] == "domain"
    assert await hits(settings) == []


@pytest.mark.parametrize("domain", [None, "", " , "])
async def test_a_missing_domain_is_refused_naming_domain(
    client: TestClient, settings: Settings, site: Site, domain: str | None
) -> None:
    params = {"u": "https://shop.example/"} if domain is None else {"d": domain}
    error = await error_of(await pixel(client, params), 400)
    assert error["field"] == "domain"


@pytest.mark.parametrize(
    "url", ["not a url", "data:image/gif,x", "javascript:alert(1)", "https://", "//x"]
)
async def test_a_bad_url_is_refused_naming_url(
    client: TestClient, settings: Settings, site: Site, url: str
) -> None:
    error = await error_of(await pixel(client, {"d": "shop.example", "u": url}), 400)
    assert error["field"] == "url"
    assert await hits(settings) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"p": "{not json"}, "props"),
        ({"revenue": '{"currency": "euro", "amount": 1}'}, "revenue"),
        ({"i": "maybe"}, "interactive"),
        ({"eid": "has spaces"}, "eid"),
        ({"n": " "}, "name"),
    ],
)
async def test_a_malformed_parameter_is_refused_naming_it(
    client: TestClient, settings: Settings, site: Site, params: dict[str, str], field: str
) -> None:
    error = await error_of(await pixel(client, {"d": "shop.example", **params}), 400)
    assert error["field"] == field
    assert await hits(settings) == []


# --- found by these tests once, kept so they stay fixed --------------------------------------


async def test_a_revenue_the_parser_accepts_is_stored(
    request: pytest.FixtureRequest, client: TestClient, settings: Settings, site: Site
) -> None:
    revenue = json.dumps({"currency": "EUR", "amount": "500000000000000"})  # < 10**15
    response = await pixel(client, {"d": "shop.example", "n": "Purchase", "revenue": revenue})
    assert response.status == 200, await response.read()
    [hit] = await hits(settings)
    assert Decimal(str(hit["revenue_amount"])) == Decimal("500000000000000")
