"""A year of realistic traffic for one site, generated day by day and stored through the real
write path (`ot.ingest.store.store_batch`, the function the collector's writer commits with).

Used by `scripts/bench/query.py`; run on its own to time loading alone:

    python scripts/bench/dataset.py --events 1000000 [--data-dir DIR | --database-url URL]

The traffic: a cookie-mode site whose daily volume grows over the year, dips at weekends and
follows the hours of the day in its time zone. Visits of one to a dozen pageviews (30 minutes
apart at most, so the writer joins them into visits), a share of returning visitors, Zipf-like
page popularity, entry pages, referrer sources, UTM campaigns, countries, browsers, OSes,
devices, and custom events that goals can count (signups, purchases with revenue, outbound
links, downloads). A fixed seed makes two runs load the same hits.

`live_hits` draws today's hits so far the same way (the live site a dashboard meets: hits the
rollup job has not seen yet), for `scripts/bench/query.py` to store after rolling.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import itertools
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import create_account
from ot.config import Settings, load_settings
from ot.db import checkpoint_wal, create_engine, create_sqlite_writer_engine
from ot.ingest.hit import PAGEVIEW, EnrichedHit
from ot.ingest.referrer import classify_referrer
from ot.ingest.store import store_batch
from ot.models import Hit, Site
from ot.privacy import VisitorMode
from ot.schema import upgrade
from ot.security.audit import Actor
from ot.security.crypto import Cipher
from ot.security.secrets import load_or_create_secrets
from ot.sites.store import add_site

DOMAIN = "shop.example"
TIMEZONE = "Europe/Amsterdam"
VISIT_TIMEOUT = timedelta(minutes=30)
BATCH_HITS = 5000
MEAN_PAGEVIEWS_PER_VISIT = 3.0
RETURNING_SHARE = 0.35
# The latest hits whose visitors may come back in the live trickle (`visitors_before`).
RECENT_HITS = 200_000
HIT = Hit.__table__  # type: ignore[attr-defined]

T = TypeVar("T")


class Weighted:
    """Draws from weighted choices in O(log n)."""

    def __init__(self, choices: Sequence[tuple[T, float]]) -> None:
        self.values = [value for value, _ in choices]
        self.cumulative = list(itertools.accumulate(weight for _, weight in choices))

    def draw(self, rng: random.Random) -> Any:
        point = rng.random() * self.cumulative[-1]
        return self.values[bisect.bisect_right(self.cumulative, point)]


def zipf(values: Sequence[T], exponent: float = 1.1) -> Weighted:
    return Weighted([(value, 1 / (rank**exponent)) for rank, value in enumerate(values, 1)])


SECTIONS = ["blog", "docs", "products", "guides", "changelog", "help", "team", "jobs"]
PAGES = ["/", "/pricing", "/features", "/about", "/contact", "/signup", "/login", "/checkout"] + [
    f"/{section}/{slug}-{number}"
    for number in range(1, 400)
    for section, slug in [(SECTIONS[number % len(SECTIONS)], f"item-{number % 37}")]
]
ENTRY_PAGES = zipf(PAGES[:60] + PAGES[200:260], exponent=0.9)
ANY_PAGE = zipf(PAGES, exponent=1.05)
SOURCES = Weighted([
    (("Direct / None", ""), 38), (("Google", "https://www.google.com/"), 31),
    (("Bing", "https://www.bing.com/"), 4), (("DuckDuckGo", "https://duckduckgo.com/"), 3),
    (("Twitter", "https://t.co/x"), 4), (("Facebook", "https://l.facebook.com/"), 3),
    (("Reddit", "https://www.reddit.com/r/programming/"), 3),
    (("Hacker News", "https://news.ycombinator.com/"), 2),
    (("GitHub", "https://github.com/"), 2), (("LinkedIn", "https://www.linkedin.com/"), 2),
    *[((f"partner{n}.example", f"https://partner{n}.example/links"), 0.3) for n in range(20)],
])  # fmt: skip
CAMPAIGNS = [f"campaign-{name}" for name in (
    "spring", "summer", "autumn", "winter", "launch", "black-friday", "webinar", "ebook",
    "retargeting", "newsletter-weekly", "newsletter-monthly", "partner",
)]  # fmt: skip
UTM = Weighted([
    (("newsletter", "email"), 5), (("twitter", "social"), 2), (("google", "cpc"), 3),
    (("linkedin", "social"), 1),
])  # fmt: skip
COUNTRIES = zipf(
    ["US", "DE", "NL", "GB", "FR", "IN", "CA", "BR", "ES", "IT", "PL", "SE", "JP", "AU", "BE",
     "CH", "AT", "DK", "NO", "FI", "IE", "PT", "CZ", "MX", "AR", "KR", "SG", "ZA", "TR", "UA"],
    exponent=1.2,
)  # fmt: skip
CLIENTS = Weighted([
    (("Chrome", "131.0", "Windows", "10", "Desktop"), 24),
    (("Chrome", "131.0", "Mac", "10.15", "Desktop"), 9),
    (("Chrome Mobile", "131.0", "Android", "14", "Mobile"), 18),
    (("Mobile Safari", "18.1", "iOS", "18.1", "Mobile"), 15),
    (("Safari", "18.1", "Mac", "10.15", "Desktop"), 6),
    (("Firefox", "133.0", "Windows", "10", "Desktop"), 5),
    (("Firefox", "133.0", "Linux", "", "Desktop"), 2),
    (("Edge", "131.0", "Windows", "10", "Desktop"), 7),
    (("Samsung Internet", "26.0", "Android", "14", "Mobile"), 3),
    (("Mobile Safari", "18.1", "iOS", "18.1", "Tablet"), 3),
    (("Chrome", "130.0", "Chrome OS", "", "Desktop"), 1),
    (("Opera", "114.0", "Windows", "10", "Desktop"), 1),
])  # fmt: skip
LANGUAGES = zipf(["en-US", "de-DE", "nl-NL", "en-GB", "fr-FR", "es-ES", "pt-BR", "ja-JP"])
SCREENS = Weighted([("1920x1080", 30), ("390x844", 25), ("1440x900", 15), ("412x915", 15),
                    ("2560x1440", 10), ("820x1180", 5)])  # fmt: skip
# (event name, share of visits, props); purchases carry revenue.
EVENTS = [
    ("Signup", 0.03, {"plan": "free"}),
    ("Purchase", 0.01, {"product": "Hoodie"}),
    ("Outbound Link: Click", 0.03, {"url": "https://github.com/example/project"}),
    ("File Download", 0.015, {"url": f"https://{DOMAIN}/catalogue.pdf"}),
]
# Share of the day's visits per local hour: quiet at night, busiest in the afternoon.
HOURS = Weighted([(hour, 0.25 + math.sin(math.pi * max(0, hour - 6) / 18) ** 2)
                  for hour in range(24)])  # fmt: skip


@dataclass
class Visitors:
    """New and returning visitors; returning ones are drawn mostly from recent visitors."""

    rng: random.Random
    known: list[int]

    def next(self) -> int:
        if self.known and self.rng.random() < RETURNING_SHARE:
            # Recent visitors return more often than old ones.
            back = min(len(self.known), int(self.rng.expovariate(1 / 20000)) + 1)
            return self.known[-back]
        visitor = self.rng.getrandbits(63) - (1 << 62)
        self.known.append(visitor)
        return visitor


def day_volumes(events: int, days: int, rng: random.Random) -> list[int]:
    """Hits per day: growing over the year, lower at weekends, a little noise; sums to `events`."""
    shape = []
    for index in range(days):
        growth = 0.6 + 0.8 * index / max(1, days - 1)
        weekend = 0.7 if (index % 7) in (5, 6) else 1.0
        shape.append(growth * weekend * rng.uniform(0.9, 1.1))
    scale = events / sum(shape)
    volumes = [int(weight * scale) for weight in shape]
    volumes[-1] += events - sum(volumes)
    return volumes


def day_hits(
    site_id: int, day: date, volume: int, zone: ZoneInfo, visitors: Visitors, rng: random.Random
) -> list[EnrichedHit]:
    """About `volume` hits of one local day, in time order."""
    hits: list[EnrichedHit] = []
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    while len(hits) < volume:
        visitor = visitors.next()
        start = midnight + timedelta(hours=HOURS.draw(rng), seconds=rng.uniform(0, 3600))
        source, referrer = SOURCES.draw(rng)
        utm_source = utm_medium = utm_campaign = ""
        if rng.random() < 0.1:
            utm_source, utm_medium = UTM.draw(rng)
            utm_campaign = rng.choice(CAMPAIGNS)
            source, referrer = classify_referrer("", DOMAIN, utm_source).source, ""
        browser, browser_version, os, os_version, device = CLIENTS.draw(rng)
        visit = {
            "site_id": site_id, "visitor_id": visitor, "hostname": DOMAIN, "query": "",
            "utm_content": "", "utm_term": "", "browser": browser,
            "browser_version": browser_version, "os": os, "os_version": os_version,
            "device": device, "country": COUNTRIES.draw(rng), "region": "", "city": "",
            "language": LANGUAGES.draw(rng), "screen": SCREENS.draw(rng),
            "revenue_currency": "", "interactive": True, "event_id": None, "ip_encrypted": None,
        }  # fmt: skip
        pageviews = min(12, 1 + int(rng.expovariate(1 / (MEAN_PAGEVIEWS_PER_VISIT - 1))))
        moment = start
        for number in range(pageviews):
            first = number == 0
            hits.append(EnrichedHit(
                timestamp=moment.astimezone(UTC), name=PAGEVIEW,
                pathname=ENTRY_PAGES.draw(rng) if first else ANY_PAGE.draw(rng),
                referrer=referrer if first else "",
                referrer_source=source if first else "Direct / None",
                utm_source=utm_source if first else "", utm_medium=utm_medium if first else "",
                utm_campaign=utm_campaign if first else "",
                props={}, revenue_amount=None, **visit,
            ))  # fmt: skip
            moment += timedelta(seconds=rng.uniform(10, 300))
        for name, share, props in EVENTS:
            if rng.random() < share:
                hits.append(EnrichedHit(
                    timestamp=moment.astimezone(UTC), name=name, pathname=hits[-1].pathname,
                    referrer="", referrer_source="Direct / None", utm_source="",
                    utm_medium="", utm_campaign="", props=dict(props),
                    revenue_amount=(Decimal(rng.randint(500, 25000)) / 100
                                    if name == "Purchase" else None),
                    **{**visit, "revenue_currency": "EUR" if name == "Purchase" else ""},
                ))  # fmt: skip
                moment += timedelta(seconds=rng.uniform(5, 60))
    hits.sort(key=lambda hit: hit.timestamp)
    return hits


def generate(
    site_id: int, events: int, *, end: date, days: int = 365, seed: int = 7
) -> Iterator[list[EnrichedHit]]:
    """The year's hits, one local day at a time, ending the day before `end`."""
    rng = random.Random(seed)
    zone = ZoneInfo(TIMEZONE)
    visitors = Visitors(rng, [])
    first = end - timedelta(days=days)
    for offset, volume in enumerate(day_volumes(events, days, rng)):
        yield day_hits(site_id, first + timedelta(days=offset), volume, zone, visitors, rng)


@dataclass
class LoadReport:
    hits: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.hits / self.seconds if self.seconds else 0.0


# Who the audit trail says made the benchmark's account, site and goals.
BENCHMARK = Actor.system("benchmark")


async def create_site(settings: Settings) -> Site:
    """A fresh, migrated database with one account and the benchmark's cookie-mode site."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    secrets = load_or_create_secrets(settings.data_dir)
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account = await create_account(
                session, Cipher(secrets), "Benchmark account", actor=BENCHMARK
            )
            assert account.id is not None
            site = await add_site(session, account.id, DOMAIN, timezone=TIMEZONE,
                                  visitor_mode=VisitorMode.COOKIE, actor=BENCHMARK)  # fmt: skip
            await session.commit()
            return site
    finally:
        await engine.dispose()


def _store(connection: Connection, hits: Sequence[EnrichedHit]) -> None:
    store_batch(connection, hits, visit_timeout=VISIT_TIMEOUT)


async def load(
    settings: Settings, site_id: int, events: int, *, end: date, progress: bool = True
) -> LoadReport:
    """Store `events` hits through `store_batch`, in transactions of about BATCH_HITS hits."""
    started = time.perf_counter()
    stored = await store(settings, generate(site_id, events, end=end), events, progress)
    return LoadReport(stored, time.perf_counter() - started)


async def store(
    settings: Settings, days: Iterable[Sequence[EnrichedHit]], expected: int = 0,
    progress: bool = False,
) -> int:  # fmt: skip
    """Store each day's hits through `store_batch`, in transactions of about BATCH_HITS hits,
    as the writer of each database stores them; returns how many hits were handed over."""
    started = time.perf_counter()
    stored = 0
    if settings.database_url:
        engine = create_engine(settings, for_writes=True)
        try:
            for hits in days:
                for batch in _batches(hits):
                    async with engine.begin() as connection:
                        await connection.run_sync(_store, batch)
                stored += len(hits)
                _progress(progress, stored, expected, started)
        finally:
            await engine.dispose()
    else:
        sqlite = create_sqlite_writer_engine(settings)
        try:
            for hits in days:
                for batch in _batches(hits):
                    with sqlite.begin() as connection:
                        _store(connection, batch)
                # The writer's engine leaves checkpoints to its caller (see ot.db).
                checkpoint_wal(sqlite)
                stored += len(hits)
                _progress(progress, stored, expected, started)
        finally:
            sqlite.dispose()
    if progress and sys.stderr.isatty():
        print(file=sys.stderr)
    return stored


def live_hits(
    site_id: int, events: int, now: datetime, known_visitors: list[int], *, seed: int = 7
) -> list[EnrichedHit]:
    """Today's hits up to `now` (local day of the site): the traffic of the same weekday a week
    earlier, drawn as `generate` draws a day, its visitors returning from `known_visitors`
    (oldest first). The same day, visitors and seed give the same hits, each with an event id
    made of its day and place, so storing them again at a later moment adds only those whose
    time has come since (the writer drops hits whose event id it has stored)."""
    zone = ZoneInfo(TIMEZONE)
    today = now.astimezone(zone).date()
    volume = day_volumes(events, 365, random.Random(seed))[-7]
    rng = random.Random(f"{seed}-live-{today.isoformat()}")
    drawn = day_hits(site_id, today, volume, zone, Visitors(rng, list(known_visitors)), rng)
    return [
        dataclasses.replace(hit, event_id=f"live-{today.isoformat()}-{number}")
        for number, hit in enumerate(drawn)
        if hit.timestamp <= now
    ]


async def visitors_before(settings: Settings, site_id: int, moment: datetime) -> list[int]:
    """The visitors of the site's latest hits before `moment`, most recent last (what
    `Visitors.known` holds after `generate`): whom today's visitors may be."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(HIT.c.visitor_id)
                .where(HIT.c.site_id == site_id, HIT.c.timestamp < moment)
                .order_by(HIT.c.timestamp.desc())
                .limit(RECENT_HITS)
            )
            latest_first = list(dict.fromkeys(row[0] for row in rows))
    finally:
        await engine.dispose()
    return latest_first[::-1]


def _batches(hits: Sequence[EnrichedHit]) -> Iterator[Sequence[EnrichedHit]]:
    for start in range(0, len(hits), BATCH_HITS):
        yield hits[start : start + BATCH_HITS]


_last_progress = 0.0


def _progress(enabled: bool, stored: int, total: int, started: float) -> None:
    """A line on a terminal, rewritten at most every second."""
    global _last_progress
    now = time.perf_counter()
    if enabled and sys.stderr.isatty() and now - _last_progress >= 1:
        _last_progress = now
        rate = stored / max(1e-9, now - started)
        print(f"\r  loaded {stored:,} of ~{total:,} hits ({rate:,.0f}/s)", end="",
              file=sys.stderr, flush=True)  # fmt: skip


def settings_for(data_dir: Path, database_url: str) -> Settings:
    return load_settings(None, data_dir=data_dir, database_url=database_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, help="Default: a new temporary folder.")
    parser.add_argument(
        "--database-url",
        default="",
        help="An empty PostgreSQL database "
        "(postgresql+asyncpg://...) instead of SQLite in the data folder.",
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ot-dataset-"))
    settings = settings_for(data_dir, args.database_url)

    async def run() -> LoadReport:
        site = await create_site(settings)
        assert site.id is not None
        return await load(settings, site.id, args.events, end=datetime.now(UTC).date())

    report = asyncio.run(run())
    print(f"{report.hits:,} hits in {report.seconds:.1f} s ({report.per_second:,.0f} hits/s) "
          f"into {args.database_url or data_dir}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
