"""No stats query stalls the server: queries are answered in processes of their own
(`ot.stats.processes`), so while the heaviest query runs, collector hits are acknowledged and
`/healthz` answers at once; a query process still busy past the time budget is killed and
replaced; errors of a query reach its caller as they were raised."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ot.config import Settings
from ot.errors import InvalidInput, Overloaded, QueryTooSlow
from ot.privacy import VisitorMode
from ot.stats.processes import QueryProcesses
from tests.conftest import start_server, stop_server
from tests.generated_hits import Engines, hit, store_in_bulk
from tests.query_jobs import own_pid, refusing, sleeping
from tests.stats_support import token_for
from tests.support import CHROME_USER_AGENT, bearer, event, make_site

FIRST_DAY = datetime(2026, 2, 1, tzinfo=UTC)
PAGES = 100_000
# Generous for /healthz on a loaded machine (it answers in milliseconds), and far below what a
# query blocking the event loop costs: the heavy query's rows alone take seconds of Python.
PROMPT_SECONDS = 1.0


async def test_while_a_heavy_query_runs_hits_are_acknowledged_and_healthz_answers_at_once(
    settings: Settings, engines: Engines, tmp_path: Path
) -> None:
    site = await make_site(settings, visitor_mode=VisitorMode.COOKIE)
    assert site.id is not None
    # Heavy by its data: 100,000 pages seen once each over 58 days, so the answer has 100,000
    # rows to build (seconds of Python: the event loop stalled that long when it built them).
    hits = [
        hit(site.id, number, FIRST_DAY + timedelta(seconds=50 * number), f"/p/{number}")
        for number in range(PAGES)
    ]
    await store_in_bulk(engines, hits)
    token = await token_for(settings, site.account_id)
    heavy_query = {
        "site_id": site.domain,
        "metrics": ["visitors", "pageviews"],
        "date_range": [
            FIRST_DAY.date().isoformat(),
            (FIRST_DAY + timedelta(days=60)).date().isoformat(),
        ],
        "dimensions": ["event:page"],
        "filters": [["contains", "event:page", ["/p/"]]],  # from the raw hits, not rollups
        "include": {"total_rows": True},
    }
    # No rollup job competing for the CPU meanwhile (the filter keeps rollups out anyway).
    process, base_url, _ = start_server(
        settings, tmp_path / "server.log", extra_env={"OT_ROLLUPS__INTERVAL_SECONDS": "0"}
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def heavy() -> tuple[int, Any]:
                async with http.post(
                    f"{base_url}/api/v2/query", json=heavy_query, headers=bearer(token)
                ) as response:
                    return response.status, await response.json()

            async def timed(method: str, path: str, **options: Any) -> tuple[int, float]:
                started = time.monotonic()
                async with http.request(method, f"{base_url}{path}", **options) as response:
                    await response.read()
                    return response.status, time.monotonic() - started

            async def keep_asking(answers: list[tuple[int, float]], *request: Any) -> None:
                """Ask again and again while the heavy query runs; keep the answers that came
                before it did."""
                method, path, options = request
                while not answering.done():
                    answer = await timed(method, path, **options)
                    if not answering.done():
                        answers.append(answer)
                    await asyncio.sleep(0.05)

            answering = asyncio.create_task(heavy())
            hits: list[tuple[int, float]] = []
            health: list[tuple[int, float]] = []
            collector_hit = {
                "json": event(url="https://shop.example/during"),
                "headers": {"User-Agent": CHROME_USER_AGENT},
            }
            await asyncio.gather(
                keep_asking(hits, "POST", "/api/event", collector_hit),
                keep_asking(health, "GET", "/healthz", {}),
            )
            status, answer = await answering
    finally:
        stop_server(process)
    # The query was still running while hits were acknowledged (it was heavy enough to tell).
    assert len(hits) >= 3, "the query was not heavy enough to overlap the hits"
    assert {status for status, _ in hits} == {202}
    # The event loop answered at once throughout: /healthz needs nothing but the loop. (A
    # hit also waits for its commit to reach the disk, which a loaded machine may delay.)
    assert {status for status, _ in health} == {200}
    slowest = max(seconds for _, seconds in health)
    assert slowest < PROMPT_SECONDS, f"/healthz waited {slowest:.2f} s behind the query"
    if status == 200:
        assert answer["meta"]["total_rows"] == PAGES
    else:  # on a very busy machine the query may use up its budget; it is stopped then
        assert status == 503 and "took longer than" in answer["error"], answer


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_process_still_busy_past_the_budget_is_killed_and_replaced(
    settings: Settings,
) -> None:
    one_process = {"query_processes": 1, "query_timeout_seconds": 0.5}
    quick = settings.model_copy(update={"stats": settings.stats.model_copy(update=one_process)})
    queries = QueryProcesses(quick)
    try:
        first = await queries.call(own_pid)
        with pytest.raises(QueryTooSlow, match=r"took longer than 0\.5 s"):
            await queries.call(sleeping, 3600)
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # the sleeper is gone
        second = await queries.call(own_pid)
        assert second != first
        with pytest.raises(InvalidInput) as refused:
            await queries.call(refusing)
        assert (refused.value.message, refused.value.field) == ("no such thing", "dimensions")
        assert await queries.call(own_pid) == second  # a refusal does not cost the process
    finally:
        await queries.close()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_query_waits_for_a_free_process_at_most_its_budget(settings: Settings) -> None:
    one_process = {"query_processes": 1, "query_timeout_seconds": 0.5}
    quick = settings.model_copy(update={"stats": settings.stats.model_copy(update=one_process)})
    queries = QueryProcesses(quick)
    try:
        await queries.call(own_pid)  # the one process is up
        busy = asyncio.create_task(queries.call(sleeping, 3600))
        await asyncio.sleep(0)  # the sleeper takes the process first
        with pytest.raises(Overloaded, match="every stats query process stayed busy"):
            await queries.call(own_pid)
        with pytest.raises(QueryTooSlow):
            await busy
        assert isinstance(await queries.call(own_pid), int)  # a new process once it is killed
    finally:
        await queries.close()
