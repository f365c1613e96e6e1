"""Empty values are answered as Plausible answers them (in v2, v1 and `ot-admin stats query`
alike), so that its clients show "Direct / None" and "(not set)" where Plausible's would, and a
filter on a value a client was shown matches the rows shown with it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from ot.privacy import VisitorMode
from ot.stats.engine import run_query
from ot.stats.query import parse_query
from tests import support
from tests.generated_hits import Engines, hit, roll, store
from tests.stats_support import table, token_for

ZONE = "Europe/Amsterdam"
DAY = date(2026, 5, 4)
NOW = datetime(2026, 5, 10, 12, tzinfo=UTC)
EMPTY = {
    "hostname": "", "referrer_source": "", "referrer": "", "utm_source": "", "utm_medium": "",
    "utm_campaign": "", "utm_content": "", "utm_term": "", "browser": "", "browser_version": "",
    "os": "", "os_version": "", "device": "", "country": "", "region": "", "city": "",
}  # fmt: skip


@pytest.fixture
async def site(settings: Settings, engines: Engines) -> Site:
    """A cookie site with three visitors on one day: one who left every attribute empty (an
    app page without a host, no referrer, an unknown browser and place), one from a newsletter
    in the Netherlands and one from Google in Germany."""
    site = await support.make_site(settings, timezone=ZONE, visitor_mode=VisitorMode.COOKIE)
    site_id = site.id or 0
    noon = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=ZoneInfo(ZONE))
    known = {"browser": "Firefox", "browser_version": "133.0", "os": "Linux", "os_version": "6",
             "device": "Desktop", "region": "", "city": ""}  # fmt: skip
    await store(engines, [
        hit(site_id, 1, noon, "/", **EMPTY),
        hit(site_id, 1, noon + timedelta(minutes=1), "/settings", **EMPTY),
        hit(site_id, 2, noon, "/", **known, referrer_source="newsletter",
            utm_source="newsletter", country="NL"),
        hit(site_id, 3, noon, "/", **known, referrer_source="Google",
            referrer="https://www.google.com/", country="DE"),
    ])  # fmt: skip
    return site


async def answer(engines: Engines, site: Site, rollups: bool = True, **body: Any) -> Any:
    query = parse_query({"metrics": ["visitors"], "date_range": [str(DAY), str(DAY)], **body})
    async with engines.reader.connect() as connection:
        return await run_query(connection, site, query, now=NOW, use_rollups=rollups)


SHOWN = [
    ("visit:source", [("Direct / None", 1), ("Google", 1), ("newsletter", 1)]),
    ("visit:referrer", [("Direct / None", 2), ("https://www.google.com/", 1)]),
    ("visit:utm_source", [("(not set)", 2), ("newsletter", 1)]),
    ("visit:utm_campaign", [("(not set)", 3)]),
    ("visit:browser", [("(not set)", 1), ("Firefox", 2)]),
    ("visit:browser_version", [("(not set)", 1), ("133.0", 2)]),
    ("visit:os", [("(not set)", 1), ("Linux", 2)]),
    ("visit:os_version", [("(not set)", 1), ("6", 2)]),
    ("visit:device", [("(not set)", 1), ("Desktop", 2)]),
    ("event:hostname", [("(none)", 1), ("shop.example", 2)]),
    # Unknown places are left out, as Plausible leaves them out.
    ("visit:country", [("DE", 1), ("NL", 1)]),
    ("visit:region", []),
    ("visit:city", []),
]


@pytest.mark.parametrize(("dimension", "rows"), SHOWN, ids=[d for d, _ in SHOWN])
async def test_empty_values_are_shown_as_plausible_shows_them_from_raw_tables_and_rollups(
    engines: Engines, site: Site, dimension: str, rows: list[tuple[Any, ...]]
) -> None:
    order = {"order_by": [[dimension, "asc"]]}
    assert table(await answer(engines, site, False, dimensions=[dimension], **order)) == rows
    await roll(engines, NOW)
    assert table(await answer(engines, site, True, dimensions=[dimension], **order)) == rows
    by_day = await answer(engines, site, True, dimensions=[dimension, "time:day"], **order)
    assert [row[:1] + row[2:] for row in table(by_day)] == rows


async def test_left_out_places_still_count_in_totals_and_percentages(
    engines: Engines, site: Site
) -> None:
    for rollups in (False, True):
        result = await answer(
            engines, site, rollups, metrics=["visitors", "percentage"],
            dimensions=["visit:country"], include={"totals": True, "total_rows": True},
        )  # fmt: skip
        assert table(result) == [("DE", 1, 33.3), ("NL", 1, 33.3)]
        assert (result.totals[0], result.total_rows) == (3, 2)
        await roll(engines, NOW)


@pytest.mark.parametrize(
    ("condition", "visitors"),
    [
        (["is", "visit:source", ["Direct / None"]], 1),
        (["is_not", "visit:source", ["Direct / None"]], 2),
        (["is", "visit:referrer", ["Direct / None"]], 2),
        (["is", "visit:utm_source", ["(not set)"]], 2),
        (["is", "visit:utm_source", ["(not set)", "newsletter"]], 3),
        (["is_not", "visit:browser", ["(not set)"]], 2),
        (["is", "visit:browser", ["(NOT SET)"], {"case_sensitive": False}], 1),
        (["is", "event:hostname", ["(none)"]], 1),
        (["is", "visit:country", ["(not set)"]], 1),
        (["contains", "visit:source", ["Direct"]], 0),  # `contains` reads the stored text
    ],
)
async def test_a_filter_on_a_value_a_client_was_shown_matches_the_rows_shown_with_it(
    engines: Engines, site: Site, condition: list[Any], visitors: int
) -> None:
    assert table(await answer(engines, site, filters=[condition])) == [(visitors,)]


async def test_v1_breakdowns_leave_out_empty_campaigns_and_places_and_v2_says_not_set(
    client: TestClient, settings: Settings, site: Site
) -> None:
    headers = {"Authorization": f"Bearer {await token_for(settings, site.account_id)}"}
    period = {"site_id": "shop.example", "period": "custom", "date": f"{DAY},{DAY}"}

    async def breakdown(prop: str) -> list[Any]:
        response = await client.get(
            "/api/v1/stats/breakdown", params={**period, "property": prop}, headers=headers
        )
        assert response.status == 200, await response.text()
        return [row[prop.rsplit(":", 1)[-1]] for row in (await response.json())["results"]]

    assert await breakdown("visit:utm_source") == ["newsletter"]
    assert sorted(await breakdown("visit:country")) == ["DE", "NL"]
    assert sorted(await breakdown("visit:source")) == ["Direct / None", "Google", "newsletter"]
    assert sorted(await breakdown("visit:browser")) == ["(not set)", "Firefox"]
    response = await client.post(
        "/api/v2/query",
        json={"site_id": "shop.example", "metrics": ["visitors"], "date_range": [str(DAY)] * 2,
              "dimensions": ["visit:utm_source"], "order_by": [["visitors", "desc"]]},
        headers=headers,
    )  # fmt: skip
    assert (await response.json())["results"] == [
        {"dimensions": ["(not set)"], "metrics": [2]},
        {"dimensions": ["newsletter"], "metrics": [1]},
    ]
