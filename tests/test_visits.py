"""Visits: one visitor's hits without a 30-minute gap, kept by the writer in the same
transaction as the hits (entry and exit page, pageviews, events, duration, bounce)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.db import create_engine, create_sqlite_writer_engine, is_sqlite
from ot.ingest.hit import EnrichedHit
from ot.ingest.writer import HitWriter
from ot.models import Site
from tests.support import event, rows, store_hits

T0 = datetime(2026, 5, 17, 10, 0, tzinfo=UTC)


def hit(
    site: Site, minute: float, path: str = "/", name: str = "pageview", **fields: Any
) -> EnrichedHit:
    values: dict[str, Any] = dict(
        site_id=site.id,
        timestamp=T0 + timedelta(minutes=minute),
        name=name,
        visitor_id=42,
        hostname="shop.example",
        pathname=path,
        query="",
        referrer="",
        referrer_source="Google",
        utm_source="",
        utm_medium="",
        utm_campaign="",
        utm_content="",
        utm_term="",
        browser="Firefox",
        browser_version="133.0",
        os="GNU/Linux",
        os_version="",
        device="Desktop",
        country="NL",
        region="",
        city="",
        language="nl",
        screen="",
        props={},
        revenue_amount=None,
        revenue_currency="",
        interactive=True,
        event_id=None,
        ip_encrypted=None,
    )
    values.update(fields)
    return EnrichedHit(**values)


@pytest.fixture
async def writer(settings: Settings) -> AsyncIterator[HitWriter]:
    """The real writer on the test database, as the server runs it."""
    engine = create_engine(settings)
    sync_engine = create_sqlite_writer_engine(settings) if is_sqlite(engine) else None
    writer = HitWriter(
        sync_engine or engine,
        queue_size=1000,
        batch_size=100,
        batch_wait=0,
        visit_timeout=timedelta(minutes=30),
    )
    await writer.start()
    yield writer
    await writer.stop(10)
    if sync_engine is not None:
        sync_engine.dispose()
    await engine.dispose()


async def visits(settings: Settings) -> list[dict[str, Any]]:
    return await rows(settings, "SELECT * FROM visit ORDER BY started_at")


async def write_one_by_one(writer: HitWriter, hits: Sequence[EnrichedHit]) -> None:
    for one in hits:
        await writer.write([one])


async def test_hits_within_30_minutes_are_one_visit(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    await write_one_by_one(
        writer, [hit(site, 0, "/"), hit(site, 10, "/pricing"), hit(site, 39, "/signup")]
    )
    [visit] = await visits(settings)
    assert (visit["entry_page"], visit["exit_page"]) == ("/", "/signup")
    assert visit["pageviews"] == 3
    assert visit["duration_seconds"] == 39 * 60
    assert not visit["is_bounce"]
    assert (visit["referrer_source"], visit["country"], visit["browser"]) == (
        "Google",
        "NL",
        "Firefox",
    )
    hit_visits = await rows(settings, "SELECT DISTINCT visit_id FROM hit")
    assert hit_visits == [{"visit_id": visit["id"]}]


async def test_a_gap_over_30_minutes_starts_a_new_visit(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    await write_one_by_one(writer, [hit(site, 0, "/a"), hit(site, 31, "/b")])
    first, second = await visits(settings)
    assert (first["entry_page"], first["pageviews"], first["is_bounce"]) == ("/a", 1, True)
    assert (second["entry_page"], second["pageviews"], second["is_bounce"]) == ("/b", 1, True)


async def test_a_batch_holding_a_whole_visit_out_of_order_is_one_visit(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    await writer.write([hit(site, 20, "/c"), hit(site, 0, "/a"), hit(site, 10, "/b")])
    [visit] = await visits(settings)
    assert (visit["entry_page"], visit["exit_page"], visit["pageviews"]) == ("/a", "/c", 3)


async def test_a_late_hit_moves_the_start_and_entry_page_back(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    await write_one_by_one(writer, [hit(site, 10, "/later"), hit(site, 0, "/first")])
    [visit] = await visits(settings)
    assert visit["entry_page"] == "/first"
    assert visit["exit_page"] == "/later"
    assert visit["duration_seconds"] == 600


async def test_an_interactive_event_ends_a_bounce_and_a_non_interactive_one_does_not(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    await write_one_by_one(
        writer,
        [
            hit(site, 0, visitor_id=1),
            hit(site, 1, name="Video Progress", interactive=False, visitor_id=1),
            hit(site, 0, visitor_id=2),
            hit(site, 1, name="Signup", visitor_id=2),
        ],
    )
    bounce = {
        row["visitor_id"]: (row["is_bounce"], row["events"]) for row in await visits(settings)
    }
    assert bool(bounce[1][0]) is True and bounce[1][1] == 1
    assert bool(bounce[2][0]) is False and bounce[2][1] == 1


async def test_visitors_and_sites_never_share_a_visit(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    from tests.support import make_site

    other = await make_site(settings, "blog.example")
    await writer.write([hit(site, 0), hit(site, 1, visitor_id=7), hit(other, 2)])
    assert len(await visits(settings)) == 3


async def test_two_pageviews_through_the_api_are_one_visit(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await store_hits(
        client,
        [event(url="https://shop.example/"), event(url="https://shop.example/pricing")],
    )
    [visit] = await visits(settings)
    assert (visit["entry_page"], visit["exit_page"], visit["pageviews"]) == ("/", "/pricing", 2)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)  # PostgreSQL has no WAL of ours
async def test_the_sqlite_wal_is_checkpointed_beside_the_writer(
    settings: Settings, site: Site, writer: HitWriter
) -> None:
    from ot.db import checkpoint_wal

    await write_one_by_one(writer, [hit(site, minute) for minute in range(5)])
    engine = create_sqlite_writer_engine(settings)
    try:
        busy, frames, checkpointed = checkpoint_wal(engine)
    finally:
        engine.dispose()
    assert busy == 0
    assert frames > 0 and checkpointed == frames
