"""Several Stats API v2 queries in one request, `POST /ot/v1/stats/queries` (what the terminal's
dashboard sends): each query answered as it would be alone, on a JSON line of its own as soon as
it is ready; a query refused alone refused on its line; the request refused as a whole only for
what is wrong with the request itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from ot.api.stats import MAX_QUERIES_AT_ONCE
from ot.config import Settings
from ot.errors import Overloaded
from ot.models import Site
from ot.privacy import VisitorMode
from ot.server.app_keys import QUERIES
from ot.stats.query import Query
from tests.stats_support import token_for
from tests.support import make_site
from tests.test_stats_api import ask
from tests.test_stats_engine import TWO_DAYS, shop

PATH = "/ot/v1/stats/queries"
BROWSERS = {
    "site_id": "shop.example",
    "metrics": ["visitors", "pageviews", "bounce_rate"],
    "date_range": TWO_DAYS,
    "dimensions": ["visit:browser"],
    "include": {"totals": True},
}
OVERVIEW = {"site_id": "shop.example", "metrics": ["visitors", "visits"], "date_range": TWO_DAYS}
DAILY = {
    "site_id": "shop.example",
    "metrics": ["pageviews"],
    "date_range": TWO_DAYS,
    "dimensions": ["time:day"],
    "include": {"time_labels": True, "comparisons": {"mode": "previous_period"}},
}


@pytest.fixture
async def cookie_shop(settings: Settings, client: TestClient) -> Site:
    """shop.example with two days of known traffic (see test_stats_engine)."""
    return await shop(settings, client, VisitorMode.COOKIE)


@pytest.fixture
async def token(settings: Settings, cookie_shop: Site) -> str:
    """A key of the account that owns shop.example, which reads its stats."""
    return await token_for(settings, cookie_shop.account_id, "dashboard")


async def ask_together(client: TestClient, body: Any, token: str | None) -> ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await client.post(PATH, json=body, headers=headers)


async def lines_of(response: ClientResponse) -> dict[int, dict[str, Any]]:
    """The answer's lines by the index of their query (each index once)."""
    assert response.status == 200, await response.text()
    assert response.content_type == "application/x-ndjson"
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    by_index = {line["index"]: line for line in lines}
    assert len(by_index) == len(lines)
    return by_index


async def error_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """Our error shape: {"error": {"code", "message", "field"}}."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return dict(body["error"])


async def test_each_query_is_answered_on_its_line_as_it_would_be_alone(
    client: TestClient, token: str
) -> None:
    queries = [BROWSERS, OVERVIEW, DAILY]
    response = await ask_together(client, {"queries": queries}, token)
    assert response.headers["Cache-Control"] == "no-store"
    lines = await lines_of(response)
    assert sorted(lines) == [0, 1, 2]
    for index, query in enumerate(queries):
        alone = await ask(client, query, token)
        assert alone.status == 200
        assert lines[index] == {"index": index, "status": 200, "answer": await alone.json()}


async def test_a_query_refused_alone_is_refused_on_its_line_and_the_others_are_answered(
    settings: Settings, client: TestClient, token: str
) -> None:
    await make_site(settings, "other.example")  # another account's
    queries = [
        OVERVIEW,
        {**OVERVIEW, "metrics": ["visitors", "likes"]},
        {**OVERVIEW, "site_id": "missing.example"},
        {**OVERVIEW, "site_id": "other.example"},
        {**OVERVIEW, "site_id": 42},
        BROWSERS,
    ]
    lines = await lines_of(await ask_together(client, {"queries": queries}, token))
    assert {index: line["status"] for index, line in lines.items()} == {
        0: 200, 1: 400, 2: 404, 3: 404, 4: 404, 5: 200,
    }  # fmt: skip
    invalid = lines[1]["error"]
    assert invalid["code"] == "invalid_input" and "likes" in invalid["message"]
    assert "answer" not in lines[1]
    # Another account's site, an unknown one and a malformed name answer alike.
    assert lines[2]["error"] == lines[3]["error"] == lines[4]["error"]
    assert lines[2]["error"]["field"] == "site_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "queries"),
        ({"queries": []}, "queries"),
        ({"queries": [OVERVIEW] * (MAX_QUERIES_AT_ONCE + 1)}, "queries"),
        ({"queries": OVERVIEW}, "queries"),
        ({"queries": ["visitors"]}, "queries.0"),
        ({"queries": [OVERVIEW], "stream": True}, "stream"),
        ([OVERVIEW], None),
    ],
)
async def test_a_request_wrong_as_a_whole_is_refused_whole_naming_the_problem(
    client: TestClient, token: str, body: Any, field: str | None
) -> None:
    error = await error_of(await ask_together(client, body, token), 400)
    assert error["code"] == "invalid_input"
    if field is not None:
        assert error["field"] == field


async def test_it_takes_a_key_that_reads_stats_and_no_caller_without_one(
    settings: Settings, client: TestClient, cookie_shop: Site, token: str
) -> None:
    assert await error_of(await ask_together(client, {"queries": [OVERVIEW]}, None), 401)
    sites_only = await token_for(settings, cookie_shop.account_id, "sites", ("sites:read",))
    refused = await ask_together(client, {"queries": [OVERVIEW]}, sites_only)
    assert "stats:read" in (await error_of(refused, 403))["message"]


async def test_no_more_of_its_queries_run_at_once_than_there_are_query_processes(
    settings: Settings, client: TestClient, token: str
) -> None:
    # So that one screen's dozen never fill the queue every caller's queries wait in.
    queries = client.app[QUERIES]
    call = queries.call
    in_flight, most = 0, 0

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await call(*args, **kwargs)
        finally:
            in_flight -= 1

    queries.call = counted
    lines = await lines_of(await ask_together(client, {"queries": [OVERVIEW] * 12}, token))
    assert {line["status"] for line in lines.values()} == {200}
    assert most == settings.stats.query_processes


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"),
    [
        (Overloaded("every stats query process stayed busy", retry_after=3), 503, "overloaded", 3),
        (
            RuntimeError("a bug: details for the log"),
            500,
            "internal_error",
            None,
        ),
    ],
)
async def test_a_query_that_fails_in_the_server_fails_on_its_line_alone(
    client: TestClient,
    token: str,
    failure: Exception,
    status: int,
    code: str,
    retry_after: int | None,
) -> None:
    queries = client.app[QUERIES]
    call = queries.call

    async def failing_for_pageviews(job: Any, site: Site, query: Query, **kwargs: Any) -> Any:
        if query.metrics == ("pageviews",):
            raise failure
        return await call(job, site, query, **kwargs)

    queries.call = failing_for_pageviews
    lines = await lines_of(await ask_together(client, {"queries": [OVERVIEW, DAILY]}, token))
    assert lines[0]["status"] == 200
    assert lines[1]["status"] == status and lines[1]["error"]["code"] == code
    assert lines[1].get("retry_after") == retry_after
    assert "details" not in lines[1]["error"]["message"]  # a bug says nothing of itself
