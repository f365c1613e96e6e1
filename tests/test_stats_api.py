"""The Stats API over HTTP: Plausible's `POST /api/v2/query` (JSON and CSV) with bearer tokens
that read only their own account's sites, and Plausible's error shape `{"error": "..."}`."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from ot.privacy import VisitorMode
from ot.server.app import create_app
from ot.stats.engine import DAILY_SUM_WARNING
from tests.stats_support import token_for
from tests.support import event, make_site, store_hits
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
