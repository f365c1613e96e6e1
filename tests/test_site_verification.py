"""Site verification (`ot.site_verification`, `POST /ot/v1/sites/{id}/verify`): a site is
verified when our tracker has been seen on its domain, or when the domain serves a file holding
the site's token. The file is served here by a local server on loopback, reached through the
fetcher the app is given; the default fetcher refuses loopback and private addresses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ot.config import Settings
from ot.models import Site
from ot.server.app import create_app
from ot.server.sites_api import VERIFICATION_FETCHER
from ot.site_verification import fetch_text
from tests.support import bearer, error_of, event, logged_in, rows, store_hits

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


async def token_of(settings: Settings, site: Site) -> str:
    [row] = await rows(settings, "SELECT verification_token FROM site WHERE id = :s", s=site.id)
    return str(row["verification_token"])


async def file_server(aiohttp_server: Any, files: dict[str, str]) -> TestServer:
    """A web server on loopback serving `files` (path -> text), and a redirect at /moved."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            raise web.HTTPFound("/.well-known/elsewhere.txt")
        if request.path not in files:
            raise web.HTTPNotFound()
        return web.Response(text=files[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    server: TestServer = await aiohttp_server(app)
    return server


def loopback_fetcher(server: TestServer) -> Callable[[str], Awaitable[str | None]]:
    """Fetches what the site's domain would serve from the local server instead."""
    base = str(server.make_url("/")).rstrip("/")

    async def fetch(url: str) -> str | None:
        path = url.split("://", 1)[1].split("/", 1)[1]
        return await fetch_text(f"{base}/{path}", allow_private_addresses=True)

    return fetch


async def verify(client: TestClient, token: str, site: Site) -> dict[str, Any]:
    response = await client.post(f"/ot/v1/sites/{site.id}/verify", headers=bearer(token))
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def audited(settings: Settings) -> list[str]:
    return [e["action"] for e in await rows(settings, "SELECT action FROM audit_entry")]


@pytest.fixture
async def served(aiohttp_server: Any, settings: Settings, site: Site) -> TestServer:
    """shop.example's web server, with the verification file holding the site's token."""
    token = await token_of(settings, site)
    return await file_server(
        aiohttp_server, {f"/.well-known/opentracker-{token}.txt": f"{token}\n"}
    )


async def test_a_site_is_verified_when_the_tracker_has_been_seen_on_its_domain(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    await store_hits(client, [event(url="https://www.shop.example/")])
    answer = await verify(client, started.token, site)
    assert answer["verified"] is True and answer["method"] == "tracker_seen"
    assert answer["verified_at"] is not None
    assert await audited(settings) == ["site.verified"]
    again = await verify(client, started.token, site)
    assert again["verified_at"] == answer["verified_at"]
    assert await audited(settings) == ["site.verified"]  # verified once


async def nothing_served(url: str) -> str | None:
    return None


async def test_hits_from_another_hostname_do_not_verify_a_site(
    aiohttp_client: Any, settings: Settings, site: Site
) -> None:
    app = create_app(settings)
    app[VERIFICATION_FETCHER] = nothing_served
    client = await aiohttp_client(app)
    started = await logged_in(settings, site.account_id)
    await store_hits(client, [event(url="https://copy-of-shop.example/")])
    assert [h["hostname"] for h in await rows(settings, "SELECT hostname FROM hit")] == [
        "copy-of-shop.example"
    ]
    answer = await verify(client, started.token, site)
    assert answer["verified"] is False and answer["method"] is None
    assert ".well-known/opentracker-" in answer["hint"]
    assert await audited(settings) == []


async def test_a_site_is_verified_by_a_file_holding_its_token(
    aiohttp_client: Any, settings: Settings, site: Site, served: TestServer
) -> None:
    app = create_app(settings)
    app[VERIFICATION_FETCHER] = loopback_fetcher(served)
    client = await aiohttp_client(app)
    started = await logged_in(settings, site.account_id)
    answer = await verify(client, started.token, site)
    assert answer["verified"] is True and answer["method"] == "html_file"
    [row] = await rows(settings, "SELECT verified_at FROM site")
    assert row["verified_at"] is not None


async def test_a_file_with_another_token_does_not_verify_a_site(
    aiohttp_client: Any, aiohttp_server: Any, settings: Settings, site: Site
) -> None:
    token = await token_of(settings, site)
    server = await file_server(
        aiohttp_server, {f"/.well-known/opentracker-{token}.txt": "someone-elses-token"}
    )
    app = create_app(settings)
    app[VERIFICATION_FETCHER] = loopback_fetcher(server)
    client = await aiohttp_client(app)
    started = await logged_in(settings, site.account_id)
    assert (await verify(client, started.token, site))["verified"] is False
    [row] = await rows(settings, "SELECT verified_at FROM site")
    assert row["verified_at"] is None


async def test_the_default_fetcher_refuses_addresses_outside_the_public_internet(
    served: TestServer, settings: Settings, site: Site
) -> None:
    token = await token_of(settings, site)
    url = str(served.make_url(f"/.well-known/opentracker-{token}.txt"))
    assert await fetch_text(url, allow_private_addresses=True) == f"{token}\n"
    assert await fetch_text(url) is None
    localhost = url.replace("127.0.0.1", "localhost")
    assert await fetch_text(localhost) is None


async def test_the_fetcher_follows_no_redirects_and_reads_only_small_files(
    aiohttp_server: Any,
) -> None:
    server = await file_server(
        aiohttp_server, {"/.well-known/elsewhere.txt": "token", "/big.txt": "x" * 100_000}
    )
    moved = str(server.make_url("/moved"))
    assert await fetch_text(moved, allow_private_addresses=True) is None
    big = str(server.make_url("/big.txt"))
    assert await fetch_text(big, allow_private_addresses=True) is None
    assert await fetch_text("file:///etc/passwd", allow_private_addresses=True) is None


async def test_verification_needs_the_right_to_change_the_site(
    client: TestClient, settings: Settings, site: Site
) -> None:
    response = await client.post(f"/ot/v1/sites/{site.id}/verify")
    await error_of(response, 401)
    unknown = await client.post(
        "/ot/v1/sites/424242/verify",
        headers=bearer((await logged_in(settings, site.account_id)).token),
    )
    assert (await error_of(unknown, 404))["field"] == "site_id"
