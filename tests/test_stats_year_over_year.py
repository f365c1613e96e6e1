"""Comparing with the same days a year earlier (`include.comparisons = {"mode":
"year_over_year"}`, as Plausible's Stats API v2 has it), on SQLite and PostgreSQL, on hits stored
through the real ingest path a year apart."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from ot.privacy import VisitorMode
from ot.stats.dates import TimeRange, year_before
from tests.stats_support import ALICE, BOB, CAROL, at, pageview, query, send, token_for
from tests.support import error_of, make_site
from tests.test_grants import MONDAY, TUESDAY, Shop, make_grant, shared, shop
from tests.test_grants import query as grant_query

__all__ = ["shop"]  # the fixture, used by name

THIS_YEAR = "2026-05-05"
A_YEAR_EARLIER = "2025-05-05"
LEAP_DAY = "2024-02-29"
YEAR_OVER_YEAR = {"comparisons": {"mode": "year_over_year"}}

# A year ago Alice (Firefox) and Bob (Chrome) came; this year Alice and Carol (Safari) came. The
# days next to them hold hits that a wrong range would pick up.
HITS = [
    pageview(ALICE, at(f"{A_YEAR_EARLIER} 10:00"), "/"),
    pageview(BOB, at(f"{A_YEAR_EARLIER} 11:00"), "/"),
    pageview(BOB, at(f"{A_YEAR_EARLIER} 11:01"), "/pricing"),
    pageview(CAROL, at("2025-05-04 09:00"), "/"),  # the day before: not compared
    pageview(ALICE, at(f"{THIS_YEAR} 10:00"), "/"),
    pageview(CAROL, at(f"{THIS_YEAR} 12:00"), "/"),
    pageview(BOB, at("2026-05-04 12:00"), "/"),  # the previous period's day: not compared
    # Around the leap day: 28 February 2023 (compared with 29 February 2024) and 1 March 2023.
    pageview(ALICE, at("2023-02-28 10:00"), "/"),
    pageview(BOB, at("2023-02-28 10:00"), "/"),
    pageview(CAROL, at("2023-03-01 10:00"), "/"),
    pageview(ALICE, at(f"{LEAP_DAY} 10:00"), "/"),
    pageview(BOB, at("2024-03-01 10:00"), "/"),
]


async def years_of_traffic(settings: Settings, client: TestClient) -> Site:
    site = await make_site(settings, visitor_mode=VisitorMode.COOKIE)
    token = await token_for(settings, site.account_id)
    await send(client, site, token, HITS)
    return site


async def test_the_total_is_compared_with_the_same_day_a_year_earlier(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    result = await query(
        settings, site, metrics=["visitors", "pageviews", "bounce_rate"],
        date_range=[THIS_YEAR, THIS_YEAR], include=YEAR_OVER_YEAR,
    )  # fmt: skip
    assert result.comparison_range is not None
    assert result.comparison_range.first_day.isoformat() == A_YEAR_EARLIER
    assert result.comparison_range.last_day.isoformat() == A_YEAR_EARLIER
    [row] = result.rows
    assert row.metrics == [2, 2, 100]
    assert row.comparison is not None
    # A year ago: 2 visitors, 3 pageviews, Alice bounced and Bob did not (50 %).
    assert row.comparison.metrics == [2, 3, 50]
    assert row.comparison.change == [0, -33, 50]  # bounce rate: the difference in points


async def test_each_row_of_a_breakdown_is_compared_with_its_value_a_year_earlier(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    result = await query(
        settings, site, metrics=["visitors"], dimensions=["visit:browser"],
        date_range=[THIS_YEAR, THIS_YEAR], include=YEAR_OVER_YEAR,
        order_by=[["visit:browser", "asc"]],
    )  # fmt: skip
    compared = [
        (row.dimensions, row.metrics, row.comparison and row.comparison.metrics)
        for row in result.rows
    ]
    # Firefox had Alice both years; Safari had no one a year ago (Carol came the day before).
    assert compared == [(["Firefox"], [1], [1]), (["Safari"], [1], [0])]
    safari = result.rows[1].comparison
    assert safari is not None and safari.change == [100]


async def test_a_leap_day_is_compared_with_the_28th_of_february(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    result = await query(
        settings, site, metrics=["visitors"], date_range=[LEAP_DAY, LEAP_DAY],
        include=YEAR_OVER_YEAR,
    )  # fmt: skip
    assert result.comparison_range is not None
    assert (result.comparison_range.first_day, result.comparison_range.last_day) == (
        date(2023, 2, 28),
        date(2023, 2, 28),
    )
    [row] = result.rows
    assert row.comparison is not None and row.comparison.metrics == [2]


async def test_days_are_matched_by_date_so_a_leap_day_does_not_shift_the_rest(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    result = await query(
        settings, site, metrics=["visitors"], dimensions=["time:day"],
        date_range=["2024-02-28", "2024-03-01"], include=YEAR_OVER_YEAR,
    )  # fmt: skip
    compared = [
        (row.dimensions[0], row.comparison and row.comparison.dimensions[0],
         row.comparison and row.comparison.metrics[0])
        for row in result.rows
    ]  # fmt: skip
    assert sorted(compared) == [
        ("2024-02-29", "2023-02-28", 2),
        ("2024-03-01", "2023-03-01", 1),
    ]


async def test_the_answer_echoes_the_range_a_year_earlier(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    token = await token_for(settings, site.account_id, "reader")
    response = await client.post(
        "/api/v2/query",
        json={
            "site_id": site.domain, "metrics": ["visitors"], "date_range": [THIS_YEAR, THIS_YEAR],
            "include": YEAR_OVER_YEAR,
        },
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    answer = await response.json()
    assert response.status == 200, answer
    assert answer["results"] == [
        {"metrics": [2], "dimensions": [], "comparison": {"dimensions": [], "metrics": [2],
                                                          "change": [0]}}
    ]  # fmt: skip
    assert answer["query"]["comparison_date_range"] == [
        f"{A_YEAR_EARLIER}T00:00:00+00:00",
        f"{A_YEAR_EARLIER}T23:59:59+00:00",
    ]


async def test_an_unknown_comparison_is_refused_naming_the_supported_modes(
    settings: Settings, client: TestClient
) -> None:
    site = await years_of_traffic(settings, client)
    token = await token_for(settings, site.account_id, "reader")
    response = await client.post(
        "/api/v2/query",
        json={
            "site_id": site.domain, "metrics": ["visitors"], "date_range": "7d",
            "include": {"comparisons": {"mode": "last_week"}},
        },
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status == 400
    message = (await response.json())["error"]
    assert "#/include/comparisons" in message
    assert '{"mode": "previous_period"}' in message and '{"mode": "year_over_year"}' in message


def test_a_range_of_date_times_moves_back_a_year_in_local_time() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    start = datetime(2026, 5, 5, 10, 0, tzinfo=zone).astimezone(UTC)
    end = datetime(2026, 5, 5, 16, 0, tzinfo=zone).astimezone(UTC)
    earlier = year_before(TimeRange(start, end, date(2026, 5, 5), date(2026, 5, 5), zone))
    assert earlier.start == datetime(2025, 5, 5, 10, 0, tzinfo=zone)
    assert earlier.end == datetime(2025, 5, 5, 16, 0, tzinfo=zone)
    assert (earlier.first_day, earlier.last_day) == (date(2025, 5, 5), date(2025, 5, 5))


# --- through a grant ---------------------------------------------------------------------------


async def test_a_grant_compares_with_a_year_earlier_only_inside_its_window(
    client: TestClient, shop: Shop
) -> None:
    key = (await make_grant(client, shop, date_from=TUESDAY))["key"]
    comparing = grant_query(date_range=[TUESDAY, TUESDAY], include=YEAR_OVER_YEAR)
    refused = await error_of(await shared(client, key, comparing), 403)
    assert refused["field"] == "include" and "the year before lies outside" in refused["message"]


async def test_a_grants_cells_are_compared_with_the_same_cells_a_year_earlier(
    client: TestClient, shop: Shop
) -> None:
    key = (await make_grant(client, shop, min_visitors=2))["key"]
    body = grant_query(metrics=["pageviews"], date_range=[MONDAY, MONDAY], include=YEAR_OVER_YEAR)
    answer = await (await shared(client, key, body)).json()
    # Monday's "/" cell (3 pageviews) counts; nothing was seen a year earlier.
    assert answer["results"] == [
        {"metrics": [3], "dimensions": [], "comparison": {"dimensions": [], "metrics": [0],
                                                          "change": [100]}}
    ]  # fmt: skip
    assert answer["query"]["comparison_date_range"][0].startswith("2025-05-04")


async def test_a_grant_counting_whole_weeks_refuses_a_year_over_year_comparison(
    client: TestClient, shop: Shop
) -> None:
    key = await make_grant(client, shop, min_visitors=2, dimensions=["event:page", "time:week"])
    body = grant_query(metrics=["pageviews"], date_range=[MONDAY, "2026-05-10"],
                       include=YEAR_OVER_YEAR)  # fmt: skip
    refused = await error_of(await shared(client, key["key"], body), 403)
    assert refused["field"] == "include" and "previous period" in refused["message"]
