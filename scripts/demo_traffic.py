"""Send realistic demo traffic to a running collector through its public endpoints.

Usage: python scripts/demo_traffic.py [--url http://127.0.0.1:8000] [--domain demo.example]
                                     [--visits 60]

Each visit comes from its own visitor as `scripts/demo_data.py` draws them (a real browser's user
agent, an address in a real network of their country, their language and screen), lands from a
search engine, a social network, a campaign or directly, views a few pages and sometimes signs up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets

import aiohttp
from demo_data import visitor

REFERRERS = [
    None,
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/item?id=1",
    "https://www.reddit.com/r/selfhosted/",
    "https://t.co/abc",
]
PAGES = ["/", "/pricing", "/docs", "/docs/install", "/blog/privacy-first-analytics", "/about"]
CAMPAIGN = "?utm_source=newsletter&utm_medium=email&utm_campaign=launch"


async def visit(session: aiohttp.ClientSession, url: str, domain: str, number: int) -> None:
    who = visitor(f"live-{secrets.token_hex(8)}")
    headers = {
        "User-Agent": who.user_agent,
        "X-Forwarded-For": who.ip,
        "Accept-Language": who.language,
        "Content-Type": "text/plain",
    }
    referrer = random.choice(REFERRERS)
    pages = random.sample(PAGES, k=random.randint(1, 4))
    for index, page in enumerate(pages):
        query = CAMPAIGN if index == 0 and random.random() < 0.2 else ""
        body = {
            "n": "pageview",
            "u": f"https://{domain}{page}{query}",
            "d": domain,
            "r": referrer if index == 0 else f"https://{domain}{pages[index - 1]}",
            "vid": who.client_id,
            "eid": secrets.token_hex(8),
        }
        async with session.post(f"{url}/api/event", json=body, headers=headers) as response:
            response.raise_for_status()
    if random.random() < 0.15:
        body = {
            "n": "Signup",
            "u": f"https://{domain}/pricing",
            "d": domain,
            "p": {"plan": random.choice(["starter", "business"])},
            "vid": who.client_id,
            "eid": secrets.token_hex(8),
        }
        async with session.post(f"{url}/api/event", json=body, headers=headers) as response:
            response.raise_for_status()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--domain", default="demo.example")
    parser.add_argument("--visits", type=int, default=60)
    arguments = parser.parse_args()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(
            *(visit(session, arguments.url, arguments.domain, n) for n in range(arguments.visits))
        )
    print(f"sent {arguments.visits} visits to {arguments.domain}")


if __name__ == "__main__":
    asyncio.run(main())
