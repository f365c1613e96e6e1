"""Plausible's Stats API v1 (`/api/v1/stats/...`) on the same engine and the same data as v2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from ot.privacy import VisitorMode
from ot.server.auth import SESSION_COOKIE
from tests.stats_support import ALICE, pageview, send, token_for
from tests.support import bearer, logged_in, make_site
from tests.test_stats_api import error_of
from tests.test_stats_engine import MONDAY, TUESDAY, shop

PERIOD = {"period": "custom", "date": f"{MONDAY},{TUESDAY}"}


@pytest.fixture
async def cookie_shop(settings: Settings, client: TestClient) -> Site:
    """shop.example in cookie mode with two days of known traffic (see test_stats_engine)."""
    return await shop(settings, client, VisitorMode.COOKIE)


@pytest.fixture
async def token(settings: Settings, cookie_shop: Site) -> str:
    """A token of the account that owns shop.example."""
    return await token_for(settings, cookie_shop.account_id, "v1 client")


async def v1(client: TestClient, endpoint: str, token: str, **params: str) -> Any:
    response = await client.get(
        f"/api/v1/stats/{endpoint}",
        params={"site_id": "shop.example", **params},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_aggregate(client: TestClient, token: str) -> None:
    answer = await v1(
        client, "aggregate", token, metrics="visitors,pageviews,bounce_rate,visit_duration",
        **PERIOD,
    )  # fmt: skip
    assert answer == {
        "results": {
            "visitors": {"value": 3},
            "pageviews": {"value": 6},
            "bounce_rate": {"value": 50},
            "visit_duration": {"value": 75},
        }
    }


async def test_aggregate_compared_with_the_previous_period(client: TestClient, token: str) -> None:
    answer = await v1(
        client, "aggregate", token, metrics="pageviews,visits", period="day", date=TUESDAY,
        compare="previous_period",
    )  # fmt: skip
    assert answer == {
        "results": {"pageviews": {"value": 3, "change": 0}, "visits": {"value": 2, "change": 0}}
    }


async def test_timeseries_has_every_bucket_of_the_period(client: TestClient, token: str) -> None:
    answer = await v1(client, "timeseries", token, period="7d", date=TUESDAY)
    assert answer["results"] == [
        {"date": f"2026-04-{day}", "visitors": 0} for day in ("29", "30")
    ] + [
        {"date": "2026-05-01", "visitors": 0},
        {"date": "2026-05-02", "visitors": 0},
        {"date": "2026-05-03", "visitors": 0},
        {"date": MONDAY, "visitors": 2},
        {"date": TUESDAY, "visitors": 2},
    ]
    monthly = await v1(client, "timeseries", token, period="6mo", date=TUESDAY, metrics="pageviews")
    assert monthly["results"][-1] == {"date": "2026-05-01", "pageviews": 6}
    assert len(monthly["results"]) == 6


async def test_breakdown_with_limit_and_page(client: TestClient, token: str) -> None:
    first = await v1(client, "breakdown", token, property="event:page", limit="2", **PERIOD)
    assert first == {
        "results": [{"page": "/", "visitors": 2}, {"page": "/blog/one", "visitors": 2}]
    }
    second = await v1(
        client, "breakdown", token, property="event:page", limit="2", page="2", **PERIOD
    )
    assert second == {
        "results": [{"page": "/blog/two", "visitors": 1}, {"page": "/pricing", "visitors": 1}]
    }


async def test_breakdown_by_source_with_visit_metrics(client: TestClient, token: str) -> None:
    answer = await v1(
        client, "breakdown", token, property="visit:source", metrics="visits,bounce_rate", **PERIOD
    )
    assert answer["results"] == [
        {"source": "Direct / None", "visits": 2, "bounce_rate": 100},
        {"source": "Google", "visits": 1, "bounce_rate": 0},
        {"source": "newsletter", "visits": 1, "bounce_rate": 0},
    ]


@pytest.mark.parametrize(
    ("filters", "visitors"),
    [
        ("visit:browser==Firefox", 1),
        ("visit:browser==Firefox|Chrome", 2),
        ("visit:browser!=Firefox", 2),
        ("event:page==/blog/**", 2),
        ("event:page==/blog/**;visit:browser==Chrome", 1),
        ("event:page!=/blog**", 2),  # Alice's and Carol's visits to other pages
    ],
)
async def test_v1_filters(client: TestClient, token: str, filters: str, visitors: int) -> None:
    answer = await v1(client, "aggregate", token, metrics="visitors", filters=filters, **PERIOD)
    assert answer["results"]["visitors"]["value"] == visitors


async def test_realtime_visitors_is_a_bare_number(
    settings: Settings, client: TestClient, cookie_shop: Site, token: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await send(client, cookie_shop, token, [pageview(ALICE, now - timedelta(minutes=2), "/")])
    assert await v1(client, "realtime/visitors", token) == 1


@pytest.mark.parametrize(
    ("endpoint", "params", "message"),
    [
        ("aggregate", {"period": "7d"}, "The `metrics` parameter is required"),
        ("aggregate", {"metrics": "clicks"}, "The metric `clicks` is not recognized"),
        ("aggregate", {"metrics": "visitors", "period": "week"}, "Invalid period `week`"),
        ("aggregate", {"metrics": "visitors", "period": "custom"}, "two ISO dates"),
        ("aggregate", {"metrics": "visitors", "filters": "visit:browser~Fire"}, "Invalid filter"),
        (
            "aggregate",
            {"metrics": "visitors", "filters": "visit:planet==Mars"},
            "Invalid filter property",
        ),
        ("breakdown", {}, "The `property` parameter is required"),
        ("breakdown", {"property": "visit:planet"}, "Invalid property"),
        ("breakdown", {"property": "event:page", "limit": "0"}, "`limit` must be"),
        ("timeseries", {"interval": "minute"}, "Invalid interval"),
    ],
)
async def test_bad_v1_parameters_answer_400(
    client: TestClient, token: str, endpoint: str, params: dict[str, str], message: str
) -> None:
    response = await client.get(
        f"/api/v1/stats/{endpoint}",
        params={"site_id": "shop.example", **params},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert message in await error_of(response, 400)


async def test_v1_answers_401_and_404_as_v2_does(
    settings: Settings, client: TestClient, token: str
) -> None:
    response = await client.get("/api/v1/stats/aggregate", params={"site_id": "shop.example"})
    assert "Missing API key" in await error_of(response, 401)
    for site_id in ["missing.example", ""]:
        response = await client.get(
            "/api/v1/stats/realtime/visitors",
            params={"site_id": site_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert await error_of(response, 404) == (
            "Site does not exist or user does not have access to it."
        )


async def test_a_logged_in_session_reads_v1_as_its_key_does(
    settings: Settings, client: TestClient, cookie_shop: Site, token: str
) -> None:
    started = await logged_in(settings, cookie_shop.account_id)
    params = {"metrics": "visitors,pageviews", **PERIOD}
    by_key = await v1(client, "aggregate", token, **params)
    by_session_token = await v1(client, "aggregate", started.token, **params)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started.token})
    response = await client.get(
        "/api/v1/stats/aggregate", params={"site_id": "shop.example", **params}
    )
    assert response.status == 200, await response.text()  # a GET needs no CSRF token
    assert by_key == by_session_token == await response.json()
    assert by_key["results"]["pageviews"] == {"value": 6}


async def test_a_session_reads_nothing_of_another_accounts_site_on_v1(
    settings: Settings, client: TestClient, cookie_shop: Site
) -> None:
    stranger = await make_site(settings, "stranger.example")
    started = await logged_in(settings, stranger.account_id)
    for site_id in ("shop.example", "nowhere.example"):
        response = await client.get(
            "/api/v1/stats/aggregate", params={"site_id": site_id}, headers=bearer(started.token)
        )
        assert await error_of(response, 404) == (
            "Site does not exist or user does not have access to it."
        )
