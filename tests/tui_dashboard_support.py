"""A shop with two days of traffic for the TUI's sites list and dashboard tests: yesterday's visits
(Matomo bulk tracking with dated hits, as an import would send them) and today's (the Plausible
Events API, as the tracker sends them now), with pages, sources, campaigns, countries, a goal,
a custom event with properties, and outbound-link, download and 404 events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from ot.api.stats import StatsQuery
from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.config import Settings
from tests.account_support import EMAIL, PASSWORD
from tests.stats_support import ALICE, BOB, CAROL, send, token_for
from tests.support import event, store_hits
from tests.tui_support import base_url_of

DOMAIN = "shop.example"


@dataclass(frozen=True)
class SiteRef:
    """What `send` needs of a site."""

    id: int


def today_event(name: str, path: str, vid: str, **fields: Any) -> dict[str, Any]:
    return event(name, f"https://{DOMAIN}{path}", DOMAIN, vid=vid, **fields)


async def logged_in_client(client: TestClient, credentials: CredentialStore) -> OtClient:
    """Ada's client, logged in: the session is stored where the app will find it."""
    ot_client = OtClient(base_url_of(client), credentials=credentials)
    await ot_client.log_in(EMAIL, PASSWORD)
    return ot_client


async def open_shop(
    client: TestClient,
    settings: Settings,
    credentials: CredentialStore,
    clock: ManualClock,
    account_id: int,
    *,
    visitor_mode: str = "cookie",
) -> int:
    """Ada's shop.example and its two days of traffic; the site's id."""
    async with await logged_in_client(client, credentials) as ada:
        site = await ada.add_site(DOMAIN, timezone="UTC", visitor_mode=visitor_mode)
        await ada.add_goal(site.id, event="Signup")
    yesterday = clock.now() - timedelta(days=1)
    token = await token_for(settings, account_id)
    yesterdays = [
        {
            "visitor": ALICE,
            "at": yesterday.replace(hour=10, minute=0),
            "url": f"https://{DOMAIN}/",
            "urlref": "https://www.google.com/search",
        },
        {
            "visitor": ALICE,
            "at": yesterday.replace(hour=10, minute=2),
            "url": f"https://{DOMAIN}/blog",
        },
        {
            "visitor": BOB,
            "at": yesterday.replace(hour=11, minute=0),
            "url": f"https://{DOMAIN}/blog",
        },
    ]
    await send(client, SiteRef(site.id), token, yesterdays)  # type: ignore[arg-type]
    # Today: Carol from the US through a newsletter campaign, Dan from Germany via a blog.
    carol = {"ip": CAROL.ip, "user_agent": CAROL.user_agent}
    await store_hits(
        client,
        [
            today_event(
                "pageview",
                "/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
                "carol0000000001",
            ),
            today_event("pageview", "/", "carol0000000001"),
            today_event("Signup", "/", "carol0000000001", props={"plan": "pro"}),
            today_event(
                "Outbound Link: Click",
                "/",
                "carol0000000001",
                props={"url": "https://partner.example/deal"},
            ),
            today_event(
                "File Download", "/", "carol0000000001", props={"url": "https://shop.example/a.pdf"}
            ),
        ],
        **carol,
    )
    await store_hits(
        client,
        [
            today_event(
                "pageview", "/pricing", "dan00000000000001", referrer="https://blog.example/post"
            ),
            today_event("404", "/missing", "dan00000000000001", props={"path": "/missing"}),
            today_event("Signup", "/pricing", "dan00000000000001", props={"plan": "free"}),
        ],
        ip="185.15.56.1",
    )
    await warm_up_queries(client, credentials)
    return site.id


async def warm_up_queries(client: TestClient, credentials: CredentialStore) -> None:
    """One query before the app runs: the server starts its query processes' fork server then,
    which cannot start under Textual's test driver (it has replaced the standard streams)."""
    async with await logged_in_client(client, credentials) as ada:
        await ada.query(StatsQuery(site_id=DOMAIN, metrics=["visitors"], date_range="7d"))
