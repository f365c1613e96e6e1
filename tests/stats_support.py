"""Helpers for the stats tests: dated hits sent through the real ingest path (Matomo bulk
tracking with `cdt` and the owner's token, as a log import would), an API token, and the
engine run on the test database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import create_token
from ot.config import Settings
from ot.models import Site
from ot.stats.engine import QueryResult, run_query
from ot.stats.goals import add_goal
from ot.stats.query import parse_query
from tests.support import TEST_OPERATOR, helper_engine

FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)


@dataclass(frozen=True)
class Visitor:
    """Someone on the site: an address and browser (cookieless id) and a first-party id
    (cookie mode)."""

    ip: str
    user_agent: str
    client_id: str  # 16 hex characters, Matomo's `_id`


ALICE = Visitor("198.51.100.1", FIREFOX_LINUX, "a11ce00000000001")
BOB = Visitor("198.51.100.2", CHROME_WINDOWS, "b0b0000000000002")
CAROL = Visitor("8.8.8.8", SAFARI_IPHONE, "ca40100000000003")  # located in the US


def at(text: str) -> datetime:
    """A UTC moment from "2026-05-04 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def pageview(
    visitor: Visitor, moment: datetime, path: str, *, referrer: str = "", query: str = ""
) -> dict[str, Any]:
    url = f"https://shop.example{path}" + (f"?{query}" if query else "")
    hit: dict[str, Any] = {"visitor": visitor, "at": moment, "url": url}
    if referrer:
        hit["urlref"] = referrer
    return hit


def custom_event(
    visitor: Visitor, moment: datetime, name: str, path: str = "/", **props: str
) -> dict[str, Any]:
    """A custom event; Matomo events carry `category` and `label` props."""
    hit: dict[str, Any] = {
        "visitor": visitor,
        "at": moment,
        "url": f"https://shop.example{path}",
        "e_c": props.get("category", "site"),
        "e_a": name,
    }
    if "label" in props:
        hit["e_n"] = props["label"]
    return hit


def outbound_click(visitor: Visitor, moment: datetime, link: str) -> dict[str, Any]:
    return {"visitor": visitor, "at": moment, "url": "https://shop.example/", "link": link}


async def send(client: TestClient, site: Site, token: str, hits: list[dict[str, Any]]) -> None:
    """Store dated hits through POST /matomo.php (bulk), insisting every one is accepted."""
    requests = []
    for hit in hits:
        visitor: Visitor = hit["visitor"]
        params = {k: v for k, v in hit.items() if k not in ("visitor", "at")}
        params.update(
            idsite=str(site.id),
            rec="1",
            cdt=hit["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            cip=visitor.ip,
            ua=visitor.user_agent,
            _id=visitor.client_id,
        )
        requests.append(params)
    for start in range(0, len(requests), 100):
        response = await client.post(
            "/matomo.php",
            json={"requests": requests[start : start + 100], "token_auth": token},
            headers={"User-Agent": FIREFOX_LINUX, "X-Forwarded-For": "203.0.113.9"},
        )
        body = await response.json()
        assert response.status == 200 and body["invalid"] == 0, body


async def token_for(
    settings: Settings,
    account_id: int,
    name: str = "stats",
    scopes: tuple[str, ...] = ("stats:read", "sites:write"),
) -> str:
    """A key of the account, as its owner makes one to read stats and import hits (Matomo's
    `token_auth` needs `sites:write`)."""
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        _, plaintext = await create_token(session, account_id, name, scopes, actor=TEST_OPERATOR)
        await session.commit()
        return plaintext


async def goal(settings: Settings, site: Site, **options: Any) -> None:
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        assert site.id is not None
        await add_goal(session, site.id, actor=TEST_OPERATOR, **options)
        await session.commit()


async def query(
    settings: Settings, site: Site, now: datetime | None = None, **body: Any
) -> QueryResult:
    """Run a v2 query body through the engine, as every front door does."""
    async with helper_engine(settings) as engine, engine.connect() as connection:
        return await run_query(connection, site, parse_query(body), now=now or datetime.now(UTC))


def table(result: QueryResult) -> list[tuple[Any, ...]]:
    """Rows as (dimension..., metric...) tuples, easy to compare."""
    return [(*row.dimensions, *row.metrics) for row in result.rows]
