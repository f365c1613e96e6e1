"""The Stats API over HTTP: Plausible's `POST /api/v2/query` (JSON and CSV) with bearer tokens
that read only their own account's sites; Plausible's Sites API (`GET /api/v1/sites`); and
Plausible's error shape `{"error": "..."}` on every path under `/api/`."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.config import Settings
from ot.db import create_engine
from ot.models import MemberRole, Site
from ot.privacy import VisitorMode
from ot.server.app import create_app
from ot.server.auth import CSRF_HEADER, SESSION_COOKIE
from ot.sites.store import add_site
from ot.stats.engine import DAILY_SUM_WARNING
from tests import support
from tests.stats_support import token_for
from tests.support import event, logged_in, make_site, store_hits
from tests.team_support import add_member, new_account
from tests.test_stats_engine import MONDAY, TUESDAY, TWO_DAYS, shop


@pytest.fixture
async def cookie_shop(settings: Settings, client: TestClient) -> Site:
    """shop.example in cookie mode with two days of known traffic (see test_stats_engine)."""
    return await shop(settings, client, VisitorMode.COOKIE)


@pytest.fixture
async def token(settings: Settings, cookie_shop: Site) -> str:
    """A token of the account that owns shop.example."""
    return await token_for(settings, cookie_shop.account_id, "dashboard")


async def ask(client: TestClient, body: Any, token: str | None, **headers: str) -> ClientResponse:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/api/v2/query", json=body, headers=headers)


async def error_of(response: ClientResponse, status: int) -> str:
    """Plausible's error shape: {"error": "<message>"} and nothing else."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return str(body["error"])


async def test_a_query_answers_plausibles_v2_shape(client: TestClient, token: str) -> None:
    response = await ask(
        client,
        {
            "site_id": "shop.example",
            "metrics": ["visitors", "pageviews", "bounce_rate"],
            "date_range": TWO_DAYS,
            "dimensions": ["visit:browser"],
            "order_by": [["visit:browser", "asc"]],
            "include": {"total_rows": True, "totals": True},
        },
        token,
    )
    assert response.status == 200, await response.text()
    assert response.headers.get("Access-Control-Allow-Origin") is None  # not CORS-open
    body = await response.json()
    assert body["results"] == [
        {"metrics": [1, 1, 100], "dimensions": ["Chrome"]},
        {"metrics": [1, 3, 50], "dimensions": ["Firefox"]},
        {"metrics": [1, 2, 0], "dimensions": ["Safari"]},
    ]
    assert body["meta"] == {"total_rows": 3, "totals": [3, 6, 50]}
    assert body["query"] == {
        "site_id": "shop.example",
        "metrics": ["visitors", "pageviews", "bounce_rate"],
        "date_range": [f"{MONDAY}T00:00:00+00:00", f"{TUESDAY}T23:59:59+00:00"],
        "dimensions": ["visit:browser"],
        "filters": [],
        "order_by": [["visit:browser", "asc"]],
        "include": {"total_rows": True, "totals": True},
        "pagination": {"limit": 10000, "offset": 0},
    }


async def test_a_cookieless_site_says_its_visitors_are_sums_of_daily_uniques(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client)
    token = await token_for(settings, site.account_id)
    body = {"site_id": site.domain, "metrics": ["visitors"], "date_range": TWO_DAYS}
    answer = await (await ask(client, body, token)).json()
    assert answer["results"] == [{"metrics": [4], "dimensions": []}]
    assert answer["meta"] == {"visitors_are_daily_sums": True, "warnings": [DAILY_SUM_WARNING]}


async def test_comparisons_are_added_to_each_row(client: TestClient, token: str) -> None:
    body = {
        "site_id": "shop.example",
        "metrics": ["pageviews"],
        "date_range": [TUESDAY, TUESDAY],
        "include": {"comparisons": {"mode": "previous_period"}},
    }
    answer = await (await ask(client, body, token)).json()
    assert answer["results"] == [
        {
            "metrics": [3],
            "dimensions": [],
            "comparison": {"dimensions": [], "metrics": [3], "change": [0]},
        }
    ]
    assert answer["query"]["comparison_date_range"] == [
        f"{MONDAY}T00:00:00+00:00",
        f"{MONDAY}T23:59:59+00:00",
    ]


async def test_csv_export_with_a_header_of_dimensions_then_metrics(
    client: TestClient, token: str
) -> None:
    body = {
        "site_id": "shop.example",
        "metrics": ["visitors", "pageviews"],
        "date_range": TWO_DAYS,
        "dimensions": ["time:day", "visit:device"],
    }
    response = await ask(client, body, token, Accept="text/csv")
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert await response.text() == (
        "time:day,visit:device,visitors,pageviews\r\n"
        f"{MONDAY},Desktop,2,3\r\n"
        f"{TUESDAY},Desktop,1,1\r\n"
        f"{TUESDAY},Mobile,1,2\r\n"
    )


async def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text(
    client: TestClient, token: str
) -> None:
    """Event names come from visitors' browsers: `=HYPERLINK(...)` must open as text. Metrics
    stay numbers."""
    formula = '=HYPERLINK("https://evil.example/","Open")'
    await store_hits(
        client,
        [
            event(name=formula, url="https://shop.example/"),
            event(name="-1", url="https://shop.example/"),
        ],
    )
    body = {
        "site_id": "shop.example",
        "metrics": ["events"],
        "date_range": "day",
        "dimensions": ["event:name"],
        "filters": [["is_not", "event:name", ["pageview"]]],
        "order_by": [["event:name", "asc"]],
    }
    response = await ask(client, body, token, Accept="text/csv")
    assert response.status == 200, await response.text()
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows == [["event:name", "events"], ["'-1", "1"], ["'" + formula, "1"]]


# --- who may read what -------------------------------------------------------------------------


async def test_another_accounts_site_a_missing_site_and_a_malformed_one_answer_alike(
    settings: Settings, client: TestClient, token: str
) -> None:
    await make_site(settings, "other.example")
    answers = []
    for site_id in ["other.example", "missing.example", "http://shop.example/", 42, None]:
        body = {"site_id": site_id, "metrics": ["visitors"], "date_range": "day"}
        response = await ask(client, body, token)
        answers.append((response.status, await response.json()))
    assert answers[0] == (
        404,
        {"error": "Site does not exist or user does not have access to it."},
    )
    assert all(answer == answers[0] for answer in answers)


async def test_a_logged_in_session_reads_its_own_sites_stats_as_its_key_does(
    settings: Settings, client: TestClient, cookie_shop: Site, token: str
) -> None:
    started = await logged_in(settings, cookie_shop.account_id)
    body = {"site_id": "shop.example", "metrics": ["visitors", "pageviews"], "date_range": TWO_DAYS}
    by_key = await ask(client, body, token)
    by_session_token = await ask(client, body, started.token)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started.token})
    by_cookie = await ask(client, body, None, **{CSRF_HEADER: started.csrf_token})
    answers = [await response.json() for response in (by_key, by_session_token, by_cookie)]
    assert [r.status for r in (by_key, by_session_token, by_cookie)] == [200, 200, 200]
    assert answers[0]["results"] == [{"metrics": [3, 6], "dimensions": []}]
    assert answers[1] == answers[2] == answers[0]


async def test_a_session_cookie_without_its_csrf_token_cannot_query(
    settings: Settings, client: TestClient, cookie_shop: Site
) -> None:
    """A cookie comes with any request the browser makes, another site's included: as on every
    other unsafe request of a session, the query also needs the X-CSRF-Token only our page
    can read."""
    started = await logged_in(settings, cookie_shop.account_id)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started.token})
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": TWO_DAYS}
    assert CSRF_HEADER in await error_of(await ask(client, body, None), 403)
    wrong = await ask(client, body, None, **{CSRF_HEADER: "not-the-token"})
    assert CSRF_HEADER in await error_of(wrong, 403)


async def test_a_session_reads_its_teams_sites_but_not_another_accounts(
    settings: Settings, client: TestClient, cookie_shop: Site, token: str
) -> None:
    """The same rules as a key with stats:read: a viewer of the owner's team reads the shop;
    a stranger gets exactly the answer of a site that does not exist."""
    viewer = await new_account(settings, "Viewer")
    await add_member(settings, cookie_shop.account_id, viewer, MemberRole.VIEWER)
    stranger = await make_site(settings, "stranger.example")
    body = {"site_id": "shop.example", "metrics": ["pageviews"], "date_range": TWO_DAYS}
    viewers = await ask(client, body, (await logged_in(settings, viewer)).token)
    assert (await viewers.json())["results"] == [{"metrics": [6], "dimensions": []}]
    strangers_token = (await logged_in(settings, stranger.account_id)).token
    strangers = await ask(client, body, strangers_token)
    missing = await ask(client, {**body, "site_id": "nowhere.example"}, strangers_token)
    strangers_key = await ask(client, body, await token_for(settings, stranger.account_id))
    expected = "Site does not exist or user does not have access to it."
    for response in (strangers, missing, strangers_key):
        assert await error_of(response, 404) == expected


async def test_an_expired_or_unknown_session_answers_as_an_invalid_key(
    settings: Settings, client: TestClient, cookie_shop: Site
) -> None:
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "day"}
    assert "Invalid API key" in await error_of(await ask(client, body, "ots_unknown"), 401)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: "ots_unknown"})
    assert "Invalid API key" in await error_of(await client.get("/api/v1/stats/aggregate"), 401)


async def test_the_owner_reads_the_site_by_any_spelling_of_its_domain(
    client: TestClient, token: str
) -> None:
    body = {"site_id": "WWW.Shop.Example", "metrics": ["pageviews"], "date_range": TWO_DAYS}
    assert (await (await ask(client, body, token)).json())["results"][0]["metrics"] == [6]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key"),
        ({"Authorization": ""}, "Missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Invalid API key"),
        ({"Authorization": "Bearer ot_not-a-real-token"}, "Invalid API key"),
        ({"Authorization": "Bearer "}, "Invalid API key"),
    ],
)
async def test_a_missing_or_unknown_key_answers_401(
    client: TestClient, cookie_shop: Site, headers: dict[str, str], message: str
) -> None:
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "day"}
    response = await client.post("/api/v2/query", json=body, headers=headers)
    assert message in await error_of(response, 401)


async def test_a_missing_key_answers_401_even_for_a_malformed_body(client: TestClient) -> None:
    response = await client.post("/api/v2/query", data=b"{not json")
    assert "Missing API key" in await error_of(response, 401)


async def test_stats_are_not_open_to_other_origins(client: TestClient, token: str) -> None:
    response = await client.options(
        "/api/v2/query",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.headers.get("Access-Control-Allow-Origin") is None
    assert response.status == 405


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": ["clicks"], "date_range": "day"}, 'invalid metric "clicks"'),
        (
            {"metrics": ["visitors"], "date_range": "day", "dimensions": ["visit:x"]},
            "invalid dimension",
        ),
        ({"metrics": ["visitors"], "date_range": "fortnight"}, 'invalid date range "fortnight"'),
        (
            {
                "metrics": ["visitors"],
                "date_range": "day",
                "filters": [["like", "event:page", ["/"]]],
            },
            'invalid filter operator "like"',
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": "day",
                "filters": [["matches", "event:page", ["["]]],
            },
            "invalid regular expression",
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": "day",
                "filters": [["matches", "event:page", ["(a)\\1"]]],
            },
            "invalid regular expression: invalid escape sequence: \\1",
        ),
        ({"metrics": "visitors", "date_range": "day"}, "#/metrics: must be a list of strings"),
        (
            {
                "metrics": ["visitors"],
                "date_range": TWO_DAYS,
                "dimensions": ["event:page"],
                "pagination": {"offset": 10**30, "limit": 10},
            },
            "#/pagination/offset: must be a whole number from 0 to 2147483647",
        ),
        ({"metrics": ["visitors"], "date_range": "day", "limit": 5}, 'unknown key "limit"'),
        (
            {
                "metrics": ["visitors"],
                "date_range": ["9999-12-31", "9999-12-31"],
                "include": {"comparisons": {"mode": "previous_period"}},
            },
            "outside the supported days",
        ),
    ],
)
async def test_bad_queries_answer_400_naming_the_problem(
    client: TestClient, token: str, body: dict[str, Any], message: str
) -> None:
    response = await ask(client, {"site_id": "shop.example", **body}, token)
    assert message in await error_of(response, 400)


async def test_a_pattern_only_postgresql_cannot_read_answers_400_there(
    settings: Settings, client: TestClient, token: str
) -> None:
    # RE2 (the check) reads flags in mid-pattern; PostgreSQL's engine does not.
    body = {
        "site_id": "shop.example",
        "metrics": ["visitors"],
        "date_range": "day",
        "filters": [["matches", "event:page", ["/(?i)BLOG"]]],
    }
    response = await ask(client, body, token)
    if settings.database_url.startswith("postgresql"):
        assert "PostgreSQL cannot read a matches pattern" in await error_of(response, 400)
    else:
        assert response.status == 200


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_answers_400(
    client: TestClient, token: str, data: bytes
) -> None:
    response = await client.post(
        "/api/v2/query", data=data, headers={"Authorization": f"Bearer {token}"}
    )
    assert "body" in await error_of(response, 400)


async def test_a_revoked_key_answers_401(
    settings: Settings, client: TestClient, token: str
) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE api_token SET revoked_at = created_at WHERE prefix = :prefix"),
                {"prefix": token[:10]},
            )
    finally:
        await engine.dispose()
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "day"}
    assert "Invalid API key" in await error_of(await ask(client, body, token), 401)


async def test_a_thousand_years_by_the_hour_are_refused_within_a_short_budget(
    settings: Settings, cookie_shop: Site, token: str, aiohttp_client: Any
) -> None:
    """The issue's query: making its nine million buckets first took 100 s on the event loop.
    Refused by arithmetic now, well inside a budget of 2 s that would otherwise have stopped
    it (503)."""
    tight = settings.model_copy(
        update={"stats": settings.stats.model_copy(update={"query_timeout_seconds": 2})}
    )
    client = await aiohttp_client(create_app(tight))
    body = {
        "site_id": "shop.example",
        "metrics": ["visitors"],
        "date_range": ["1970-01-01", "2999-12-31"],
        "dimensions": ["time:hour"],
    }
    message = await error_of(await ask(client, body, token), 400)
    assert message.startswith("the date range holds more than 5000 hours")


# --- Plausible's Sites API and error shape --------------------------------------------------


async def sites_of_one_account(settings: Settings, count: int) -> tuple[list[Site], str]:
    """`count` sites of one new account, oldest first, and its key with `sites:read` alone."""
    first = await make_site(settings, "site-0.example", timezone="Europe/Berlin")
    sites = [first]
    async with (
        support.helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        for number in range(1, count):
            sites.append(
                await add_site(
                    session,
                    first.account_id,
                    f"site-{number}.example",
                    actor=support.TEST_OPERATOR,
                )
            )
        await session.commit()
    return sites, await token_for(settings, first.account_id, "sites", scopes=("sites:read",))


async def get(client: TestClient, path: str, token: str | None, **params: str) -> ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(path, params=params, headers=headers)


async def test_the_sites_api_lists_the_callers_sites_newest_first_a_page_at_a_time(
    client: TestClient, settings: Settings
) -> None:
    sites, key = await sites_of_one_account(settings, 5)
    await make_site(settings, "stranger.example")  # another account's: never listed
    response = await get(client, "/api/v1/sites", key)
    assert response.status == 200, await response.text()
    everything = await response.json()
    newest_first = [site.domain for site in reversed(sites)]
    assert [site["domain"] for site in everything["sites"]] == newest_first
    assert everything["sites"][-1] == {"domain": "site-0.example", "timezone": "Europe/Berlin"}
    assert everything["meta"] == {"after": None, "before": None, "limit": 100}
    # Page by page with the cursors of each answer, forward and back.
    pages, meta = [], {"after": None}
    params: dict[str, str] = {"limit": "2"}
    while True:
        answer = await (await get(client, "/api/v1/sites", key, **params)).json()
        pages.append([site["domain"] for site in answer["sites"]])
        meta = answer["meta"]
        assert meta["limit"] == 2
        if meta["after"] is None:
            break
        params = {"limit": "2", "after": meta["after"]}
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    back = await (await get(client, "/api/v1/sites", key, limit="2", before=meta["before"])).json()
    assert [site["domain"] for site in back["sites"]] == newest_first[2:4]
    assert back["meta"]["after"] is not None and back["meta"]["before"] is not None
    first = await (
        await get(client, "/api/v1/sites", key, limit="2", before=back["meta"]["before"])
    ).json()
    assert [site["domain"] for site in first["sites"]] == newest_first[0:2]
    assert first["meta"]["before"] is None


async def test_the_sites_api_answers_a_site_by_its_domain_and_anothers_as_missing(
    client: TestClient, settings: Settings
) -> None:
    _, key = await sites_of_one_account(settings, 1)
    await make_site(settings, "stranger.example")
    response = await get(client, "/api/v1/sites/site-0.example", key)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "domain": "site-0.example",
        "timezone": "Europe/Berlin",
        "custom_properties": [],
    }
    stranger = await error_of(await get(client, "/api/v1/sites/stranger.example", key), 404)
    missing = await error_of(await get(client, "/api/v1/sites/nowhere.example", key), 404)
    assert stranger == missing == "Site could not be found"


async def test_the_sites_api_needs_a_key_that_may_read_sites(
    client: TestClient, settings: Settings, token: str
) -> None:
    # `token` reads stats and writes sites, but was not given sites:read.
    for path in ("/api/v1/sites", "/api/v1/sites/shop.example"):
        await error_of(await get(client, path, None), 401)
        await error_of(await get(client, path, "ot_not-a-real-key"), 401)
        assert "sites:read" in await error_of(await get(client, path, token), 403)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
        ({"before": "eyJpZCI6Im5vIn0"}, "before"),  # {"id":"no"}
        ({"after": "eyJpZCI6MX0", "before": "eyJpZCI6MX0"}, "after"),
        ({"team_id": "987654"}, "Team"),
    ],
)
async def test_bad_sites_api_parameters_are_refused_naming_them(
    client: TestClient, settings: Settings, params: dict[str, str], named: str
) -> None:
    _, key = await sites_of_one_account(settings, 1)
    status = 404 if named == "Team" else 400  # a team the caller may not read does not exist
    assert named in await error_of(await get(client, "/api/v1/sites", key, **params), status)


async def test_a_limit_over_a_thousand_is_cut_to_a_thousand(
    client: TestClient, settings: Settings
) -> None:
    _, key = await sites_of_one_account(settings, 1)
    answer = await (await get(client, "/api/v1/sites", key, limit="5000")).json()
    assert answer["meta"]["limit"] == 1000


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v3/query", 404),
        ("GET", "/api/v2/query", 405),
        ("DELETE", "/api/v1/sites", 405),
        ("POST", "/api/v1/stats/aggregate", 405),
    ],
)
async def test_every_api_path_answers_errors_in_plausibles_shape(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert await error_of(response, status) in ("Not Found", "Method Not Allowed")
    if status == 405:
        assert "Allow" in response.headers
    ours = await client.request(method, path.replace("/api/", "/ot/v1/", 1))
    assert set((await ours.json())["error"]) == {"code", "message", "field"}  # ours keeps ours
