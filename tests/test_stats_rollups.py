"""The stats engine answers from rollups exactly what it answers from the raw tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.config import Settings
from ot.models import GoalKind, Site
from ot.privacy import VisitorMode
from ot.stats.engine import QueryResult, run_query
from ot.stats.goals import add_goal, literal_starts
from ot.stats.query import parse_query
from tests import support
from tests.generated_hits import Engines, hit, roll, store, traffic

FIRST_DAY = date(2026, 9, 1)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(70)]
NOW = datetime(2026, 11, 10, 9, tzinfo=UTC)  # the rollups are complete through this day
ZONE = "America/New_York"  # with a DST change on 2026-11-01 inside the ranges


QUERIES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                 "visit_duration", "events"], "date_range": "30d",
     "include": {"comparisons": {"mode": "previous_period"}}},
    {"metrics": ["visitors", "pageviews", "visits"], "date_range": "30d",
     "dimensions": ["time:day"]},
    {"metrics": ["visitors", "pageviews"], "date_range": "6mo", "dimensions": ["time:week"]},
    {"metrics": ["visitors", "bounce_rate"], "date_range": "12mo", "dimensions": ["time:month"]},
    {"metrics": ["visitors", "pageviews", "visits"], "date_range": "30d",
     "dimensions": ["event:page"], "pagination": {"limit": 3}},
    {"metrics": ["visitors", "pageviews"], "date_range": "30d", "dimensions": ["event:page"],
     "pagination": {"limit": 2, "offset": 2}, "include": {"total_rows": True}},
    {"metrics": ["pageviews", "visitors"], "date_range": "7d", "dimensions": ["event:page"],
     "order_by": [["pageviews", "asc"]]},
    {"metrics": ["visitors", "visits", "bounce_rate", "visit_duration"], "date_range": "30d",
     "dimensions": ["visit:entry_page"], "pagination": {"limit": 10}},
    {"metrics": ["visitors", "visits"], "date_range": "30d", "dimensions": ["visit:exit_page"]},
    {"metrics": ["visitors", "percentage"], "date_range": "30d",
     "dimensions": ["visit:source"], "include": {"totals": True}},
    {"metrics": ["visitors"], "date_range": "month", "dimensions": ["visit:utm_campaign"]},
    {"metrics": ["visitors", "visits"], "date_range": "30d", "dimensions": ["visit:country"],
     "include": {"comparisons": {"mode": "previous_period"}}},
    {"metrics": ["visitors"], "date_range": "30d", "dimensions": ["visit:browser"]},
    {"metrics": ["visitors"], "date_range": "30d", "dimensions": ["visit:device", "time:week"]},
    {"metrics": ["visitors", "events", "conversion_rate"], "date_range": "30d",
     "dimensions": ["event:goal"]},
    {"metrics": ["visitors", "conversion_rate"], "date_range": "30d",
     "dimensions": ["event:goal", "time:week"]},
    {"metrics": ["events", "visitors"], "date_range": "30d", "dimensions": ["event:name"]},
    {"metrics": ["visitors"], "date_range": ["2026-09-20", "2026-10-19"],
     "dimensions": ["event:hostname"]},
]  # fmt: skip


async def _site(settings: Settings, domain: str, mode: VisitorMode) -> Site:
    site = await support.make_site(settings, domain, timezone=ZONE, visitor_mode=mode)
    engine = support.create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            assert site.id is not None
            for name, kind, target in [
                ("Signup", GoalKind.EVENT, "Signup"),
                ("Outbound", GoalKind.EVENT, "Outbound Link: Click"),
                ("Pricing", GoalKind.PAGE, "/pricing"),
                ("Blog", GoalKind.PAGE, "/blog/**"),
            ]:
                where = {"page": target} if kind == GoalKind.PAGE else {"event": target}
                await add_goal(
                    session, site.id, display_name=name, actor=support.TEST_OPERATOR, **where
                )
            await session.commit()
    finally:
        await engine.dispose()
    return site


async def _answer(
    engines: Engines, site: Site, body: dict[str, Any], rollups: bool, now: datetime = NOW
) -> QueryResult:
    query = parse_query({"site_id": site.domain, **body})
    async with engines.reader.connect() as connection:
        return await run_query(connection, site, query, now=now, use_rollups=rollups)


def _shape(result: QueryResult) -> Any:
    return (
        [(r.dimensions, r.metrics, r.comparison) for r in result.rows],
        result.totals,
        result.total_rows,
        result.visitors_are_daily_sums,
    )


@pytest.mark.parametrize("mode", [VisitorMode.COOKIE, VisitorMode.COOKIELESS])
async def test_every_dashboard_query_is_the_same_from_rollups_and_from_raw_tables(
    settings: Settings, engines: Engines, mode: VisitorMode
) -> None:
    site = await _site(settings, "shop.example", mode)
    await store(engines, traffic(site.id or 0, seed=11, days=DAYS, visitors=40, zone_name=ZONE))
    await roll(engines, NOW)
    raw = [_shape(await _answer(engines, site, body, rollups=False)) for body in QUERIES]
    rolled = [_shape(await _answer(engines, site, body, rollups=True)) for body in QUERIES]
    for body, want, got in zip(QUERIES, raw, rolled, strict=True):
        assert want[0], f"the query has rows: {body}"
        assert got == want, body
    # Proof that the rollups answered: with the raw tables emptied, nothing changes.
    async with engines.writer.begin() as connection:
        await connection.execute(text("DELETE FROM hit"))
        await connection.execute(text("DELETE FROM visit"))
    again = [_shape(await _answer(engines, site, body, rollups=True)) for body in QUERIES]
    assert again == rolled


async def test_a_range_past_the_rollups_reads_the_raw_tables(
    settings: Settings, engines: Engines
) -> None:
    site = await _site(settings, "shop.example", VisitorMode.COOKIE)
    await store(engines, traffic(site.id or 0, seed=5, days=DAYS, visitors=10, zone_name=ZONE))
    await roll(engines, NOW - timedelta(days=20))  # complete only through late October
    body = {"metrics": ["visitors", "pageviews"], "date_range": "30d"}
    assert _shape(await _answer(engines, site, body, rollups=True)) == _shape(
        await _answer(engines, site, body, rollups=False)
    )


async def test_filtered_and_hourly_queries_read_the_raw_tables_and_agree(
    settings: Settings, engines: Engines
) -> None:
    site = await _site(settings, "shop.example", VisitorMode.COOKIE)
    await store(engines, traffic(site.id or 0, seed=7, days=DAYS, visitors=10, zone_name=ZONE))
    await roll(engines, NOW)
    for body in [
        {"metrics": ["visitors"], "date_range": "30d", "dimensions": ["event:page"],
         "filters": [["is", "visit:country", ["NL"]]]},
        {"metrics": ["visitors"], "date_range": "day", "dimensions": ["time:hour"]},
        {"metrics": ["visitors"], "date_range": "30d",
         "dimensions": ["visit:country", "visit:device"]},
    ]:  # fmt: skip
        assert _shape(await _answer(engines, site, body, rollups=True)) == _shape(
            await _answer(engines, site, body, rollups=False)
        )


async def test_goals_and_rollup_progress_are_read_afresh_for_every_query(
    settings: Settings, engines: Engines
) -> None:
    site = await _site(settings, "shop.example", VisitorMode.COOKIE)
    await store(engines, traffic(site.id or 0, seed=3, days=DAYS, visitors=10, zone_name=ZONE))
    goals = {"metrics": ["visitors", "conversion_rate"], "date_range": "30d",
             "dimensions": ["event:goal"]}  # fmt: skip
    before = await _answer(engines, site, goals, rollups=True)
    engine = support.create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            await add_goal(
                session, site.id or 0, display_name="Home", page="/", actor=support.TEST_OPERATOR
            )
            await session.commit()
    finally:
        await engine.dispose()
    after = await _answer(engines, site, goals, rollups=True)
    assert "Home" not in {row.dimensions[0] for row in before.rows}
    assert "Home" in {row.dimensions[0] for row in after.rows}
    # Not rolled yet: the raw tables answer. Once rolled, the rollups do at once (the raw
    # tables are emptied to prove it).
    overview = {"metrics": ["visitors", "pageviews"], "date_range": "30d"}
    raw = await _answer(engines, site, overview, rollups=True)
    await roll(engines, NOW)
    async with engines.writer.begin() as connection:
        await connection.execute(text("DELETE FROM hit"))
        await connection.execute(text("DELETE FROM visit"))
    rolled = await _answer(engines, site, overview, rollups=True)
    assert raw.totals[0] > 0
    assert _shape(rolled) == _shape(raw)


async def test_page_goals_count_only_the_pages_their_patterns_match_not_all_that_start_alike(
    settings: Settings, engines: Engines
) -> None:
    # The rollups read only pages starting with a pattern's literal start ("/blog" for
    # "/blog"), then match each: "/blog/a" starts like "/blog" but is not that page.
    site = await support.make_site(settings, "shop.example", timezone=ZONE)
    engine = support.create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            for name, page in [
                ("Blog index", "/blog"),
                ("Top level", "/*"),
                ("Docs x", "/d*/x"),
                ("Pricing", "/pricing"),
                ("P anything", "/p**"),
            ]:
                await add_goal(
                    session, site.id or 0, display_name=name, page=page, actor=support.TEST_OPERATOR
                )
            await session.commit()
    finally:
        await engine.dispose()
    await store(engines, traffic(site.id or 0, seed=13, days=DAYS, visitors=20, zone_name=ZONE))
    await roll(engines, NOW)
    body = {"metrics": ["visitors", "events", "conversion_rate"], "date_range": "30d",
            "dimensions": ["event:goal"]}  # fmt: skip
    raw = _shape(await _answer(engines, site, body, rollups=False))
    assert _shape(await _answer(engines, site, body, rollups=True)) == raw
    # "/", "/pricing" and "/signup" are top level; no page is "/blog" itself.
    counted = {row[0][0] for row in raw[0]}
    assert counted == {"Top level", "Docs x", "Pricing", "P anything"}


def test_a_page_patterns_literal_start_ends_at_its_first_wildcard() -> None:
    assert literal_starts(["/blog/**", "/pricing", "/docs/*/intro"]) == [
        "/blog/",
        "/docs/",
        "/pricing",
    ]
    # A start another one covers adds nothing.
    assert literal_starts(["/p**", "/pricing", "/p"]) == ["/p"]
    assert literal_starts(["/**", "/blog/**"]) == ["/"]


# Queries over today and ranges that end today, as a dashboard sends them while hits arrive.
TODAY_QUERIES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "pageviews", "visits", "bounce_rate", "visit_duration"],
     "date_range": "day"},
    {"metrics": ["visitors", "pageviews"], "date_range": "day", "dimensions": ["time:hour"]},
    {"metrics": ["visitors", "events", "pageviews"], "date_range": "day",
     "dimensions": ["event:name"]},
    {"metrics": ["visitors", "pageviews"], "date_range": "day", "dimensions": ["event:page"]},
    {"metrics": ["visitors", "pageviews", "visits"], "date_range": "7d"},
    {"metrics": ["visitors", "pageviews"], "date_range": "7d", "dimensions": ["time:day"]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "date_range": "7d",
     "dimensions": ["visit:exit_page"]},
    {"metrics": ["visitors", "visits"], "date_range": "month", "dimensions": ["event:page"],
     "pagination": {"limit": 3}, "include": {"total_rows": True}},
]  # fmt: skip


@pytest.mark.parametrize("mode", [VisitorMode.COOKIE, VisitorMode.COOKIELESS])
async def test_every_query_agrees_with_the_raw_tables_while_hits_arrive_after_a_rollup_run(
    settings: Settings, engines: Engines, mode: VisitorMode
) -> None:
    site = await _site(settings, "shop.example", mode)
    site_id = site.id or 0
    zone = ZoneInfo(ZONE)
    today = NOW.astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    late = datetime(yesterday.year, yesterday.month, yesterday.day, 23, 50, tzinfo=zone)
    await store(engines, traffic(site_id, seed=17, days=DAYS, visitors=25, zone_name=ZONE))
    await store(engines, [hit(site_id, 1001, late, "/")])
    await roll(engines, NOW)  # complete through today: nothing of today has arrived yet
    # Then, before the next run, today's hits: people seen before and new ones, and one who
    # goes on with yesterday's late visit (which changes yesterday's figures too).
    morning = datetime(today.year, today.month, today.day, 5, tzinfo=zone)
    arrived = [
        hit(site_id, visitor, morning + timedelta(minutes=7 * n), page, referrer_source=source)
        for n, (visitor, page, source) in enumerate(
            [(1, "/", "Google"), (2, "/pricing", "Twitter"), (1, "/signup", "Google"),
             (2001, "/", "Direct / None"), (2002, "/blog/a", "Google"), (3, "/", "Google")]
        )
    ] + [hit(site_id, 1001, late + timedelta(minutes=25), "/pricing")]  # fmt: skip
    await store(engines, sorted(arrived, key=lambda h: h.timestamp))
    later = NOW + timedelta(hours=4)
    for moment in ("before the next run", "after it"):
        for body in QUERIES + TODAY_QUERIES:
            want = _shape(await _answer(engines, site, body, rollups=False, now=later))
            got = _shape(await _answer(engines, site, body, rollups=True, now=later))
            assert got == want, (moment, body)
        day = await _answer(engines, site, TODAY_QUERIES[0], rollups=True, now=later)
        hourly = await _answer(engines, site, TODAY_QUERIES[1], rollups=True, now=later)
        names = await _answer(engines, site, TODAY_QUERIES[2], rollups=True, now=later)
        # The same day in three shapes, the same pageviews: six this morning, and the page the
        # late visit went on to after midnight.
        pageviews = day.rows[0].metrics[1]
        assert pageviews == 7, moment
        assert sum(row.metrics[1] for row in hourly.rows) == pageviews
        assert sum(row.metrics[2] for row in names.rows) == pageviews
        await roll(engines, later)
    # Proof that the rollups answer once the run has rolled today: the raw tables are emptied.
    # (Hourly series always read the raw tables.)
    rolled = [body for body in TODAY_QUERIES if "time:hour" not in body.get("dimensions", [])]
    answers = [_shape(await _answer(engines, site, body, True, later)) for body in rolled]
    async with engines.writer.begin() as connection:
        await connection.execute(text("DELETE FROM hit"))
        await connection.execute(text("DELETE FROM visit"))
    assert [_shape(await _answer(engines, site, body, True, later)) for body in rolled] == answers


# A live site whose top lists today's hits reorder: page /pNN was seen by NN people over the
# last weeks (one visit each); today 20 newcomers see /launch, four people known from /p10 see
# /p17 for the first time, and three of /p18's own visitors come back to it.
LIVE_TOPS: list[dict[str, Any]] = [
    {"metrics": ["visitors", "pageviews"], "date_range": "30d", "dimensions": ["event:page"],
     "pagination": {"limit": 10}, "include": {"total_rows": True}},
    {"metrics": ["visitors", "visits", "bounce_rate"], "date_range": "30d",
     "dimensions": ["visit:entry_page"], "pagination": {"limit": 10}},
    {"metrics": ["visitors", "visits"], "date_range": "7d", "dimensions": ["event:page"],
     "pagination": {"limit": 10}},
    # The one filter a rolled query may have (Plausible's v1 breakdowns add it), on both paths:
    # ranked by visitors, and not.
    {"metrics": ["visitors"], "date_range": "30d", "dimensions": ["visit:utm_campaign"],
     "filters": [["is_not", "visit:utm_campaign", [""]]], "pagination": {"limit": 10}},
    {"metrics": ["visits", "visitors"], "date_range": "30d", "dimensions": ["visit:utm_campaign"],
     "filters": [["is_not", "visit:utm_campaign", [""]]]},
]  # fmt: skip


async def _live_site(settings: Settings, engines: Engines) -> Site:
    """The site of LIVE_TOPS, rolled up before today's hits arrived."""
    site = await _site(settings, "shop.example", VisitorMode.COOKIE)
    site_id = site.id or 0
    zone = ZoneInfo(ZONE)
    today = NOW.astimezone(zone).date()
    past = []
    for number in range(1, 26):
        for person in range(number):
            day = today - timedelta(days=1 + person % 20)
            moment = datetime(day.year, day.month, day.day, 10, number, tzinfo=zone)
            past.append(hit(site_id, 1000 * number + person, moment, f"/p{number:02}"))
    await store(engines, sorted(past, key=lambda h: h.timestamp))
    await roll(engines, NOW)
    morning = datetime(today.year, today.month, today.day, 1, tzinfo=zone)
    arrived = [
        *(
            hit(site_id, 90_000 + n, morning + timedelta(minutes=n), "/launch", utm_campaign="go")
            for n in range(20)
        ),
        *(hit(site_id, 10_000 + n, morning + timedelta(minutes=30 + n), "/p17") for n in range(4)),
        *(hit(site_id, 18_000 + n, morning + timedelta(minutes=40 + n), "/p18") for n in range(3)),
    ]
    await store(engines, sorted(arrived, key=lambda h: h.timestamp))
    return site


async def test_a_live_top_list_is_the_raw_tables_answer_when_todays_hits_change_its_ranking(
    settings: Settings, engines: Engines
) -> None:
    site = await _live_site(settings, engines)
    later = NOW + timedelta(hours=4)
    for body in LIVE_TOPS:
        want = _shape(await _answer(engines, site, body, rollups=False, now=later))
        assert want[0], f"the query has rows: {body}"
        assert _shape(await _answer(engines, site, body, rollups=True, now=later)) == want, body
    pages = await _answer(engines, site, LIVE_TOPS[0], rollups=True, now=later)
    visitors = {row.dimensions[0]: row.metrics[0] for row in pages.rows}
    # A page only today's newcomers saw enters the ten; known people new to /p17 count, /p18's
    # returning ones do not; /p16 drops out.
    assert visitors["/launch"] == 20
    assert visitors["/p17"] == 21
    assert visitors["/p18"] == 18
    assert "/p16" not in visitors
    assert pages.total_rows == 26


async def test_a_live_top_list_costs_one_statement_more_than_a_rolled_one(
    settings: Settings, engines: Engines
) -> None:
    # Today's hits are read in one statement and ranked with the rolled days in SQL: no reading
    # of every value's sums, no second look at today's visitors.
    site = await _live_site(settings, engines)
    later = NOW + timedelta(hours=4)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async def statements_of(body: dict[str, Any]) -> int:
        statements.clear()
        event.listen(engines.reader.sync_engine, "before_cursor_execute", count)
        try:
            await _answer(engines, site, body, rollups=True, now=later)
        finally:
            event.remove(engines.reader.sync_engine, "before_cursor_execute", count)
        return len(statements)

    live = [await statements_of(body) for body in LIVE_TOPS]
    await roll(engines, later)
    rolled = [await statements_of(body) for body in LIVE_TOPS]
    for body, when_live, when_rolled in zip(LIVE_TOPS, live, rolled, strict=True):
        assert when_live <= when_rolled + 1, body
