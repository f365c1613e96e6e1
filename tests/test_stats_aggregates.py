"""Every range the Stats API accepts is answered on both databases, however long, from the raw
tables, from rollups and from both together; a range too fine for its time dimension is refused
with a clear error, never a failure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.errors import InvalidInput
from ot.models import Site
from ot.privacy import VisitorMode
from ot.stats.engine import run_query
from ot.stats.query import EARLIEST_DAY, LATEST_DAY, NAMED_RANGES, parse_query
from tests import support
from tests.generated_hits import Engines, hit, roll, store
from tests.stats_support import token_for

NOW = datetime(2026, 12, 6, 15, tzinfo=UTC)
ZONE = "Europe/Amsterdam"
TODAY = date(2026, 12, 6)
# Custom ranges: a day, a month, just past SQLite's 500 terms of a compound SELECT (one term
# per day used to be a bucket), past the 5,000 buckets of a time dimension, and the longest.
CUSTOM_RANGES = [
    [TODAY.isoformat(), TODAY.isoformat()],
    ["2026-11-06", "2026-12-06"],
    ["2025-01-05", "2026-12-06"],
    ["2012-12-01", "2026-12-06"],
    [EARLIEST_DAY.isoformat(), LATEST_DAY.isoformat()],
]
SHAPES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "pageviews"]},
    {"metrics": ["visitors", "pageviews"], "filters": [["is", "visit:browser", ["Firefox"]]]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["time", "visit:source"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
]


def _visits(site_id: int, days: list[date], first_visitor: int) -> list[Any]:
    zone = ZoneInfo(ZONE)
    found = []
    for number, day in enumerate(days):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
        for offset, page in enumerate(["/", "/pricing"]):
            moment = noon + timedelta(minutes=5 * offset)
            found.append(hit(site_id, first_visitor + number % 3, moment, page))
            found.append(hit(site_id, 900, moment, page, browser="Chrome"))  # on every day
    return found


async def _walk(engines: Engines, site: Site) -> dict[tuple[str, str], Any]:
    """Every shape over every range: its rows, or the refusal's field."""
    answers: dict[tuple[str, str], Any] = {}
    for date_range in [*NAMED_RANGES, *CUSTOM_RANGES]:
        for shape in SHAPES:
            body = {"site_id": site.domain, "date_range": date_range, **shape}
            key = (str(date_range), str(shape))
            try:
                query = parse_query(body)
                async with engines.reader.connect() as connection:
                    result = await run_query(connection, site, query, now=NOW)
            except InvalidInput as refusal:
                answers[key] = ("refused", refusal.field, refusal.message)
                continue
            answers[key] = [(row.dimensions, row.metrics) for row in result.rows]
    return answers


@pytest.mark.parametrize("mode", [VisitorMode.COOKIE, VisitorMode.COOKIELESS])
async def test_every_range_the_api_accepts_is_answered_raw_rolled_and_both(
    settings: Settings, engines: Engines, mode: VisitorMode
) -> None:
    site = await support.make_site(settings, "shop.example", timezone=ZONE, visitor_mode=mode)
    site_id = site.id or 0
    days = [date(2025, 1, 10), date(2026, 6, 1), date(2026, 11, 30), date(2026, 12, 5)]
    await store(engines, _visits(site_id, days, first_visitor=1))
    raw = await _walk(engines, site)  # no rollup run yet: every query reads the raw tables
    await roll(engines, NOW)
    await store(engines, _visits(site_id, [TODAY], first_visitor=50))  # after the run
    mixed = await _walk(engines, site)
    await roll(engines, NOW + timedelta(minutes=1))
    rolled = await _walk(engines, site)
    for answers in (raw, mixed, rolled):
        for (date_range, shape), answer in answers.items():
            if isinstance(answer, tuple):
                # Refused only as too many buckets for a time dimension, saying so.
                assert answer[1] == "dimensions" and "dimension" in shape, (date_range, answer)
    assert mixed == rolled  # today's hits the same, read raw or rolled
    # The issue's query: four Firefox users over five days (cookieless: five daily uniques).
    issue = (str(CUSTOM_RANGES[2]), str(SHAPES[1]))
    assert rolled[issue] == [([], [4 if mode == VisitorMode.COOKIE else 5, 10])]
    longest = (str(CUSTOM_RANGES[-1]), str(SHAPES[0]))
    assert rolled[longest] == [([], [5 if mode == VisitorMode.COOKIE else 10, 20])]


async def test_a_cookieless_query_over_more_than_500_days_answers_through_the_api(
    client: TestClient, settings: Settings, engines: Engines
) -> None:
    site = await support.make_site(settings, "shop.example", visitor_mode=VisitorMode.COOKIELESS)
    await store(engines, _visits(site.id or 0, [date(2025, 3, 1), date(2026, 5, 1)], 1))
    token = await token_for(settings, site.account_id)
    response = await client.post(
        "/api/v2/query",
        json={"site_id": "shop.example", "metrics": ["visitors", "pageviews"],
              "date_range": ["2025-01-05", "2026-12-06"],
              "filters": [["is", "event:page", ["/pricing"]]]},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status == 200, await response.text()
    assert (await response.json())["results"] == [{"metrics": [4, 4], "dimensions": []}]
