"""`ot-admin goals` and `ot-admin stats query` through Typer's CliRunner on SQLite and PostgreSQL:
the same numbers as the Stats API, as a table or as v2 JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from ot.config import Settings, load_settings
from ot.models import Site
from ot.privacy import VisitorMode
from ot.server import create_app
from tests import support
from tests.stats_support import send, token_for
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_stats_engine import MONDAY, SHOP_HITS, TUESDAY

RANGE = f"--from {MONDAY} --to {TUESDAY}"


async def _shop(settings: Settings, mode: VisitorMode) -> Site:
    site = await support.make_site(settings, visitor_mode=mode)
    token = await token_for(settings, site.account_id)
    async with TestClient(TestServer(create_app(settings))) as client:
        await send(client, site, token, SHOP_HITS)
    return site


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, databases: support.DatabaseFactory
) -> Iterator[AdminDatabase]:
    """A fresh, migrated database on each backend, as in test_admin_cli; sync, because
    CliRunner runs the commands' `asyncio.run` in-process."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        database_url = support.run_sync(databases.sqlite(data_dir))
    else:
        if support.postgres_url() is None:
            pytest.skip(f"PostgreSQL tests need {support.POSTGRES_URL_VARIABLE}")
        database_url = support.run_sync(databases.postgres())
    yield AdminDatabase(
        support.installed(load_settings(data_dir=data_dir, database_url=database_url))
    )
    if database_url:
        support.run_sync(databases.drop_postgres(database_url))


@pytest.fixture
def shop(database: AdminDatabase) -> Site:
    """shop.example (cookie mode) with two days of known traffic (see test_stats_engine)."""
    site: Site = support.run_sync(_shop(database.settings, VisitorMode.COOKIE))
    return site


def test_stats_query_prints_a_table(database: AdminDatabase, shop: Site) -> None:
    output = ok(
        database.invoke(
            f"stats query shop.example --metrics visitors,pageviews --dimensions visit:browser "
            f"{RANGE} --order-by visit:browser:asc"
        )
    )
    # Rich draws the header between ┃ and the rows between │.
    lines = [line.replace("┃", "│") for line in output.splitlines() if line and line[0] in "┃│"]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]
    assert cells == [
        ["visit:browser", "visitors", "pageviews"],
        ["Chrome", "1", "1"],
        ["Firefox", "1", "3"],
        ["Safari", "1", "2"],
    ]
    assert f"shop.example, {MONDAY} to {TUESDAY}" in output


def table_cells(output: str) -> list[list[str]]:
    # Rich draws the header between ┃ and the rows between │.
    lines = [line.replace("┃", "│") for line in output.splitlines() if line and line[0] in "┃│"]
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]


def test_stats_query_prints_percentages_and_durations_with_their_units(
    database: AdminDatabase, shop: Site
) -> None:
    output = ok(
        database.invoke(
            f"stats query shop.example --metrics visitors,bounce_rate,visit_duration {RANGE}"
        )
    )
    # 3 people, 2 of 4 visits bounced, (180 + 0 + 120 + 0) / 4 s (see test_stats_engine).
    assert table_cells(output) == [
        ["visitors", "bounce_rate", "visit_duration"],
        ["3", "50 %", "1m 15s"],
    ]
    assert output.splitlines()[0] == f"shop.example, {MONDAY} to {TUESDAY}"


def test_site_summary_prints_units_and_plurals(database: AdminDatabase, shop: Site) -> None:
    text = ok(database.invoke("sites summary shop.example --period all"))
    assert "bounce rate 50 %   average visit 1m 15s" in text
    assert "/blog/one (2 visitors)" in text
    assert "/pricing (1 visitor)" in text


def test_stats_query_prints_v2_json(database: AdminDatabase, shop: Site) -> None:
    output = ok(
        database.invoke(
            f"stats query shop.example --metrics visitors,visits,bounce_rate {RANGE} "
            "--filter 'visit:browser==Firefox|Chrome' --json"
        )
    )
    answer = json.loads(output)
    assert answer["results"] == [{"metrics": [2, 3, 67], "dimensions": []}]
    assert answer["query"]["filters"] == [["is", "visit:browser", ["Firefox", "Chrome"]]]


def test_stats_query_shows_and_filters_empty_values_as_the_stats_api_does(
    database: AdminDatabase, shop: Site
) -> None:
    output = ok(
        database.invoke(
            f"stats query shop.example --dimensions visit:utm_source {RANGE} "
            "--order-by visit:utm_source:asc --json"
        )
    )
    assert json.loads(output)["results"] == [
        {"metrics": [2], "dimensions": ["(not set)"]},
        {"metrics": [1], "dimensions": ["newsletter"]},
    ]
    filtered = ok(
        database.invoke(
            f"stats query shop.example {RANGE} --filter 'visit:utm_source==(not set)' --json"
        )
    )
    assert json.loads(filtered)["results"] == [{"metrics": [2], "dimensions": []}]


def test_stats_query_takes_v2_json_filters_and_named_periods(
    database: AdminDatabase, shop: Site
) -> None:
    output = ok(
        database.invoke(
            "stats query 1 --metrics pageviews --period 7d "
            f'--date {TUESDAY} --filter \'["contains", "event:page", ["blog"]]\' --json'
        )
    )
    assert json.loads(output)["results"] == [{"metrics": [3], "dimensions": []}]


def test_a_cookieless_site_is_said_to_sum_daily_uniques(database: AdminDatabase) -> None:
    support.run_sync(_shop(database.settings, VisitorMode.COOKIELESS))
    output = ok(database.invoke(f"stats query shop.example {RANGE}"))
    assert "4" in output
    assert "note: This site is cookieless" in " ".join(output.split())


def browsers(output: str) -> list[str]:
    return [row["dimensions"][0] for row in json.loads(output)["results"]]


def test_stats_query_orders_by_a_bare_metric_biggest_first(
    database: AdminDatabase, shop: Site
) -> None:
    query = f"stats query shop.example --metrics pageviews --dimensions visit:browser {RANGE}"
    by_default = browsers(ok(database.invoke(f"{query} --order-by pageviews --json")))
    assert by_default == ["Firefox", "Safari", "Chrome"]  # 3, 2 and 1 pageviews
    assert browsers(ok(database.invoke(f"{query} --order-by pageviews:desc --json"))) == (
        by_default
    )
    assert browsers(ok(database.invoke(f"{query} --order-by pageviews:asc --json"))) == [
        "Chrome",
        "Safari",
        "Firefox",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            "--metrics clicks",
            '--metrics: unknown metric "clicks"; the metrics are visitors, visits, pageviews',
        ),
        ("--metrics vistors", '--metrics: unknown metric "vistors" (did you mean "visitors"?)'),
        (
            "--dimensions visit:sorce",
            '--dimensions: unknown dimension "visit:sorce" (did you mean "visit:source"?)',
        ),
        ("--dimensions time:day,time:week", "--dimensions: only one time dimension can be used"),
        (
            "--period last_week",
            '--period: unknown period "last_week"; the periods are realtime, day, 7d, 28d, 30d, '
            "91d, month, 6mo, 12mo, year, all, or give --from and --to",
        ),
        ("--period monht", '--period: unknown period "monht" (did you mean "month"?)'),
        (f"--from {MONDAY}", "give both --from and --to"),
        (
            f"--from 2026-13-01 --to {TUESDAY}",
            '--from: "2026-13-01" is not a day written YYYY-MM-DD',
        ),
        (
            f"--from {TUESDAY} --to {MONDAY}",
            f"--from {TUESDAY} is after --to {MONDAY}",
        ),
        ("--date yesterday", '--date: "yesterday" is not a day written YYYY-MM-DD'),
        (
            "--order-by visitors:down",
            "--order-by: expected NAME:asc or NAME:desc (e.g. visitors:desc), or NAME alone for "
            'desc, got "visitors:down"',
        ),
        (
            "--order-by pageviews",
            '--order-by: "pageviews" is neither a metric of --metrics nor a dimension of '
            "--dimensions (those are: visitors)",
        ),
        ("--order-by vistors", '(did you mean "visitors"?)'),
        ("--filter 'visit:browser~x'", "--filter: Invalid filter"),
        ("--filter '[\"is\", '", "is not valid JSON"),
    ],
)
def test_bad_stats_queries_are_refused_in_one_line(
    database: AdminDatabase, shop: Site, arguments: str, message: str
) -> None:
    assert message in refused(database.invoke(f"stats query shop.example {arguments}"), 2)


def test_stats_query_for_an_unknown_site(database: AdminDatabase) -> None:
    assert "does not exist" in refused(database.invoke("stats query nowhere.example"), 2)


def test_a_cookieless_query_over_more_than_500_days_prints_its_table(
    database: AdminDatabase,
) -> None:
    support.run_sync(_shop(database.settings, VisitorMode.COOKIELESS))
    output = ok(
        database.invoke(
            "stats query shop.example --metrics visitors,pageviews --from 2025-01-05 "
            "--to 2026-12-06 --filter 'visit:browser==Firefox' --json"
        )
    )
    assert json.loads(output)["results"][0]["dimensions"] == []


async def _rename_a_table(settings: Settings) -> None:
    """A table the query reads goes missing, as in a half-restored database."""
    async with support.helper_engine(settings) as engine, engine.begin() as connection:
        await connection.execute(text("ALTER TABLE rollup_progress RENAME TO moved_away"))


def test_a_database_failure_during_a_query_is_one_line_not_a_traceback(
    database: AdminDatabase, shop: Site
) -> None:
    support.run_sync(_rename_a_table(database.settings))
    message = refused(database.invoke("stats query shop.example"), exit_code=1)  # failed
    assert message.startswith("error: the database could not answer the query (")
    assert "rollup_progress" in message


# --- goals -------------------------------------------------------------------------------------


def test_goals_are_added_listed_used_and_removed(database: AdminDatabase, shop: Site) -> None:
    assert ok(database.invoke("goals add shop.example --event Signup")) == (
        "goal 'Signup' added (event Signup)\n"
    )
    ok(database.invoke("goals add shop.example --page '/blog/**' --name 'Read the blog'"))
    listed: list[dict[str, Any]] = json.loads(ok(database.invoke("goals list shop.example --json")))
    assert listed == [
        {"name": "Signup", "kind": "event", "target": "Signup"},
        {"name": "Read the blog", "kind": "page", "target": "/blog/**"},
    ]
    answer = json.loads(
        ok(
            database.invoke(
                f"stats query shop.example --metrics visitors,conversion_rate "
                f"--dimensions event:goal {RANGE} --json"
            )
        )
    )
    assert answer["results"] == [
        {"metrics": [2, 66.67], "dimensions": ["Read the blog"]},
        {"metrics": [1, 33.33], "dimensions": ["Signup"]},
    ]
    assert ok(database.invoke("goals remove shop.example Signup")) == "goal 'Signup' removed\n"
    assert ok(database.invoke("goals list shop.example")) == (
        "name\tkind\ttarget\nRead the blog\tpage\t/blog/**\n"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("--event Signup --page /thanks", "either a page"),
        ("", "either a page"),
        ("--page thanks", "must start with '/'"),
        ("--event ' '", "must not be blank"),
    ],
)
def test_bad_goals_are_refused_and_change_nothing(
    database: AdminDatabase, shop: Site, arguments: str, message: str
) -> None:
    before = database.snapshot()
    assert message in refused(database.invoke(f"goals add shop.example {arguments}"), 2)
    assert database.snapshot() == before


def test_a_goal_name_is_unique_per_site(database: AdminDatabase, shop: Site) -> None:
    ok(database.invoke("goals add shop.example --event Signup"))
    assert "already has a goal named 'Signup'" in refused(
        database.invoke("goals add shop.example --event Signup")
    )
    assert "has no goal named 'Nope'" in refused(database.invoke("goals remove shop.example Nope"))


def test_a_stats_query_past_its_time_budget_is_stopped_and_said_in_one_line(
    database: AdminDatabase,
) -> None:
    """Heavy by its data (20,000 hits in 480 hourly buckets), against a budget of 1 ms."""
    from tests.test_stats_budget import busy_hits, hourly_range

    site: Site = support.run_sync(support.make_site(database.settings))
    support.run_sync(busy_hits(database.settings, site))
    first, last = hourly_range()
    line = refused(
        database.invoke(
            f"stats query shop.example --from {first} --to {last} --dimensions time:hour "
            """--filter '["contains", "event:page", ["/p/"]]'""",
            OT_STATS__QUERY_TIMEOUT_SECONDS="0.001",
        ),
        exit_code=1,
    )
    assert line.startswith("error: the query took longer than 0.001 s and was stopped")
