"""Specification of the Matomo Tracking HTTP API (GET|POST /matomo.php and /piwik.php), checked
end to end by reading back what the server stored, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import create_token
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.ingest.collector import ip_context
from ot.models import Site
from ot.privacy import IpPolicy, VisitorMode
from ot.security.crypto import Cipher
from ot.security.secrets import load_or_create_secrets
from tests.support import CHROME_USER_AGENT, TEST_OPERATOR, error_of, hits, make_site, rows

FIREFOX_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
VISITOR_IP = "203.0.113.7"
PATHS = ["/matomo.php", "/piwik.php"]
GIF_SIGNATURE = b"GIF8"
UNKNOWN_SITE_ID = "999999"  # no test makes that many sites


# --- helpers -----------------------------------------------------------------------------------


def page(site: Site, **params: str) -> dict[str, str]:
    """The parameters of a minimal Matomo page view on `site`, plus `params`."""
    return {"idsite": str(site.id), "rec": "1", "url": "https://shop.example/", **params}


async def track(
    client: TestClient,
    params: Mapping[str, str],
    *,
    path: str = "/matomo.php",
    ip: str = VISITOR_IP,
    user_agent: str = CHROME_USER_AGENT,
) -> ClientResponse:
    """One GET tracking request, as the JavaScript tracker's image beacon sends it."""
    return await client.get(
        path, params=params, headers={"User-Agent": user_agent, "X-Forwarded-For": ip}
    )


async def bulk(client: TestClient, body: Mapping[str, Any]) -> ClientResponse:
    """One bulk tracking request, as Matomo's log importer and SDKs send it."""
    return await client.post(
        "/matomo.php",
        json=body,
        headers={"User-Agent": CHROME_USER_AGENT, "X-Forwarded-For": VISITOR_IP},
    )


async def api_token(settings: Settings, account_id: int) -> str:
    """A new API token of the account, created through the core; its plaintext. Setting a hit's
    IP or time needs the `sites:write` scope."""
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            _, plaintext = await create_token(
                session, account_id, "matomo import", ["sites:write"], actor=TEST_OPERATOR
            )
            await session.commit()
            return plaintext
    finally:
        await engine.dispose()


def as_utc(value: datetime | str) -> datetime:
    """A timestamp column read back: SQLite gives text, PostgreSQL a naive datetime (UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def cipher_of(settings: Settings) -> Cipher:
    return Cipher(load_or_create_secrets(settings.data_dir))


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def owner_token(settings: Settings, site: Site) -> str:
    """A token of the account owning the site: what lets `cip` and `cdt` through."""
    return await api_token(settings, site.account_id)


@pytest.fixture
async def stranger_token(settings: Settings) -> str:
    """A valid token of another account (owning its own site), which must not vouch for ours."""
    other = await make_site(settings, "other.example")
    return await api_token(settings, other.account_id)


# --- page views --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
async def test_a_pageview_is_stored_for_its_site_with_path_referrer_screen_language_and_ua(
    client: TestClient, settings: Settings, site: Site, path: str
) -> None:
    params = page(
        site,
        url="https://shop.example/shoes?colour=red",
        urlref="https://www.google.com/search?q=red+shoes",
        action_name="Red shoes - Shop",
        _id="0123456789abcdef",
        res="1920x1080",
        lang="en-US,en;q=0.9",
        ua=FIREFOX_USER_AGENT,
    )
    response = await track(client, params, path=path, user_agent=CHROME_USER_AGENT)
    assert response.status == 200, await response.text()

    [hit] = await hits(settings)
    assert hit["site_id"] == site.id
    assert hit["name"] == "pageview"
    assert hit["hostname"] == "shop.example"
    assert hit["pathname"] == "/shoes"
    assert hit["referrer_source"] == "Google"
    assert hit["screen"] == "1920x1080"
    assert hit["language"] == "en-us"
    assert hit["browser"] == "Firefox"  # `ua` overrides the User-Agent header
    assert hit["props"] == {}
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert visit["site_id"] == site.id
    assert (visit["pageviews"], visit["entry_page"]) == (1, "/shoes")
    assert visit["browser"] == "Firefox"
    assert (visit["screen"], visit["language"]) == ("1920x1080", "en-us")


async def test_an_app_screen_url_from_a_mobile_sdk_is_stored(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await track(client, page(site, url="app://com.example.shop/basket"))
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert (hit["hostname"], hit["pathname"]) == ("com.example.shop", "/basket")
    refused = await track(client, page(site, url="javascript:alert(1)"))
    assert refused.status == 400
    assert len(await hits(settings)) == 1


async def test_the_page_title_is_not_stored(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await track(client, page(site, action_name="Order 4711 for Jane Roe"))
    assert response.status == 200
    for table in ("hit", "visit"):
        for row in await rows(settings, f"SELECT * FROM {table}"):
            assert not any("Jane Roe" in str(value) for value in row.values()), table


async def test_without_ua_the_user_agent_header_names_the_browser(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await track(client, page(site), user_agent=FIREFOX_USER_AGENT)
    [hit] = await hits(settings)
    assert hit["browser"] == "Firefox"


# --- events, outbound links, downloads --------------------------------------------------------


async def test_an_event_is_named_after_its_action_with_category_label_and_value_props(
    client: TestClient, settings: Settings, site: Site
) -> None:
    params = page(site, e_c=" Videos ", e_a="Play", e_n="Intro film", e_v="12.5")
    assert (await track(client, params)).status == 200
    [hit] = await hits(settings)
    assert hit["name"] == "Play"
    assert hit["props"] == {"category": "Videos", "label": "Intro film", "value": "12.5"}
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert (visit["pageviews"], visit["events"]) == (0, 1)


async def test_an_event_without_label_or_value_has_only_its_category(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await track(client, page(site, e_c="Videos", e_a="Pause", e_n="", e_v=""))
    assert response.status == 200
    [hit] = await hits(settings)
    assert (hit["name"], hit["props"]) == ("Pause", {"category": "Videos"})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"e_a": "Play"}, "e_c"),
        ({"e_c": "Videos"}, "e_a"),
        ({"e_c": "Videos", "e_a": "Play", "e_v": "lots"}, "e_v"),
        ({"e_c": "Videos", "e_a": "pageview"}, "e_a"),
    ],
)
async def test_an_incomplete_or_malformed_event_is_refused_naming_the_parameter(
    client: TestClient, settings: Settings, site: Site, params: dict[str, str], field: str
) -> None:
    error = await error_of(await track(client, page(site, **params)), 400)
    assert error["field"] == field
    assert await hits(settings) == []


@pytest.mark.parametrize(
    ("parameter", "name"), [("link", "Outbound Link: Click"), ("download", "File Download")]
)
async def test_link_and_download_become_the_events_plausible_names_them(
    client: TestClient, settings: Settings, site: Site, parameter: str, name: str
) -> None:
    target = "https://elsewhere.example/files/manual.pdf"
    params = page(site, url="https://shop.example/support", **{parameter: target})
    assert (await track(client, params)).status == 200
    [hit] = await hits(settings)
    assert (hit["name"], hit["props"], hit["pathname"]) == (name, {"url": target}, "/support")


async def test_a_ping_records_nothing_but_is_acknowledged(
    client: TestClient, settings: Settings, site: Site
) -> None:
    assert (await track(client, page(site, ping="1"))).status == 200
    assert await hits(settings) == []


# --- POST and bulk -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
async def test_a_post_form_body_is_read_like_a_query_string(
    client: TestClient, settings: Settings, site: Site, path: str
) -> None:
    response = await client.post(
        path,
        data=page(site, url="https://shop.example/checkout", res="390x844"),
        headers={"User-Agent": CHROME_USER_AGENT, "X-Forwarded-For": VISITOR_IP},
    )
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert (hit["site_id"], hit["pathname"], hit["screen"]) == (site.id, "/checkout", "390x844")


async def test_a_post_body_completes_the_query_string(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await client.post(
        f"/matomo.php?idsite={site.id}&rec=1",
        data={"url": "https://shop.example/from-body"},
        headers={"User-Agent": CHROME_USER_AGENT},
    )
    assert response.status == 200, await response.text()
    [hit] = await hits(settings)
    assert hit["pathname"] == "/from-body"


async def test_bulk_tracking_stores_the_valid_requests_and_reports_invalid_ones_by_index(
    client: TestClient, settings: Settings, site: Site
) -> None:
    requests: list[Any] = [
        f"?idsite={site.id}&rec=1&url=https%3A%2F%2Fshop.example%2Fa",
        f"?idsite={site.id}&url=https%3A%2F%2Fshop.example%2Fno-rec",
        {"idsite": site.id, "rec": 1, "url": "https://shop.example/b", "res": "800x600"},
        f"idsite={UNKNOWN_SITE_ID}&rec=1&url=https%3A%2F%2Fshop.example%2Funknown-site",
        f"https://tracker.example/matomo.php?idsite={site.id}&rec=1&url=https%3A%2F%2Fshop.example%2Fc",
    ]
    response = await bulk(client, {"requests": requests})
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "status": "success",
        "tracked": 3,
        "invalid": 2,
        "invalid_indices": [1, 3],
    }
    stored = await hits(settings)
    assert [hit["pathname"] for hit in stored] == ["/a", "/b", "/c"]
    assert {hit["site_id"] for hit in stored} == {site.id}
    assert stored[1]["screen"] == "800x600"


async def test_bulk_tracking_with_only_invalid_requests_stores_nothing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await bulk(client, {"requests": ["?rec=1", f"?idsite={site.id}&rec=0"]})
    assert await response.json() == {
        "status": "success",
        "tracked": 0,
        "invalid": 2,
        "invalid_indices": [0, 1],
    }
    assert await hits(settings) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requests": "idsite=1&rec=1"}, "requests"),
        ({"requests": ["?idsite=1&rec=1", 42]}, "requests[1]"),
        ({"requests": [{"idsite": {"nested": 1}}]}, "requests[0]"),
        ({"requests": [], "token_auth": 7}, "token_auth"),
    ],
)
async def test_an_ill_formed_bulk_body_is_refused_whole_naming_the_culprit(
    client: TestClient, settings: Settings, site: Site, body: dict[str, Any], field: str
) -> None:
    error = await error_of(await bulk(client, body), 400)
    assert error["field"] == field
    assert await hits(settings) == []


async def test_a_bulk_body_that_is_not_json_is_refused_naming_the_body(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await client.post("/matomo.php", data=b'{"requests": [', headers={})
    error = await error_of(response, 400)
    assert error["field"] == "body"


# --- cip, cdt and token_auth -------------------------------------------------------------------


@pytest.mark.parametrize(
    "override", [{"cip": "198.51.100.23"}, {"cdt": "2024-05-01 10:00:00"}, {"cdt": "1714557600"}]
)
async def test_cip_and_cdt_without_token_auth_are_refused_naming_token_auth(
    client: TestClient, settings: Settings, site: Site, override: dict[str, str]
) -> None:
    error = await error_of(await track(client, page(site, **override)), 400)
    assert error["field"] == "token_auth"
    assert "token_auth" in error["message"]
    assert await hits(settings) == []
    assert await rows(settings, "SELECT * FROM visit") == []


async def test_cdt_with_a_token_of_the_owning_account_sets_the_hit_and_visit_time(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    then = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    params = page(site, cdt=then.strftime("%Y-%m-%d %H:%M:%S"), token_auth=owner_token)
    assert (await track(client, params)).status == 200, "the owner may set the time"
    [hit] = await hits(settings)
    assert as_utc(hit["timestamp"]) == then
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert as_utc(visit["started_at"]) == then
    assert as_utc(visit["last_seen_at"]) == then


async def test_cdt_as_unix_seconds_is_read_as_utc(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    then = (utcnow() - timedelta(hours=5)).replace(microsecond=0)
    params = page(site, cdt=str(int(then.timestamp())), token_auth=owner_token)
    assert (await track(client, params)).status == 200
    [hit] = await hits(settings)
    assert as_utc(hit["timestamp"]) == then


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        (IpPolicy.FULL, "198.51.100.23"),
        (IpPolicy.TRUNCATED, "198.51.100.0"),
        (IpPolicy.NONE, None),
    ],
)
async def test_cip_with_a_token_of_the_owning_account_is_kept_as_the_ip_policy_says(
    client: TestClient, settings: Settings, policy: IpPolicy, kept: str | None
) -> None:
    site = await make_site(settings, ip_policy=policy)
    token = await api_token(settings, site.account_id)
    params = page(site, cip="198.51.100.23", token_auth=token)
    assert (await track(client, params, ip=VISITOR_IP)).status == 200
    [hit] = await hits(settings)
    stored = hit["ip_encrypted"]
    if kept is None:
        assert stored is None
        return
    assert "198.51.100" not in stored and "203.0.113" not in stored, "never in plain text"
    assert cipher_of(settings).decrypt(stored, context=ip_context(site.id or 0)) == kept


async def test_cip_counts_as_the_visitor_address_for_cookieless_visitor_ids(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    # One address seen through two proxies is one visitor; two addresses behind one are two.
    for proxy, cip in (("192.0.2.1", "198.51.100.1"), ("192.0.2.2", "198.51.100.1")):
        params = page(site, cip=cip, token_auth=owner_token)
        assert (await track(client, params, ip=proxy)).status == 200
    params = page(site, cip="198.51.100.2", token_auth=owner_token)
    assert (await track(client, params, ip="192.0.2.1")).status == 200
    visitors = [hit["visitor_id"] for hit in await hits(settings)]
    assert visitors[0] == visitors[1] != visitors[2]


async def test_a_bulk_request_may_carry_the_token_for_all_its_requests(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    then = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    requests = [
        {"idsite": site.id, "rec": 1, "url": "https://shop.example/a", "cdt": then.isoformat()},
        {"idsite": site.id, "rec": 1, "url": "https://shop.example/b", "cip": "198.51.100.9"},
    ]
    response = await bulk(client, {"requests": requests, "token_auth": owner_token})
    assert (await response.json())["invalid_indices"] == []
    first, second = await hits(settings)
    assert as_utc(first["timestamp"]) == then
    assert second["ip_encrypted"] is not None


async def test_a_bulk_request_without_token_reports_cip_and_cdt_requests_invalid(
    client: TestClient, settings: Settings, site: Site
) -> None:
    requests = [
        {"idsite": site.id, "rec": 1, "url": "https://shop.example/a"},
        {"idsite": site.id, "rec": 1, "url": "https://shop.example/b", "cdt": "1714557600"},
    ]
    response = await bulk(client, {"requests": requests})
    assert (await response.json())["invalid_indices"] == [1]
    assert [hit["pathname"] for hit in await hits(settings)] == ["/a"]


@pytest.mark.parametrize("override", [{"cip": "198.51.100.23"}, {"cdt": "1714557600"}])
async def test_a_token_of_another_account_may_not_set_cip_or_cdt(
    client: TestClient,
    settings: Settings,
    site: Site,
    stranger_token: str,
    override: dict[str, str],
) -> None:
    error = await error_of(
        await track(client, page(site, token_auth=stranger_token, **override)), 400
    )
    assert error["field"] == "token_auth"
    assert await hits(settings) == []


@pytest.mark.parametrize("token", ["ot_not-a-real-token", "anything", "x" * 500])
async def test_an_unknown_token_may_not_set_cip_or_cdt(
    client: TestClient, settings: Settings, site: Site, token: str
) -> None:
    error = await error_of(
        await track(client, page(site, token_auth=token, cip="198.51.100.23")), 400
    )
    assert error["field"] == "token_auth"
    assert await hits(settings) == []


async def test_a_token_without_cip_or_cdt_is_harmless(
    client: TestClient, settings: Settings, site: Site, stranger_token: str
) -> None:
    assert (await track(client, page(site, token_auth=stranger_token))).status == 200
    assert len(await hits(settings)) == 1


# --- refusals and answers ----------------------------------------------------------------------


@pytest.mark.parametrize("rec", [None, "", "0", "yes"])
async def test_a_request_without_rec_1_is_refused_naming_rec(
    client: TestClient, settings: Settings, site: Site, rec: str | None
) -> None:
    params = page(site)
    if rec is None:
        del params["rec"]
    else:
        params["rec"] = rec
    error = await error_of(await track(client, params), 400)
    assert error["field"] == "rec"
    assert await hits(settings) == []


@pytest.mark.parametrize("idsite", [None, "", "abc", "0", "-1", "99999999999"])
async def test_a_missing_or_malformed_idsite_is_refused_naming_idsite(
    client: TestClient, settings: Settings, site: Site, idsite: str | None
) -> None:
    params = page(site)
    if idsite is None:
        del params["idsite"]
    else:
        params["idsite"] = idsite
    error = await error_of(await track(client, params), 400)
    assert error["field"] == "idsite"


@pytest.mark.parametrize("path", PATHS)
async def test_an_unknown_idsite_is_not_found_naming_idsite(
    client: TestClient, settings: Settings, site: Site, path: str
) -> None:
    error = await error_of(await track(client, page(site, idsite=UNKNOWN_SITE_ID), path=path), 404)
    assert error["field"] == "idsite"
    assert await hits(settings) == []


async def test_a_bad_page_url_is_refused_naming_url(
    client: TestClient, settings: Settings, site: Site
) -> None:
    # Any scheme is a page but data: and javascript: (see test_urls.py), as in Plausible.
    for url in ("not a url", "data:text/html,hello", "javascript:alert(1)"):
        error = await error_of(await track(client, page(site, url=url)), 400)
        assert error["field"] == "url"
    params = page(site)
    del params["url"]
    assert (await error_of(await track(client, params), 400))["field"] == "url"
    assert await hits(settings) == []


async def test_a_tracked_request_answers_a_transparent_gif_never_cached(
    client: TestClient, site: Site
) -> None:
    response = await track(client, page(site))
    assert response.status == 200
    assert response.content_type == "image/gif"
    assert (await response.read()).startswith(GIF_SIGNATURE)
    assert response.headers["Cache-Control"] == "no-store"


async def test_send_image_0_answers_204_without_a_body(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await track(client, page(site, send_image="0"))
    assert response.status == 204
    assert await response.read() == b""
    assert len(await hits(settings)) == 1


async def test_a_dropped_request_is_acknowledged_like_a_stored_one(
    client: TestClient, settings: Settings, site: Site
) -> None:
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    response = await track(client, page(site, ua=bot))
    assert (response.status, response.content_type) == (200, "image/gif")
    assert await hits(settings) == []


@pytest.mark.parametrize("path", PATHS)
async def test_every_answer_is_open_to_any_origin(
    client: TestClient, site: Site, path: str
) -> None:
    stored = await track(client, page(site), path=path)
    refused = await track(client, {"idsite": str(site.id)}, path=path)
    preflight = await client.options(
        path,
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert (stored.status, refused.status, preflight.status) == (200, 400, 204)
    for response in (stored, refused, preflight):
        assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- visitors ----------------------------------------------------------------------------------


async def test_a_cookie_mode_site_knows_one_visitor_by_its_id_across_addresses(
    client: TestClient, settings: Settings
) -> None:
    site = await make_site(settings, visitor_mode=VisitorMode.COOKIE)
    for ip in ("198.51.100.1", "192.0.2.99"):
        assert (await track(client, page(site, _id="00000000deadbeef"), ip=ip)).status == 200
    other_visitor = page(site, _id="00000000cafebabe")
    assert (await track(client, other_visitor, ip="198.51.100.1")).status == 200
    first, second, other = (hit["visitor_id"] for hit in await hits(settings))
    assert first == second != other
    visits = await rows(settings, "SELECT visitor_id, pageviews FROM visit ORDER BY id")
    assert [visit["pageviews"] for visit in visits] == [2, 1]


async def test_a_cookieless_site_ignores_the_id_the_tracker_sends(
    client: TestClient, settings: Settings, site: Site
) -> None:
    for ip in ("198.51.100.1", "192.0.2.99"):
        assert (await track(client, page(site, _id="00000000deadbeef"), ip=ip)).status == 200
    assert (await track(client, page(site, _id="00000000cafebabe"), ip="192.0.2.99")).status == 200
    first, second, third = (hit["visitor_id"] for hit in await hits(settings))
    assert first != second == third


async def test_a_malformed_visitor_id_is_refused_naming_it(
    client: TestClient, settings: Settings, site: Site
) -> None:
    error = await error_of(await track(client, page(site, _id="not-hex")), 400)
    assert error["field"] == "_id"


async def test_uid_follows_a_user_across_devices_on_a_cookie_site(
    client: TestClient, settings: Settings
) -> None:
    site = await make_site(settings, visitor_mode=VisitorMode.COOKIE)
    uid = "jane.roe@example.com"
    for visitor_id, ip in (
        ("00000000deadbeef", "198.51.100.1"),
        ("00000000cafebabe", "192.0.2.99"),
    ):
        response = await track(client, page(site, uid=uid, _id=visitor_id), ip=ip)
        assert response.status == 200
    first, second = (hit["visitor_id"] for hit in await hits(settings))
    assert first == second


@pytest.mark.parametrize("mode", list(VisitorMode))
async def test_uid_is_never_stored_in_plain_text(
    client: TestClient, settings: Settings, mode: VisitorMode
) -> None:
    site = await make_site(settings, visitor_mode=mode)
    uid = "jane.roe@example.com"
    for params in (
        page(site, uid=uid),
        page(site, uid=uid, e_c="Account", e_a="Login"),
        page(site, uid=uid, link="https://elsewhere.example/"),
    ):
        assert (await track(client, params)).status == 200
    assert len(await hits(settings)) == 3
    for table in ("hit", "visit"):
        for row in await rows(settings, f"SELECT * FROM {table}"):
            for column, value in row.items():
                assert "jane.roe" not in str(value).lower(), f"{table}.{column}"


# --- ecommerce and privacy choices -------------------------------------------------------------


async def test_an_ecommerce_order_is_stored_once_with_its_revenue_in_no_currency(
    client: TestClient, settings: Settings, site: Site
) -> None:
    order = page(site, idgoal="0", ec_id="A-1001", revenue="49.90")
    for _ in range(2):  # a re-sent order counts once, as in Matomo
        assert (await track(client, order)).status == 200
    [hit] = await hits(settings)
    assert hit["name"] == "Ecommerce Order"
    assert Decimal(str(hit["revenue_amount"])) == Decimal("49.90")
    assert hit["revenue_currency"] == "XXX"
    assert "A-1001" not in (hit["event_id"] or "")


async def test_do_not_track_is_acknowledged_and_nothing_is_stored(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await client.get(
        "/matomo.php", params=page(site), headers={"User-Agent": CHROME_USER_AGENT, "DNT": "1"}
    )
    assert (response.status, response.content_type) == (200, "image/gif")
    assert await hits(settings) == []


# --- found by these tests once, kept so they stay fixed --------------------------------------


@pytest.mark.parametrize("cdt", ["0001-01-01 00:00:00", "9999-12-31 23:59:59"])
async def test_a_cdt_matomo_would_not_accept_is_neither_a_server_error_nor_stored_as_sent(
    client: TestClient, settings: Settings, site: Site, owner_token: str, cdt: str
) -> None:
    for _ in range(2):
        response = await track(client, page(site, cdt=cdt, token_auth=owner_token))
        assert response.status in (200, 400), await response.read()
        if response.status == 400:
            assert (await response.json())["error"]["field"] == "cdt"
    for hit in await hits(settings):
        assert abs(as_utc(hit["timestamp"]) - utcnow()) < timedelta(minutes=5)


async def test_a_future_cdt_does_not_change_the_visitor_ids_of_today(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    assert (await track(client, page(site, url="https://shop.example/before"))).status == 200
    salts_before = await rows(settings, "SELECT day, salt FROM visitor_salt")
    future = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    response = await track(client, page(site, cdt=future, token_auth=owner_token))
    assert response.status in (200, 400)
    assert (await track(client, page(site, url="https://shop.example/after"))).status == 200
    before, after = (hit for hit in await hits(settings) if hit["pathname"] != "/")
    assert before["visitor_id"] == after["visitor_id"], "one visitor, one day, one address"
    salts_after = await rows(settings, "SELECT day, salt FROM visitor_salt")
    assert all(salt in salts_after for salt in salts_before), "today's salt was replaced"


async def test_a_bulk_body_token_is_used_before_the_token_of_a_request(
    client: TestClient, settings: Settings, site: Site, owner_token: str
) -> None:
    then = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    request = {
        "idsite": site.id,
        "rec": 1,
        "url": "https://shop.example/imported",
        "cdt": int(then.timestamp()),
        "token_auth": "ot_revoked-long-ago",
    }
    response = await bulk(client, {"requests": [request], "token_auth": owner_token})
    assert (await response.json())["invalid_indices"] == []
    [hit] = await hits(settings)
    assert as_utc(hit["timestamp"]) == then


async def test_an_order_revenue_the_parser_accepts_is_stored(
    request: pytest.FixtureRequest, client: TestClient, settings: Settings, site: Site
) -> None:
    order = page(site, idgoal="0", ec_id="B-2", revenue="500000000000000")  # < 10**15
    response = await track(client, order)
    assert response.status == 200, await response.read()
    [hit] = await hits(settings)
    assert Decimal(str(hit["revenue_amount"])) == Decimal("500000000000000")
