"""HTTP hygiene: security headers on every answer, HSTS over HTTPS, CORS only on the collector,
no caching of our API's answers, body size and rate limits on /ot/v1, safe cookie flags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from ot.clock import ManualClock
from ot.config import Settings
from ot.models import Site
from ot.ratelimit import TokenBuckets
from ot.server import create_app
from tests.support import bearer, error_of, event, logged_in

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HTTPS = {"X-Forwarded-Proto": "https"}  # from 127.0.0.1, a trusted proxy by default
EVIL_ORIGIN = {"Origin": "https://evil.example"}


def _with(settings: Settings, section: str, **values: Any) -> Settings:
    part = getattr(settings, section).model_copy(update=values)
    return settings.model_copy(update={section: part})


async def _answers(client: TestClient, session_token: str) -> list[Any]:
    return [
        await client.get("/healthz"),
        await client.get("/no/such/page"),
        await client.get("/ot/v1/sessions"),
        await client.get("/ot/v1/sessions", headers=bearer(session_token)),
        await client.get("/ot/v1/openapi.json"),
        await client.post("/api/event", data=b"{not json"),
        await client.post("/api/v2/query", json={}),
        await client.post("/ot/v1/account/export", headers=bearer(session_token)),
        await client.put("/healthz"),
    ]


async def test_every_answer_carries_the_security_headers(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    for response in await _answers(client, started.token):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "camera=()" in response.headers["Permissions-Policy"]


async def test_our_api_answers_are_never_cached(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    for response in await _answers(client, started.token):
        if response.url.path.startswith("/ot/v1/"):
            assert response.headers["Cache-Control"] == "no-store", response.url


async def test_hsts_is_sent_only_over_https(client: TestClient) -> None:
    plain = await client.get("/healthz")
    secure = await client.get("/healthz", headers=HTTPS)

    assert "Strict-Transport-Security" not in plain.headers
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


async def test_an_untrusted_peer_cannot_claim_https(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(_with(settings, "server", trusted_proxies=[])))

    response = await client.get("/healthz", headers=HTTPS)

    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ot/v1/sessions"),
        ("OPTIONS", "/ot/v1/sessions"),
        ("POST", "/ot/v1/account/export"),
        ("GET", "/ot/v1/openapi.json"),
        ("POST", "/api/v2/query"),
        ("OPTIONS", "/api/v2/query"),
        ("GET", "/api/v1/stats/aggregate"),
        ("GET", "/healthz"),
    ],
)
async def test_only_the_collector_is_open_to_other_origins(
    client: TestClient, settings: Settings, site: Site, method: str, path: str
) -> None:
    started = await logged_in(settings, site.account_id)
    headers = {**EVIL_ORIGIN, **bearer(started.token), "Access-Control-Request-Method": "POST"}

    response = await client.request(method, path, headers=headers)

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_the_collector_is_open_to_every_origin(client: TestClient, site: Site) -> None:
    preflight = await client.options("/api/event", headers=EVIL_ORIGIN)
    hit = await client.post("/api/event", json=event(), headers=EVIL_ORIGIN)

    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert hit.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_body_over_the_api_limit_is_refused(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    huge = b'{"confirm": true, "padding": "' + b"x" * settings.api.max_body_bytes + b'"}'

    declared = await client.post(
        "/ot/v1/account/deletion",
        data=huge,
        headers={**bearer(started.token), "Content-Type": "application/json"},
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 1000):
            yield huge[start : start + 1000]

    streamed = await client.post(
        "/ot/v1/account/deletion", data=chunks(), headers=bearer(started.token)
    )

    for response in (declared, streamed):
        error = await error_of(response, 413)
        assert error["field"] == "body"
        assert str(settings.api.max_body_bytes) in error["message"]
    # Nothing happened: the session still works.
    assert (await client.get("/ot/v1/sessions", headers=bearer(started.token))).status == 200


async def test_the_collector_keeps_its_own_body_limit(client: TestClient, site: Site) -> None:
    body = event(props={"note": "x" * 1500})  # over nothing: the collector allows 64 KiB

    response = await client.post("/api/event", json=body)

    assert response.status == 202


async def test_too_many_requests_from_one_ip_get_429_with_retry_after(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    client = await aiohttp_client(
        create_app(_with(settings, "api", rate_per_minute=60, rate_burst=3), clock=clock)
    )
    one = {"X-Forwarded-For": "198.51.100.7"}
    other = {"X-Forwarded-For": "198.51.100.8"}

    answers = [await client.get("/ot/v1/openapi.json", headers=one) for _ in range(4)]

    assert [a.status for a in answers] == [200, 200, 200, 429]
    error = await error_of(answers[-1], 429)
    assert error["code"] == "too_many_requests"
    assert answers[-1].headers["Retry-After"] == "1"  # one token a second
    assert (await client.get("/ot/v1/openapi.json", headers=other)).status == 200
    assert (await client.get("/healthz", headers=one)).status == 200  # not our API


async def test_the_rate_limit_counts_time_by_the_servers_clock_not_by_the_machines_speed(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    client = await aiohttp_client(
        create_app(_with(settings, "api", rate_per_minute=60, rate_burst=2), clock=clock)
    )
    one = {"X-Forwarded-For": "198.51.100.7"}

    async def status() -> int:
        return (await client.get("/ot/v1/openapi.json", headers=one)).status

    assert [await status() for _ in range(3)] == [200, 200, 429]
    clock.advance(0.5)
    assert await status() == 429  # half a token is not a request
    clock.advance(0.5)
    assert [await status(), await status()] == [200, 429]
    clock.advance(60)
    assert [await status() for _ in range(3)] == [200, 200, 429]  # a burst, not a minute's worth


async def test_a_client_cannot_escape_the_rate_limit_with_an_x_forwarded_for_of_its_own(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    """Behind a trusted proxy that adds its own X-Forwarded-For header after the client's, the
    client's header must not choose the address the limit counts (the collector never let it)."""
    client = await aiohttp_client(
        create_app(_with(settings, "api", rate_per_minute=60, rate_burst=3), clock=clock)
    )

    def through_the_proxy(claimed: str) -> CIMultiDict[str]:
        return CIMultiDict(
            [("X-Forwarded-For", claimed), ("X-Forwarded-For", "203.0.113.9")]  # proxy's last
        )

    statuses = [
        (await client.get("/ot/v1/openapi.json", headers=through_the_proxy(f"10.9.8.{n}"))).status
        for n in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


async def test_one_credential_is_limited_whatever_ip_it_comes_from(
    aiohttp_client: Any, settings: Settings, site: Site, clock: ManualClock
) -> None:
    client = await aiohttp_client(
        create_app(_with(settings, "api", rate_per_minute=60, rate_burst=2), clock=clock)
    )
    started = await logged_in(settings, site.account_id)

    statuses = [
        (
            await client.get(
                "/ot/v1/sessions",
                headers={**bearer(started.token), "X-Forwarded-For": f"198.51.100.{n}"},
            )
        ).status
        for n in range(1, 4)
    ]

    assert statuses == [200, 200, 429]


def test_a_token_bucket_refills_at_its_rate() -> None:
    buckets = TokenBuckets(rate_per_minute=60, burst=2)

    assert buckets.take("a", 0.0) is None
    assert buckets.take("a", 0.0) is None
    assert buckets.take("a", 0.0) == 1
    assert buckets.take("a", 1.0) is None  # one token back after a second
    assert buckets.take("b", 1.0) is None  # each key has its own bucket


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    buckets = TokenBuckets(rate_per_minute=0, burst=1)

    assert all(buckets.take("a", 0.0) is None for _ in range(1000))


def test_the_buckets_forget_the_least_recently_used_keys() -> None:
    buckets = TokenBuckets(rate_per_minute=1, burst=1, max_keys=2)
    buckets.take("a", 0.0)
    buckets.take("b", 0.0)
    buckets.take("c", 0.0)  # forgets "a"

    assert buckets.take("a", 0.0) is None


@pytest.mark.parametrize("https", [True, False])
async def test_every_cookie_we_send_is_httponly_samesite_strict_and_secure_under_https(
    client: TestClient, settings: Settings, site: Site, https: bool
) -> None:
    started = await logged_in(settings, site.account_id)

    response = await client.delete(
        "/ot/v1/sessions/current", headers={**bearer(started.token), **(HTTPS if https else {})}
    )

    cookies = response.headers.getall("Set-Cookie")
    assert cookies
    for cookie in cookies:
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert "httponly" in flags
        assert "samesite=strict" in cookie.lower().replace(" ", "")
        assert ("secure" in flags) is https
