"""Hits made in code and stored through the writer's `store_batch`, for tests that need many
hits at chosen times (rollups, the engine on rollups); and running the rollup job on them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from ot.ingest.hit import PAGEVIEW, EnrichedHit
from ot.ingest.store import store_batch
from ot.rollups.job import run_rollups

ZONE = "Europe/Amsterdam"
# Three local days around the spring DST change (2026-03-29 has 23 hours in Amsterdam).
DAYS = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
TIMEOUT = timedelta(minutes=30)
AFTER = datetime(2026, 4, 2, 12, tzinfo=UTC)  # "now" when the job runs


@dataclass
class Engines:
    reader: AsyncEngine
    writer: AsyncEngine


def hit(site_id: int, visitor: int, moment: datetime, path: str, **values: Any) -> EnrichedHit:
    fields: dict[str, Any] = {
        "site_id": site_id, "timestamp": moment.astimezone(UTC), "name": PAGEVIEW,
        "visitor_id": visitor, "hostname": "shop.example", "pathname": path, "query": "",
        "referrer": "", "referrer_source": "Direct / None", "utm_source": "", "utm_medium": "",
        "utm_campaign": "", "utm_content": "", "utm_term": "", "browser": "Firefox",
        "browser_version": "133.0", "os": "Linux", "os_version": "", "device": "Desktop",
        "country": "NL", "region": "", "city": "", "language": "nl-NL", "screen": "1920x1080",
        "props": {}, "revenue_amount": None, "revenue_currency": "", "interactive": True,
        "event_id": None, "ip_encrypted": None,
    }  # fmt: skip
    fields.update(values)
    return EnrichedHit(**fields)


def traffic(
    site_id: int,
    seed: int = 3,
    days: Sequence[date] = DAYS,
    visitors: int = 15,
    zone_name: str = ZONE,
) -> list[EnrichedHit]:
    """Hits over `days` from `visitors` people (0 to 3 visits a day each, pages, sources,
    countries, campaigns, signups and outbound clicks), with a visit across midnight."""
    rng = random.Random(seed)
    zone = ZoneInfo(zone_name)
    pages = ["/", "/pricing", "/blog/a", "/blog/b", "/docs/x", "/signup"]
    found: list[EnrichedHit] = []
    for visitor in range(1, visitors + 1):
        for day in days:
            for _ in range(rng.randint(0, 3)):
                moment = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
                    minutes=rng.randint(0, 24 * 60 - 1)
                )
                source = rng.choice(["Direct / None", "Google", "Twitter"])
                visit = {
                    "referrer_source": source, "country": rng.choice(["NL", "DE", "US"]),
                    "browser": rng.choice(["Firefox", "Chrome"]),
                    "device": rng.choice(["Desktop", "Mobile"]),
                    "utm_campaign": rng.choice(["", "", "spring"]),
                }  # fmt: skip
                for number in range(rng.randint(1, 4)):
                    found.append(hit(site_id, visitor, moment, rng.choice(pages), **visit))
                    moment += timedelta(minutes=rng.randint(1, 20))
                    if number == 1 and rng.random() < 0.3:
                        found.append(hit(site_id, visitor, moment, "/signup", name="Signup"))
                    if number == 0 and rng.random() < 0.1:
                        outbound = {"name": "Outbound Link: Click", "interactive": True}
                        found.append(hit(site_id, visitor, moment, "/docs/x", **outbound))
    # One visit that starts before midnight and goes on after it.
    first = days[0]
    late = datetime(first.year, first.month, first.day, 23, 50, tzinfo=zone)
    found += [
        hit(site_id, 99, late, "/"),
        hit(site_id, 99, late + timedelta(minutes=25), "/docs/x"),
    ]
    return sorted(found, key=lambda h: h.timestamp)


async def store(engines: Engines, hits: Sequence[EnrichedHit]) -> None:
    for start in range(0, len(hits), 50):
        async with engines.writer.begin() as connection:
            await connection.run_sync(
                lambda sync, batch=hits[start : start + 50]: store_batch(
                    sync, batch, visit_timeout=TIMEOUT
                )
            )


async def store_in_bulk(engines: Engines, hits: Sequence[EnrichedHit], batch: int = 5000) -> None:
    """Like `store`, in large transactions: for tests that need tens of thousands of hits."""
    for start in range(0, len(hits), batch):
        async with engines.writer.begin() as connection:
            await connection.run_sync(
                lambda sync, chunk=hits[start : start + batch]: store_batch(
                    sync, chunk, visit_timeout=TIMEOUT
                )
            )


async def roll(engines: Engines, now: datetime = AFTER) -> None:
    await run_rollups(engines.reader, engines.writer, now=now)
