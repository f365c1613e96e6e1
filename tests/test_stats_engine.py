"""The stats engine (`ot.stats.engine.run_query`) on SQLite and PostgreSQL, on hits stored
through the real ingest path: every metric, dimension, filter, range and bucket with exact
numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.errors import InvalidInput
from ot.models import Site
from ot.privacy import VisitorMode
from ot.stats.engine import DAILY_SUM_WARNING
from tests.stats_support import (
    ALICE,
    BOB,
    CAROL,
    at,
    custom_event,
    goal,
    outbound_click,
    pageview,
    query,
    send,
    table,
    token_for,
)
from tests.support import make_site

MONDAY = "2026-05-04"
TUESDAY = "2026-05-05"
TWO_DAYS = [MONDAY, TUESDAY]

# Monday: Alice comes from Google, reads two pages and signs up (3 minutes); Bob lands on a
# blog post and leaves. Tuesday: Carol arrives from a newsletter on /pricing and goes home
# (2 minutes); Alice comes back to one post.
SHOP_HITS = [
    pageview(ALICE, at(f"{MONDAY} 10:00"), "/", referrer="https://www.google.com/search"),
    pageview(ALICE, at(f"{MONDAY} 10:01"), "/blog/one"),
    custom_event(ALICE, at(f"{MONDAY} 10:03"), "Signup", "/blog/one", category="form"),
    pageview(BOB, at(f"{MONDAY} 11:00"), "/blog/one"),
    pageview(
        CAROL, at(f"{TUESDAY} 09:00"), "/pricing", query="utm_source=newsletter&utm_medium=email"
    ),
    pageview(CAROL, at(f"{TUESDAY} 09:02"), "/"),
    pageview(ALICE, at(f"{TUESDAY} 12:00"), "/blog/two"),
]


async def shop(
    settings: Settings,
    client: TestClient,
    mode: VisitorMode = VisitorMode.COOKIELESS,
    **site_options: object,
) -> Site:
    site = await make_site(settings, visitor_mode=mode, **site_options)
    token = await token_for(settings, site.account_id)
    await send(client, site, token, SHOP_HITS)
    return site


ALL_METRICS = [
    "visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events",
]  # fmt: skip


async def test_every_metric_over_two_days_of_a_cookie_site(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(settings, site, metrics=ALL_METRICS, date_range=TWO_DAYS)
    # 3 people, 4 visits, 6 pageviews + 1 signup; 2 of 4 visits bounced; (180+0+120+0)/4 s.
    assert table(result) == [(3, 4, 6, 1.5, 50, 75, 7)]
    assert result.totals == [3, 4, 6, 1.5, 50, 75, 7]
    assert result.warnings == []


async def test_a_cookieless_site_sums_daily_uniques_over_several_days_and_says_so(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client)
    result = await query(settings, site, metrics=["visitors", "visits"], date_range=TWO_DAYS)
    # Alice came on both days: 2 on Monday + 2 on Tuesday.
    assert table(result) == [(4, 4)]
    assert result.visitors_are_daily_sums
    assert result.warnings == [DAILY_SUM_WARNING]
    one_day = await query(settings, site, metrics=["visitors"], date_range=[MONDAY, MONDAY])
    assert table(one_day) == [(2,)]
    assert not one_day.visitors_are_daily_sums and one_day.warnings == []


async def test_days_are_exact_uniques_on_both_kinds_of_site(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client)
    result = await query(
        settings, site, metrics=["visitors", "pageviews"], date_range=TWO_DAYS,
        dimensions=["time:day"],
    )  # fmt: skip
    assert table(result) == [(MONDAY, 2, 3), (TUESDAY, 2, 3)]
    assert not result.visitors_are_daily_sums


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("visit:source", [("Direct / None", 2, 2), ("Google", 1, 1), ("newsletter", 1, 1)]),
        (
            "visit:entry_page",
            [("/", 1, 1), ("/blog/one", 1, 1), ("/blog/two", 1, 1), ("/pricing", 1, 1)],
        ),
        ("visit:exit_page", [("/", 1, 1), ("/blog/one", 2, 2), ("/blog/two", 1, 1)]),
        ("visit:browser", [("Chrome", 1, 1), ("Firefox", 1, 2), ("Safari", 1, 1)]),
        ("visit:device", [("Desktop", 2, 3), ("Mobile", 1, 1)]),
        ("visit:os", [("GNU/Linux", 1, 2), ("Windows", 1, 1), ("iOS", 1, 1)]),
        ("visit:utm_source", [("", 2, 3), ("newsletter", 1, 1)]),
        ("visit:utm_medium", [("", 2, 3), ("email", 1, 1)]),
    ],
)
async def test_visit_dimensions(
    settings: Settings, client: TestClient, dimension: str, expected: list[tuple[object, ...]]
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["visitors", "visits"], date_range=TWO_DAYS,
        dimensions=[dimension], order_by=[[dimension, "asc"]],
    )  # fmt: skip
    assert table(result) == expected


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        (
            "event:page",
            [("/", 2, 2, 2), ("/blog/one", 2, 2, 3), ("/blog/two", 1, 1, 1), ("/pricing", 1, 1, 1)],
        ),
        ("event:name", [("pageview", 3, 4, 6), ("Signup", 1, 1, 1)]),
        ("event:hostname", [("shop.example", 3, 4, 7)]),
        ("event:props:category", [("(none)", 3, 4, 6), ("form", 1, 1, 1)]),
    ],
)
async def test_event_dimensions_count_visitors_visits_and_events_of_matching_hits(
    settings: Settings, client: TestClient, dimension: str, expected: list[tuple[object, ...]]
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["visitors", "visits", "events"], date_range=TWO_DAYS,
        dimensions=[dimension],
    )  # fmt: skip
    # Default order: the first metric descending, then the dimension's value.
    assert table(result) == expected


async def test_visit_metrics_cannot_be_split_by_an_event_dimension(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client)
    with pytest.raises(InvalidInput, match='session metric "bounce_rate" cannot be queried'):
        await query(
            settings, site, metrics=["bounce_rate"], date_range="day", dimensions=["event:page"]
        )


async def test_two_dimensions_and_percentage(settings: Settings, client: TestClient) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["visitors", "percentage"], date_range=TWO_DAYS,
        dimensions=["visit:device", "visit:browser"],
    )  # fmt: skip
    assert table(result) == [
        ("Desktop", "Chrome", 1, 33.3),
        ("Desktop", "Firefox", 1, 33.3),
        ("Mobile", "Safari", 1, 33.3),
    ]


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["is", "visit:browser", ["Firefox", "Chrome"]]], (2, 3, 5)),
        ([["is_not", "visit:browser", ["Firefox"]]], (2, 2, 3)),
        ([["is", "visit:browser", ["firefox"]]], (0, 0, 0)),
        ([["is", "visit:browser", ["firefox"], {"case_sensitive": False}]], (1, 2, 4)),
        ([["contains", "visit:source", ["oogl"]]], (1, 1, 3)),
        ([["contains", "visit:source", ["OOGL"], {"case_sensitive": False}]], (1, 1, 3)),
        ([["contains_not", "visit:entry_page", ["blog"]]], (2, 2, 5)),
        ([["matches", "visit:entry_page", ["^/blog/.+$"]]], (2, 2, 2)),
        ([["matches_not", "visit:entry_page", ["^/(blog|pricing)"]]], (1, 1, 3)),
        # A hit matches an event filter on its own; a visit when any of its hits does.
        # Alice's signup happened on /blog/one too.
        ([["is", "event:page", ["/blog/one"]]], (2, 2, 3)),
        ([["is", "event:name", ["Signup"]]], (1, 1, 1)),
        ([["is", "event:props:category", ["form"]]], (1, 1, 1)),
        ([["is", "event:props:category", ["(none)"]]], (3, 4, 6)),
        # Event and visit filters together: Alice's Google visit, then only its /blog/one hit.
        ([["is", "visit:source", ["Google"]], ["is", "event:page", ["/blog/one"]]], (1, 1, 2)),
        (
            [["and", [["is", "visit:source", ["Google"]], ["is", "event:page", ["/blog/one"]]]]],
            (1, 1, 2),
        ),
        (
            [["or", [["is", "visit:source", ["Google"]], ["is", "event:page", ["/pricing"]]]]],
            (2, 2, 4),
        ),
        ([["not", ["is", "visit:device", ["Desktop"]]]], (1, 1, 2)),
        (
            # Hits off "/" outside mobile visits: 4 of Alice and Bob; visits without any hit on
            # "/" outside mobile: Bob's and Alice's second.
            [["not", ["or", [["is", "visit:device", ["Mobile"]], ["is", "event:page", ["/"]]]]]],
            (2, 2, 4),
        ),
    ],
)
async def test_filters(
    settings: Settings, client: TestClient, filters: list[object], expected: tuple[int, ...]
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["visitors", "visits", "events"], date_range=TWO_DAYS,
        filters=filters,
    )  # fmt: skip
    assert table(result) == [expected]
