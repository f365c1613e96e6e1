"""Send realistic demo traffic to a running collector through its public endpoints.

Usage: python scripts/demo_traffic.py [--url http://127.0.0.1:8000] [--domain demo.example]
                                     [--visits 60]

Each visit comes from its own (documentation-range) IP address and browser, lands from a search
engine, a social network, a campaign or directly, views a few pages and sometimes signs up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets

import aiohttp

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
]
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
    headers = {
        "User-Agent": random.choice(USER_AGENTS),
        "X-Forwarded-For": f"198.51.100.{number % 250 + 1}",
        "Content-Type": "text/plain",
    }
    visitor = secrets.token_hex(8)
    referrer = random.choice(REFERRERS)
    pages = random.sample(PAGES, k=random.randint(1, 4))
    for index, page in enumerate(pages):
        query = CAMPAIGN if index == 0 and random.random() < 0.2 else ""
        body = {
            "n": "pageview",
            "u": f"https://{domain}{page}{query}",
            "d": domain,
            "r": referrer if index == 0 else f"https://{domain}{pages[index - 1]}",
            "vid": visitor,
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
            "vid": visitor,
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
