"""The demo customer and six weeks of their site's traffic, for `scripts/up` and the TUI's tests.

Usage: python scripts/demo_data.py [--config FILE] [--weeks 6] [--json]
       python scripts/demo_data.py --log-in URL

Settings come from OT_* variables like `ot serve`'s (run it with the server's data folder,
after `ot-admin db upgrade --create`). It makes, once:

- the demo customer, DEMO_EMAIL with DEMO_PASSWORD, registered (region nl, consent given) and
  verified through the same core functions the HTTP API uses;
- their cookie-mode site, demo.example (Europe/Amsterdam), with goals: the /welcome page after
  signing up, and the Signup, Outbound Link: Click, File Download and 404 events;
- its traffic from `--weeks` weeks ago until now: busier on weekdays, growing week by week,
  quiet at night; visitors from 30 countries (addresses from real networks of each, located by
  the product's own geo lookup), real browsers' user agents on desktops, phones and tablets,
  search engines, social networks, other sites, direct visits and UTM campaigns, returning
  visitors, bounces and visits of a dozen pages, signups with their plan, outbound links, file
  downloads and 404s.

`--log-in URL` only logs the demo customer in to the server at URL through `ot.client`, which
keeps the session in the user's config folder, where `ot tui --server URL` finds it; a session
kept there that still works (the demo's or the user's own) is kept instead.

The hits go through the collector's enrichment (`ot.ingest.collector.Collector.prepare`) and its
writer, as tracked hits do, only with the time each hit happened. Running it again adds only
what happened since the last run: each day's traffic is drawn from a seed made of its date, each
hit has an event id made of its day and place, hits up to the latest stored one are skipped, and
the writer drops an event id it already has. Then the rollups are brought up to date, so the
dashboards read them at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.email_verification import Purpose, issue_verification
from ot.accounts.passwords import hash_password_in_thread
from ot.accounts.registration import Registration, confirm_email, register
from ot.accounts.store import EMAIL_CONTEXT, email_index, find_account_by_email, record_consent
from ot.clock import utcnow
from ot.config import Settings, load_settings
from ot.db import create_engine
from ot.ingest.hit import PAGEVIEW, IncomingHit
from ot.ingest.service import running_collector
from ot.models import Account, Goal, Hit, Site
from ot.privacy import VisitorMode
from ot.rollups.schedule import run_once
from ot.security.audit import Actor
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from ot.sites.store import add_site
from ot.stats.goals import add_goal
from ot.storage import StorageHealth

DEMO_EMAIL = "demo@opentracker.example"
DEMO_PASSWORD = "opentracker demo"
DEMO_NAME = "Demo Customer"
DOMAIN = "demo.example"
TIMEZONE = "Europe/Amsterdam"
# Event ids of the demo's hits start with this (hits the live collector stores have others).
EVENT_ID_PREFIX = "demo-"
HIT = Hit.__table__  # type: ignore[attr-defined]
BATCH_HITS = 2000
ACTOR = Actor.operator("demo-data")

# One /24 of a real network per country (the bundled geo data places it there; the test
# checks it). Visitors get an address in their country's network.
NETWORKS = {
    "US": "3.14.10", "DE": "2.161.10", "NL": "2.21.10", "GB": "2.28.10", "FR": "2.7.10",
    "IN": "1.7.10", "CA": "3.98.10", "BR": "4.203.10", "ES": "2.140.10", "IT": "2.35.10",
    "PL": "5.133.10", "SE": "2.0.10", "JP": "1.21.10", "AU": "1.42.10", "BE": "34.77.10",
    "CH": "16.63.10", "AT": "40.210.10", "DK": "2.105.10", "NO": "51.175.10",
    "FI": "35.217.10", "IE": "3.252.10", "PT": "37.189.10", "CZ": "31.133.10",
    "MX": "40.196.10", "AR": "38.7.10", "KR": "1.98.10", "SG": "3.0.10", "ZA": "4.168.10",
    "TR": "24.133.10", "UA": "5.105.10",
}  # fmt: skip
# Countries by share of visitors: a European product with a following in the US and Asia.
COUNTRIES = [(country, 1 / rank**1.1) for rank, country in enumerate(NETWORKS, 1)]
LANGUAGES = {"US": "en-US", "GB": "en-GB", "IE": "en-IE", "AU": "en-AU", "CA": "en-CA",
             "DE": "de-DE", "AT": "de-AT", "CH": "de-CH", "NL": "nl-NL", "BE": "nl-BE",
             "FR": "fr-FR", "ES": "es-ES", "MX": "es-MX", "AR": "es-AR", "IT": "it-IT",
             "BR": "pt-BR", "PT": "pt-PT", "JP": "ja-JP", "KR": "ko-KR", "PL": "pl-PL",
             "SE": "sv-SE", "DK": "da-DK", "NO": "nb-NO", "FI": "fi-FI", "CZ": "cs-CZ",
             "TR": "tr-TR", "UA": "uk-UA"}  # fmt: skip
# Real browsers' user agents, by share, each with the screens of its kind of device.
DESKTOP_SCREENS = ["1920x1080", "2560x1440", "1440x900", "1536x864", "1366x768"]
PHONE_SCREENS = ["390x844", "393x873", "412x915", "430x932", "360x800"]
TABLET_SCREENS = ["820x1180", "1024x1366", "800x1280"]
CLIENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", DESKTOP_SCREENS, 26),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", DESKTOP_SCREENS, 10),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", DESKTOP_SCREENS, 7),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
     DESKTOP_SCREENS, 6),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     DESKTOP_SCREENS, 3),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", DESKTOP_SCREENS, 7),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", DESKTOP_SCREENS, 1),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", DESKTOP_SCREENS, 1),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", PHONE_SCREENS, 17),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/18.1 Mobile/15E148 Safari/604.1", PHONE_SCREENS, 14),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", PHONE_SCREENS, 2),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", PHONE_SCREENS, 3),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", TABLET_SCREENS, 3),
]  # fmt: skip
# Where visits come from (None: typed in or bookmarked), by share.
REFERRERS = [
    (None, 34), ("https://www.google.com/", 24), ("https://www.google.de/", 4),
    ("https://www.bing.com/", 4), ("https://duckduckgo.com/", 4), ("https://www.ecosia.org/", 1),
    ("https://news.ycombinator.com/item?id=42318897", 3),
    ("https://www.reddit.com/r/selfhosted/", 3),
    ("https://t.co/Qx8fK2", 2), ("https://l.facebook.com/", 2), ("https://www.linkedin.com/", 2),
    ("https://github.com/opentracker/opentracker", 3), ("https://mastodon.social/", 1),
    ("https://alternativeto.net/software/google-analytics/", 1),
    ("https://dev.to/t/privacy", 1), ("https://stackoverflow.com/questions/tagged/analytics", 1),
]  # fmt: skip
# Campaign landings (the query of the landing page), by share of visits that come from one.
CAMPAIGNS = [
    ("utm_source=newsletter&utm_medium=email&utm_campaign=monthly-digest", 5),
    ("utm_source=newsletter&utm_medium=email&utm_campaign=product-launch", 3),
    ("utm_source=twitter&utm_medium=social&utm_campaign=product-launch", 2),
    ("utm_source=google&utm_medium=cpc&utm_campaign=privacy-analytics&utm_term=analytics", 3),
    ("utm_source=linkedin&utm_medium=social&utm_campaign=webinar-december", 1),
    ("utm_source=podcast&utm_medium=audio&utm_campaign=self-hosted-show", 1),
]
CAMPAIGN_SHARE = 0.09
# Landing pages, and the pages visitors go on to, by popularity.
ENTRY_PAGES = [
    ("/", 40), ("/blog/privacy-first-analytics", 12), ("/pricing", 9), ("/docs", 6),
    ("/blog/cookieless-tracking-explained", 8), ("/blog/self-hosting-guide", 6),
    ("/features", 5), ("/docs/install", 5), ("/blog/plausible-vs-matomo", 4), ("/about", 2),
    ("/changelog", 2),
]  # fmt: skip
NEXT_PAGES = {
    "/": [("/features", 5), ("/pricing", 6), ("/docs", 3), ("/blog", 2), ("/about", 1)],
    "/features": [("/pricing", 6), ("/docs", 2), ("/signup", 2)],
    "/pricing": [("/signup", 4), ("/features", 2), ("/contact", 1), ("/docs", 1)],
    "/signup": [("/welcome", 6), ("/pricing", 1)],
    "/welcome": [("/docs/install", 5), ("/docs", 2)],
    "/docs": [("/docs/install", 5), ("/docs/api", 3), ("/docs/trackers", 2), ("/pricing", 1)],
    "/docs/install": [("/docs/configuration", 4), ("/docs/api", 1), ("/signup", 1)],
    "/docs/api": [("/docs/install", 1), ("/docs/configuration", 1)],
    "/blog": [("/blog/privacy-first-analytics", 3), ("/blog/self-hosting-guide", 2),
              ("/blog/cookieless-tracking-explained", 2), ("/blog/plausible-vs-matomo", 2)],
}  # fmt: skip
ANY_NEXT = [("/", 3), ("/pricing", 3), ("/features", 2), ("/docs", 2), ("/blog", 2),
            ("/signup", 1)]  # fmt: skip
OUTBOUND_LINKS = [
    ("https://github.com/opentracker/opentracker", 5),
    ("https://plausible.io/docs", 2),
    ("https://matomo.org/guide/", 1),
    ("https://www.rfc-editor.org/rfc/rfc6265", 1),
]
DOWNLOADS = [
    (f"https://{DOMAIN}/downloads/opentracker-whitepaper.pdf", 3),
    (f"https://{DOMAIN}/downloads/opentracker-1.4.0.tar.gz", 2),
    (f"https://{DOMAIN}/downloads/dpa-template.docx", 1),
]
MISSING_PAGES = [("/blog/old-post", 4), ("/docs/v1/install", 3), ("/wp-login.php", 2),
                 ("/pricing.html", 1)]  # fmt: skip
GOALS = [
    {"page": "/welcome", "display_name": "Signed up (welcome page)"},
    {"event": "Signup"},
    {"event": "Outbound Link: Click"},
    {"event": "File Download"},
    {"event": "404"},
]
# Visits a day on an average weekday at the start of the period; the traffic grows about 4 %
# a week from there.
DAILY_VISITS = 170
WEEKLY_GROWTH = 0.04
RETURNING_SHARE = 0.3
# Local hours of the day by share of visits: quiet at night, busiest in the afternoon.
HOURS = [(hour, 0.15 + math.sin(math.pi * max(0, hour - 6) / 18) ** 2) for hour in range(24)]


@dataclass(frozen=True)
class Visitor:
    """Who visits: the same browser, address and language every time they come back."""

    client_id: str
    user_agent: str
    ip: str
    language: str
    screen: str


def draw(rng: random.Random, choices: Sequence[tuple[object, float]]) -> object:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def visitor(client_id: str) -> Visitor:
    rng = random.Random(f"visitor-{client_id}")
    country = str(draw(rng, COUNTRIES))
    user_agent, screens, _ = rng.choices(CLIENTS, weights=[c[2] for c in CLIENTS])[0]
    return Visitor(
        client_id=client_id,
        user_agent=user_agent,
        ip=f"{NETWORKS[country]}.{rng.randint(1, 254)}",
        language=LANGUAGES.get(country, "en-US"),
        screen=rng.choice(screens),
    )


def visits_on(day: date, first: date) -> int:
    """How many visits the day has: growing since `first`, fewer at weekends, some noise."""
    weeks = (day - first).days / 7
    weekend = 0.55 if day.weekday() >= 5 else 1.0
    noise = random.Random(f"volume-{day.isoformat()}").uniform(0.85, 1.15)
    return round(DAILY_VISITS * (1 + WEEKLY_GROWTH) ** weeks * weekend * noise)


def day_hits(day: date, first: date, zone: ZoneInfo) -> list[tuple[datetime, IncomingHit]]:
    """The day's hits (in its local time), each with its moment; the same for the same day."""
    rng = random.Random(f"day-{day.isoformat()}")
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    hits: list[tuple[datetime, IncomingHit]] = []
    for number in range(visits_on(day, first)):
        back = 1 + int(rng.expovariate(1 / 4))
        earlier = day - timedelta(days=back)
        if rng.random() < RETURNING_SHARE and earlier >= first:
            who = visitor(f"{earlier.isoformat()}-{rng.randrange(visits_on(earlier, first))}")
        else:
            who = visitor(f"{day.isoformat()}-{number}")
        start = midnight + timedelta(hours=int(draw(rng, HOURS)), seconds=rng.uniform(0, 3600))
        hits += visit_hits(rng, who, start, f"{EVENT_ID_PREFIX}{day.isoformat()}-{number}")
    return hits


def visit_hits(
    rng: random.Random, who: Visitor, start: datetime, event_id: str
) -> list[tuple[datetime, IncomingHit]]:
    """One visit: a landing, a few pages (none when it bounces), and the events on the way."""
    referrer = draw(rng, REFERRERS)
    page = str(draw(rng, ENTRY_PAGES))
    query = ""
    if rng.random() < CAMPAIGN_SHARE:
        query, referrer = "?" + str(draw(rng, CAMPAIGNS)), None
    # About 45 % bounce; the others read a few pages, a few read a dozen.
    pages = 1 if rng.random() < 0.45 else min(12, 2 + int(rng.expovariate(1 / 2.2)))
    moment = start
    hits: list[tuple[datetime, IncomingHit]] = []

    def add(name: str, path: str, props: dict[str, str] | None = None, **extra: object) -> None:
        hit = IncomingHit(
            name=name,
            url=f"https://{DOMAIN}{path}",
            user_agent=who.user_agent,
            ip=who.ip,
            domains=(DOMAIN,),
            props=props or {},
            client_visitor_id=who.client_id,
            event_id=f"{event_id}-{len(hits)}",
            language=who.language,
            screen=who.screen,
            timestamp=moment.astimezone(UTC),
            **extra,  # type: ignore[arg-type]
        )
        hits.append((moment, hit))

    if rng.random() < 0.025:  # an old link: the page is gone
        missing = str(draw(rng, MISSING_PAGES))
        add(PAGEVIEW, missing, referrer=referrer)
        add("404", missing, {"path": missing}, interactive=False)
        return hits
    for index in range(pages):
        add(
            PAGEVIEW,
            page + (query if index == 0 else ""),
            referrer=referrer if index == 0 else None,
        )
        if page == "/welcome":
            add(
                "Signup",
                page,
                {"plan": str(draw(rng, [("free", 6), ("team", 3), ("business", 1)]))},
            )
        if rng.random() < 0.05:
            add("Outbound Link: Click", page, {"url": str(draw(rng, OUTBOUND_LINKS))})
        if page.startswith(("/docs", "/blog")) and rng.random() < 0.06:
            add("File Download", page, {"url": str(draw(rng, DOWNLOADS))})
        # Time on the page: most read briefly, some read long.
        moment += timedelta(seconds=min(900, 8 + rng.expovariate(1 / 70)))
        page = str(draw(rng, NEXT_PAGES.get(page, ANY_NEXT)))
    return hits


# --- the account, the site and its goals -----------------------------------------------------


async def demo_customer(session: AsyncSession, cipher: Cipher, settings: Settings) -> int:
    """The demo customer's account id: registered and verified as a customer does it."""
    account = await find_account_by_email(session, cipher, DEMO_EMAIL)
    if account is None:
        account = await older_demo_account(session, cipher, settings)
    if account is None:
        account = await register(
            session,
            cipher,
            Registration(
                name=DEMO_NAME,
                email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
                region="nl",
                consent=True,
                company="Demo B.V.",
                address="Keizersgracht 1, 1015 CJ Amsterdam",
                phone="+31 20 555 0100",
            ),
            settings.accounts,
            link_base=f"http://127.0.0.1:{settings.server.port}",
            mails=[],  # nobody reads the demo's mail: the link is used right here
        )
        assert account is not None and account.id is not None
        token = await issue_verification(
            session, account.id, Purpose.REGISTRATION, settings.accounts
        )
        await confirm_email(session, cipher, token, mails=[])
    assert account.id is not None
    return account.id


async def older_demo_account(
    session: AsyncSession, cipher: Cipher, settings: Settings
) -> Account | None:
    """A data folder from an older scripts/up has demo.example on an account made by an
    operator, without a log-in: it becomes the demo customer's (the log-in it lacked, given as
    registering and confirming the address give it)."""
    site = (await session.exec(select(Site).where(Site.domain == DOMAIN))).first()
    if site is None:
        return None
    account = await session.get(Account, site.account_id)
    if account is None or account.email_index is not None:
        return None
    account.email_encrypted = cipher.encrypt(DEMO_EMAIL, context=EMAIL_CONTEXT)
    account.email_index = email_index(cipher, DEMO_EMAIL)
    account.password_hash = await hash_password_in_thread(DEMO_PASSWORD, settings.accounts)
    account.region = "nl"
    account.email_verified_at = utcnow()
    session.add(account)
    assert account.id is not None
    await record_consent(session, account.id, "nl", settings.accounts)
    await session.flush()
    return account


async def demo_site(session: AsyncSession, account_id: int) -> Site:
    site = (await session.exec(select(Site).where(Site.domain == DOMAIN))).first()
    if site is None:
        site = await add_site(
            session, account_id, DOMAIN, actor=ACTOR, timezone=TIMEZONE,
            visitor_mode=VisitorMode.COOKIE,
        )  # fmt: skip
    elif site.account_id != account_id:
        raise SystemExit(
            f"error: {DOMAIN} belongs to account {site.account_id}, not to the demo customer "
            f"(a data folder from an older scripts/up?): move the data folder away to start afresh"
        )
    assert site.id is not None
    existing = (await session.exec(select(Goal).where(col(Goal.site_id) == site.id))).all()
    targets = {goal.target for goal in existing}
    for goal in GOALS:
        if (goal.get("page") or goal.get("event")) not in targets:
            await add_goal(session, site.id, actor=ACTOR, **goal)
    return site


# --- the traffic -------------------------------------------------------------------------------


async def latest_demo_hit(settings: Settings, site_id: int) -> datetime | None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            latest = await connection.scalar(
                select(func.max(HIT.c.timestamp)).where(
                    HIT.c.site_id == site_id, HIT.c.event_id.startswith(EVENT_ID_PREFIX)
                )
            )
    finally:
        await engine.dispose()
    if latest is None:
        return None
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


async def store_traffic(settings: Settings, site_id: int, weeks: int, now: datetime) -> int:
    """Store the hits from `weeks` weeks ago (or the latest stored one) until `now`."""
    zone = ZoneInfo(TIMEZONE)
    today = now.astimezone(zone).date()
    first = today - timedelta(weeks=weeks)
    after = await latest_demo_hit(settings, site_id)
    start = first if after is None else max(first, after.astimezone(zone).date())
    drawn = [
        (moment, hit)
        for offset in range((today - start).days + 1)
        for moment, hit in day_hits(start + timedelta(days=offset), first, zone)
        if moment <= now and (after is None or moment > after)
    ]
    drawn.sort(key=lambda pair: pair[0])
    if not drawn:
        return 0
    # The live collector's write path, a day or so per transaction and without waiting to fill
    # a batch, as nothing else writes meanwhile.
    batches = settings.collector.model_copy(
        update={"queue_size": BATCH_HITS, "batch_size": BATCH_HITS, "batch_wait_ms": 0}
    )
    demo = settings.model_copy(update={"collector": batches})
    async with running_collector(demo, health=StorageHealth()) as collector:
        stored = 0
        # In time order, as the live writer commits its batches.
        for start_at in range(0, len(drawn), BATCH_HITS):
            prepared = [
                await collector.prepare(hit, now)
                for _, hit in drawn[start_at : start_at + BATCH_HITS]
            ]
            stored += (await collector.store(prepared, endpoint="demo", now=now)).stored
    return stored


async def roll_up(settings: Settings) -> None:
    reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
    try:
        await run_once(settings, reader, writer)  # None: the server is rolling up already
    finally:
        await reader.dispose()
        await writer.dispose()


async def seed(settings: Settings, weeks: int, now: datetime) -> dict[str, object]:
    secrets = load_secrets_of(settings)
    cipher = Cipher(secrets)
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            account_id = await demo_customer(session, cipher, settings)
            site = await demo_site(session, account_id)
            await session.commit()
    finally:
        await engine.dispose()
    assert site.id is not None
    stored = await store_traffic(settings, site.id, weeks, now)
    await roll_up(settings)
    return {
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "account_id": account_id,
        "site": DOMAIN,
        "site_id": site.id,
        "hits_stored": stored,
    }


async def log_in(url: str) -> str:
    """Whose session `ot tui --server URL` will use: the one kept, or the demo customer's."""
    from ot.client import ClientError, OtClient

    async with OtClient(url) as client:
        if client.token is not None:
            try:
                return (await client.profile()).email or "the account kept"
            except ClientError:
                pass  # expired or ended: log in afresh
        await client.log_in(DEMO_EMAIL, DEMO_PASSWORD)
    return DEMO_EMAIL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML settings file.")
    parser.add_argument("--weeks", type=int, default=6, help="Weeks of history (default 6).")
    parser.add_argument("--json", action="store_true", help="Print what was made as JSON.")
    parser.add_argument("--log-in", metavar="URL", help="Only log the demo customer in there.")
    arguments = parser.parse_args(argv)
    if arguments.log_in:
        print(f"logged in as {asyncio.run(log_in(arguments.log_in))}")
        return 0
    started = time.perf_counter()
    settings = load_settings(arguments.config)
    made = asyncio.run(seed(settings, arguments.weeks, datetime.now(UTC)))
    if arguments.json:
        print(json.dumps(made))
    else:
        print(
            f"demo customer {made['email']} (password: {made['password']}), site {made['site']}: "
            f"{made['hits_stored']} new hits stored in {time.perf_counter() - started:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
