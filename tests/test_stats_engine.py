"""The stats engine (`ot.stats.engine.run_query`) on SQLite and PostgreSQL, on hits stored
through the real ingest path: every metric, dimension, filter, range and bucket with exact
numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    Visitor,
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
        CAROL,
        at(f"{TUESDAY} 09:00"),
        "/pricing",
        query="utm_source=newsletter&utm_medium=email&utm_campaign=spring&utm_content=banner"
        "&utm_term=shoes",
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
        ("visit:utm_source", [("(not set)", 2, 3), ("newsletter", 1, 1)]),
        ("visit:utm_medium", [("(not set)", 2, 3), ("email", 1, 1)]),
        ("visit:utm_campaign", [("(not set)", 2, 3), ("spring", 1, 1)]),
        ("visit:utm_content", [("(not set)", 2, 3), ("banner", 1, 1)]),
        ("visit:utm_term", [("(not set)", 2, 3), ("shoes", 1, 1)]),
        ("visit:country", [("US", 1, 1)]),  # unknown places are left out
        ("visit:referrer", [("Direct / None", 3, 3), ("https://www.google.com/search", 1, 1)]),
        ("visit:browser_version", [("120.0", 1, 1), ("121.0", 1, 2), ("17.2", 1, 1)]),
        ("visit:os_version", [("(not set)", 1, 2), ("10", 1, 1), ("17.2", 1, 1)]),
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


async def test_a_pattern_that_backtracks_forever_in_python_answers_at_once(
    settings: Settings, client: TestClient
) -> None:
    # With Python's backtracking `re` behind SQLite's REGEXP, "(a+)+$" against this path would
    # take longer than the universe has existed, holding the process (collector included).
    # RE2 matches in time linear in the path.
    site = await make_site(settings)
    token = await token_for(settings, site.account_id)
    long_path = "/" + "a" * 2000 + "!"
    await send(client, site, token, [pageview(ALICE, at(f"{MONDAY} 10:00"), long_path)])
    for pattern, visitors in [("^/(a+)+$", 0), ("^/(a+)+!$", 1)]:
        result = await query(
            settings, site, metrics=["visitors"], date_range=TWO_DAYS,
            filters=[["matches", "event:page", [pattern]]],
        )  # fmt: skip
        assert table(result) == [(visitors,)], pattern


# --- time: the site's zone, buckets, ranges --------------------------------------------------

NEW_YORK_FALL_BACK = [  # 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST
    pageview(ALICE, at("2026-10-31 03:30"), "/"),  # Oct 30, 23:30 EDT
    pageview(ALICE, at("2026-11-01 04:30"), "/"),  # Nov 1, 00:30 EDT
    pageview(BOB, at("2026-11-01 05:30"), "/"),  # 01:30 EDT
    pageview(CAROL, at("2026-11-01 06:30"), "/"),  # 01:30 EST, the hour again
    pageview(BOB, at("2026-11-02 04:30"), "/"),  # Nov 1, 23:30 EST: a day of 25 hours
    pageview(CAROL, at("2026-11-02 05:30"), "/"),  # Nov 2, 00:30 EST
]


async def new_york(settings: Settings, client: TestClient, hits: list[dict[str, object]]) -> Site:
    site = await make_site(settings, timezone="America/New_York")
    await send(client, site, await token_for(settings, site.account_id), hits)
    return site


async def test_days_are_the_sites_local_days_across_a_dst_change(
    settings: Settings, client: TestClient
) -> None:
    site = await new_york(settings, client, NEW_YORK_FALL_BACK)
    result = await query(
        settings, site, metrics=["pageviews"], date_range=["2026-10-31", "2026-11-02"],
        dimensions=["time:day"], include={"time_labels": True},
    )  # fmt: skip
    assert table(result) == [("2026-11-01", 4), ("2026-11-02", 1)]
    assert result.time_labels == ["2026-10-31", "2026-11-01", "2026-11-02"]


async def test_the_repeated_autumn_hour_is_one_bucket(
    settings: Settings, client: TestClient
) -> None:
    site = await new_york(settings, client, NEW_YORK_FALL_BACK)
    result = await query(
        settings, site, metrics=["pageviews"], date_range=["2026-11-01", "2026-11-01"],
        dimensions=["time:hour"], include={"time_labels": True},
    )  # fmt: skip
    assert table(result) == [
        ("2026-11-01 00:00:00", 1),
        ("2026-11-01 01:00:00", 2),
        ("2026-11-01 23:00:00", 1),
    ]
    assert result.time_labels is not None and len(result.time_labels) == 24


async def test_the_skipped_spring_hour_has_no_bucket(
    settings: Settings, client: TestClient
) -> None:
    hits = [
        pageview(ALICE, at("2026-03-08 06:30"), "/"),  # 01:30 EST
        pageview(BOB, at("2026-03-08 07:30"), "/"),  # 03:30 EDT: 02:00 never happened
    ]
    site = await new_york(settings, client, hits)
    result = await query(
        settings, site, metrics=["pageviews"], date_range=["2026-03-08", "2026-03-08"],
        dimensions=["time"], include={"time_labels": True},
    )  # fmt: skip
    assert table(result) == [("2026-03-08 01:00:00", 1), ("2026-03-08 03:00:00", 1)]
    assert result.time_labels is not None and len(result.time_labels) == 23
    assert "2026-03-08 02:00:00" not in result.time_labels


async def test_weeks_and_months_start_on_monday_and_the_first(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    weeks = await query(
        settings, site, metrics=["pageviews"], date_range=["2026-05-01", "2026-05-31"],
        dimensions=["time:week"],
    )  # fmt: skip
    assert table(weeks) == [("2026-05-04", 6)]
    months = await query(
        settings, site, metrics=["pageviews"], date_range="6mo", date="2026-06-15",
        dimensions=["time"], include={"time_labels": True},
    )  # fmt: skip
    assert table(months) == [("2026-05-01", 6)]
    assert months.time_labels == [f"2026-{m:02}-01" for m in range(1, 7)]


@pytest.mark.parametrize(
    ("date_range", "relative_date", "pageviews"),
    [
        ("day", TUESDAY, 3),
        ("day", MONDAY, 3),
        ("7d", TUESDAY, 6),
        ("7d", "2026-05-11", 3),  # May 5 to 11
        ("month", "2026-05-31", 6),
        ("month", "2026-06-01", 0),
        ("year", "2026-12-31", 6),
        ("all", None, 6),
    ],
)
async def test_named_ranges_end_at_the_given_date(
    settings: Settings,
    client: TestClient,
    date_range: str,
    relative_date: str | None,
    pageviews: int,
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    body: dict[str, object] = {"metrics": ["pageviews"], "date_range": date_range}
    if relative_date:
        body["date"] = relative_date
    assert table(await query(settings, site, **body)) == [(pageviews,)]


async def test_realtime_counts_visitors_of_the_last_five_minutes(
    settings: Settings, client: TestClient
) -> None:
    site = await make_site(settings)
    token = await token_for(settings, site.account_id)
    now = datetime.now(UTC).replace(microsecond=0)
    await send(
        client,
        site,
        token,
        [
            pageview(ALICE, now - timedelta(minutes=1), "/"),
            pageview(BOB, now - timedelta(minutes=4), "/"),
            pageview(CAROL, now - timedelta(minutes=6), "/"),
        ],
    )
    result = await query(settings, site, now=now, metrics=["visitors"], date_range="realtime")
    assert table(result) == [(2,)]


# --- order, pages, totals, comparison --------------------------------------------------------


async def test_order_pagination_and_total_rows(settings: Settings, client: TestClient) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    body: dict[str, object] = {
        "metrics": ["pageviews"],
        "date_range": TWO_DAYS,
        "dimensions": ["event:page"],
        "order_by": [["pageviews", "asc"], ["event:page", "desc"]],
        "include": {"total_rows": True, "totals": True},
    }
    everything = await query(settings, site, **body)
    assert table(everything) == [("/pricing", 1), ("/blog/two", 1), ("/blog/one", 2), ("/", 2)]
    page = await query(settings, site, **body, pagination={"limit": 2, "offset": 1})
    assert table(page) == [("/blog/two", 1), ("/blog/one", 2)]
    assert page.total_rows == 4
    assert page.totals == [6]


async def test_comparison_with_the_previous_period(settings: Settings, client: TestClient) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["visitors", "bounce_rate"], date_range=[TUESDAY, TUESDAY],
        dimensions=["visit:browser"], include={"comparisons": {"mode": "previous_period"}},
        order_by=[["visit:browser", "asc"]],
    )  # fmt: skip
    assert result.comparison_range is not None
    assert result.comparison_range.first_day.isoformat() == MONDAY
    compared = [(r.dimensions, r.metrics, r.comparison) for r in result.rows]
    firefox, safari = compared
    assert firefox[:2] == (["Firefox"], [1, 100])
    assert firefox[2] is not None and firefox[2].metrics == [1, 0]
    assert firefox[2].change == [0, 100]  # bounce rate: the difference in points
    assert safari[2] is not None and (safari[2].metrics, safari[2].change) == ([0, 0], [100, 0])


async def test_comparison_matches_time_buckets_by_position(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["pageviews"], date_range=[TUESDAY, TUESDAY],
        dimensions=["time:day"], include={"comparisons": {"mode": "previous_period"}},
    )  # fmt: skip
    [row] = result.rows
    assert row.comparison is not None
    assert (row.comparison.dimensions, row.comparison.metrics) == ([MONDAY], [3])


# --- goals ------------------------------------------------------------------------------------


async def test_goals_count_conversions_and_conversion_rate(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    token = await token_for(settings, site.account_id, "more")
    await send(
        client,
        site,
        token,
        [
            outbound_click(CAROL, at(f"{TUESDAY} 09:01"), "https://elsewhere.example/"),
            custom_event(BOB, at(f"{MONDAY} 11:01"), "404", "/missing"),
        ],
    )
    await goal(settings, site, page="/blog/**", display_name="Read the blog")
    await goal(settings, site, event="Signup")
    await goal(settings, site, event="Outbound Link: Click")
    await goal(settings, site, event="404", display_name="Page not found")
    await goal(settings, site, page="/nowhere")
    result = await query(
        settings, site, metrics=["visitors", "events", "conversion_rate"], date_range=TWO_DAYS,
        dimensions=["event:goal"],
    )  # fmt: skip
    # 3 visitors in all: Alice and Bob read the blog (3 pageviews), Alice signed up, Carol left
    # through a link, Bob hit a missing page.
    assert table(result) == [
        ("Read the blog", 2, 3, 66.67),
        ("Outbound Link: Click", 1, 1, 33.33),
        ("Page not found", 1, 1, 33.33),
        ("Signup", 1, 1, 33.33),
    ]
    filtered = await query(
        settings, site, metrics=["visitors", "conversion_rate"], date_range=TWO_DAYS,
        filters=[["is", "event:goal", ["Signup"]]],
    )  # fmt: skip
    assert table(filtered) == [(1, 33.33)]
    by_source = await query(
        settings, site, metrics=["visitors"], date_range=TWO_DAYS, dimensions=["visit:source"],
        filters=[["contains", "event:goal", ["blog"]]],
    )  # fmt: skip
    assert table(by_source) == [("Direct / None", 2), ("Google", 1)]


async def test_a_page_goal_pattern_star_stays_within_one_segment(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    await goal(settings, site, page="/blog/*", display_name="Post")
    await goal(settings, site, page="/*", display_name="Top level")
    result = await query(
        settings, site, metrics=["events"], date_range=TWO_DAYS, dimensions=["event:goal"]
    )
    # "/" and "/pricing" are top level; the two posts are not.
    assert table(result) == [("Post", 3), ("Top level", 3)]


async def test_conversion_rate_per_day_divides_by_that_days_visitors(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    await goal(settings, site, page="/blog/**", display_name="Read the blog")
    result = await query(
        settings, site, metrics=["visitors", "conversion_rate"], date_range=TWO_DAYS,
        dimensions=["time:day"], filters=[["is", "event:goal", ["Read the blog"]]],
        include={"totals": True},
    )  # fmt: skip
    # Monday: Alice and Bob of 2 read; Tuesday: Alice of Alice and Carol. Overall 2 of 3.
    assert table(result) == [(MONDAY, 2, 100.0), (TUESDAY, 1, 50.0)]
    assert result.totals == [2, 66.67]


async def test_a_range_of_date_times(settings: Settings, client: TestClient) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["pageviews", "events"],
        date_range=[f"{MONDAY}T12:00:00+02:00", f"{MONDAY}T12:59:59+02:00"],
    )  # fmt: skip
    # 10:00 to 10:59 UTC: Alice's two pageviews and her signup.
    assert table(result) == [(2, 3)]


def crowd(size: int, days: int) -> list[dict[str, object]]:
    """`size` people, each with one pageview on each of `days` consecutive days."""
    people = [
        Visitor(f"198.51.{index // 250}.{index % 250 + 1}", ALICE.user_agent, f"{index:016x}")
        for index in range(size)
    ]
    return [
        pageview(person, at(f"2026-05-0{day + 1} 12:00"), "/")
        for day in range(days)
        for person in people
    ]


@pytest.mark.parametrize(
    ("mode", "visitors"), [(VisitorMode.COOKIE, 300), (VisitorMode.COOKIELESS, 900)]
)
async def test_unique_visitors_over_a_range_are_exact_not_estimated(
    settings: Settings, client: TestClient, mode: VisitorMode, visitors: int
) -> None:
    site = await make_site(settings, visitor_mode=mode)
    await send(client, site, await token_for(settings, site.account_id), crowd(300, 3))
    result = await query(
        settings, site, metrics=["visitors", "visits"], date_range=["2026-05-01", "2026-05-03"]
    )
    # Cookie ids link a person's three days; cookieless ids cannot, so the days are summed.
    assert table(result) == [(visitors, 900)]
    per_day = await query(
        settings, site, metrics=["visitors"], date_range=["2026-05-01", "2026-05-03"],
        dimensions=["time:day"],
    )  # fmt: skip
    assert [row[1] for row in table(per_day)] == [300, 300, 300]


async def test_a_year_of_days_is_one_query_on_both_databases(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    result = await query(
        settings, site, metrics=["pageviews"], date_range="12mo", date=TUESDAY,
        dimensions=["time:day"], include={"time_labels": True},
    )  # fmt: skip
    assert table(result) == [(MONDAY, 3), (TUESDAY, 3)]
    assert result.time_labels is not None and len(result.time_labels) == 365  # Jun 1 to May 31
