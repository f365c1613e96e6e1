"""The app's stats queries go to the server together (`ot.tui.batches.StatsBatches`): those asked
in the same moment in one request, each answer or refusal to the one who asked it; a request that
fails fails each of its queries; once nobody waits for its answers, the request is closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ot.api.stats import QueryAnswer, StatsQuery
from ot.client import ClientError, CredentialStore, Invalid, NotLoggedIn, OtClient
from ot.config import Settings
from ot.tui.batches import StatsBatches
from tests.account_support import EMAIL, PASSWORD, registered
from tests.support import event, store_hits
from tests.test_client import base_url_of

VISITORS = StatsQuery(site_id="shop.example", metrics=["visitors"], date_range="day")
PAGES = VISITORS.model_copy(update={"dimensions": ["event:page"], "metrics": ["pageviews"]})
UNKNOWN_METRIC = VISITORS.model_copy(update={"metrics": ["likes"]})


@pytest.fixture
async def ada(client: TestClient, settings: Settings, tmp_path: Path) -> AsyncIterator[OtClient]:
    """Ada's client, logged in, with shop.example and two page views on it today."""
    await registered(client, settings)
    credentials = CredentialStore(tmp_path / "config")
    async with OtClient(base_url_of(client), credentials=credentials) as ada_client:
        await ada_client.log_in(EMAIL, PASSWORD)
        await ada_client.add_site("shop.example")
        await store_hits(client, [event(), event(url="https://shop.example/about")])
        yield ada_client


async def test_queries_asked_together_go_in_one_request_each_answered_to_its_asker(
    ada: OtClient,
) -> None:
    batches = StatsBatches(ada.query_many)
    visitors, pages, refused = await asyncio.gather(
        batches.ask(VISITORS), batches.ask(PAGES), batches.ask(UNKNOWN_METRIC),
        return_exceptions=True,
    )  # fmt: skip
    assert batches.requests == 1
    assert isinstance(visitors, QueryAnswer) and [r.metrics for r in visitors.results] == [[1]]
    assert isinstance(pages, QueryAnswer) and len(pages.results) == 2
    assert isinstance(refused, Invalid) and "likes" in str(refused)


async def test_a_request_refused_whole_refuses_each_of_its_queries(
    client: TestClient, tmp_path: Path
) -> None:
    credentials = CredentialStore(tmp_path / "config")
    async with OtClient(base_url_of(client), api_key="ot_unknown", credentials=credentials) as o:
        batches = StatsBatches(o.query_many)
        outcomes = await asyncio.gather(
            batches.ask(VISITORS), batches.ask(PAGES), return_exceptions=True
        )
    assert all(isinstance(outcome, NotLoggedIn) for outcome in outcomes)


async def test_once_nobody_waits_for_its_answers_the_request_is_closed() -> None:
    sent, closed = asyncio.Event(), asyncio.Event()

    async def send_never_answering(
        queries: Sequence[StatsQuery],
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        sent.set()
        try:
            await asyncio.Event().wait()  # a server still working on them
            yield 0, ClientError("never")
        finally:
            closed.set()

    batches = StatsBatches(send_never_answering)
    askers = [asyncio.create_task(batches.ask(query)) for query in (VISITORS, PAGES)]
    await asyncio.wait_for(sent.wait(), timeout=60)
    askers[0].cancel()
    await asyncio.gather(askers[0], return_exceptions=True)
    assert not closed.is_set()  # the other still waits
    askers[1].cancel()  # the view changed: nobody waits any more
    await asyncio.wait_for(closed.wait(), timeout=60)
