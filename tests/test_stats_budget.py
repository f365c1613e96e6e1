"""Every stats query has a time budget (`OT_STATS__QUERY_TIMEOUT_SECONDS`): the database itself
stops a statement still running when the budget is spent (SQLite's progress handler,
PostgreSQL's statement_timeout), and the caller is told so in words: 503 with `Retry-After`,
"the query took longer than ... s". Queries are made heavy by their data or their statement,
never by the machine being slow: each would take seconds on any machine, the budgets here
are milliseconds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from ot.config import Settings
from ot.db import create_engine
from ot.errors import QueryTooSlow
from ot.models import Site
from ot.server.app import create_app
from ot.stats.budget import budget, enforce_deadline
from tests.generated_hits import Engines, hit, store_in_bulk
from tests.stats_support import token_for
from tests.support import bearer

# A statement no machine answers in milliseconds: counting to a hundred million, row by row.
COUNT_TO_A_HUNDRED_MILLION = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
    "SELECT count(*) FROM n"
)
FIRST_DAY = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 20


async def test_a_statement_past_the_budget_is_stopped_by_the_database(settings: Settings) -> None:
    engine = create_engine(settings)
    deadline = enforce_deadline(engine)
    try:
        async with engine.connect() as connection:
            with pytest.raises(QueryTooSlow, match=r"took longer than 0\.05 s"):
                async with budget(deadline, 0.05):
                    await connection.execute(COUNT_TO_A_HUNDRED_MILLION)
            await connection.rollback()
            # The connection is fine afterwards, and outside a budget nothing is stopped.
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar() == 42
        async with engine.connect() as connection, budget(deadline, 60):
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def busy_hits(settings: Settings, site: Site) -> None:
    """20,000 pageviews over 20 days, on 2,000 pages, stored in the site."""
    assert site.id is not None
    hits = [
        hit(
            site.id,
            number % 3000,
            FIRST_DAY + timedelta(seconds=86 * number),
            f"/p/{number % 2000}",
        )
        for number in range(20_000)
    ]
    engines = Engines(create_engine(settings), create_engine(settings, for_writes=True))
    try:
        await store_in_bulk(engines, hits)
    finally:
        await engines.reader.dispose()
        await engines.writer.dispose()


@pytest.fixture
async def busy_site(settings: Settings, site: Site) -> Site:
    """shop.example with 20,000 pageviews over 20 days, on 2,000 pages."""
    await busy_hits(settings, site)
    return site


def hourly_range() -> tuple[str, str]:
    """The 20 days of `busy_hits`: 480 hourly buckets, within SQLite's limit of 500 terms per
    compound SELECT."""
    return FIRST_DAY.date().isoformat(), (FIRST_DAY + timedelta(days=DAYS - 1)).date().isoformat()


def hourly_pages(**changes: Any) -> dict[str, Any]:
    """Pages by the hour over the 20 days, from the raw hits (a filter keeps rollups out)."""
    return {
        "site_id": "shop.example",
        "metrics": ["visitors", "pageviews"],
        "date_range": list(hourly_range()),
        "dimensions": ["time:hour"],
        "filters": [["contains", "event:page", ["/p/"]]],
        **changes,
    }


async def test_a_stats_query_past_its_budget_answers_503_saying_so(
    settings: Settings, busy_site: Site, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tight = settings.model_copy(
        update={"stats": settings.stats.model_copy(update={"query_timeout_seconds": 0.001})}
    )
    client = await aiohttp_client(create_app(tight))
    token = await token_for(settings, busy_site.account_id)
    response = await client.post("/api/v2/query", json=hourly_pages(), headers=bearer(token))
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) >= 1
    message = (await response.json())["error"]
    assert message.startswith("the query took longer than 0.001 s and was stopped")
    # The database stopped it: its process answered, and was not killed.
    assert not [r for r in caplog.records if "killed" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_within_its_budget_the_same_query_answers(
    settings: Settings, busy_site: Site, aiohttp_client: Any
) -> None:
    roomy = settings.model_copy(
        update={"stats": settings.stats.model_copy(update={"query_timeout_seconds": 600})}
    )
    client = await aiohttp_client(create_app(roomy))
    token = await token_for(settings, busy_site.account_id)
    response = await client.post("/api/v2/query", json=hourly_pages(), headers=bearer(token))
    assert response.status == 200, await response.text()
    results = (await response.json())["results"]
    assert sum(row["metrics"][1] for row in results) == 20_000
