"""Site verification (`ot.sites.verification`, `POST /ot/v1/sites/{id}/verify`): a site is
verified only when its domain publishes the site's token, as a DNS TXT record (asked of a DNS
server the test runs on loopback) or as a file on its web server (served by a local server on
loopback, reached through the fetcher the app is given). A hit proves nothing: anyone can send
one. The default fetcher refuses loopback and private addresses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from ot.schema import alembic_config
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.server.app import create_app
from ot.server.sites_api import VERIFICATION_FETCHER
from ot.sites.verification import fetch_text, txt_lookup
from tests.dns_server import LoopbackDns, dns
from tests.support import NOT_SETUP, bearer, error_of, event, logged_in, make_site, rows, store_hits

__all__ = ["dns"]  # the fixture, used by name

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
Fetch = Callable[[str], Awaitable[str | None]]


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


def loopback_fetcher(server: TestServer) -> Fetch:
    """Fetches what the site's domain would serve from the local server instead."""
    base = str(server.make_url("/")).rstrip("/")

    async def fetch(url: str) -> str | None:
        path = url.split("://", 1)[1].split("/", 1)[1]
        return await fetch_text(f"{base}/{path}", allow_private_addresses=True)

    return fetch


async def nothing_served(url: str) -> str | None:
    return None


async def verifying_client(
    aiohttp_client: Any, settings: Settings, dns: LoopbackDns, fetcher: Fetch = nothing_served
) -> TestClient:
    """The server in-process, asking the loopback DNS server and fetching through `fetcher`."""
    app = create_app(dns.settings_for(settings))
    app[VERIFICATION_FETCHER] = fetcher
    client: TestClient = await aiohttp_client(app)
    return client


async def verify(client: TestClient, token: str, site: Site) -> dict[str, Any]:
    response = await client.post(f"/ot/v1/sites/{site.id}/verify", headers=bearer(token))
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def audited(settings: Settings) -> list[str]:
    return [
        e["action"]
        for e in await rows(settings, f"SELECT action FROM audit_entry WHERE {NOT_SETUP}")
    ]


@pytest.fixture
async def served(aiohttp_server: Any, settings: Settings, site: Site) -> TestServer:
    """shop.example's web server, with the verification file holding the site's token."""
    token = await token_of(settings, site)
    return await file_server(
        aiohttp_server, {f"/.well-known/opentracker-{token}.txt": f"{token}\n"}
    )


async def test_one_collector_hit_no_longer_verifies_a_site(
    aiohttp_client: Any, settings: Settings, site: Site, dns: LoopbackDns
) -> None:
    """Anyone can send a hit naming any domain and page: it proves nothing about the domain."""
    client = await verifying_client(aiohttp_client, settings, dns)
    started = await logged_in(settings, site.account_id)
    await store_hits(client, [event(url="https://www.shop.example/")])
    answer = await verify(client, started.token, site)
    assert answer["verified"] is False and answer["method"] is None
    assert "TXT record" in answer["hint"] and ".well-known/opentracker-" in answer["hint"]
    [row] = await rows(settings, "SELECT verified_at FROM site")
    assert row["verified_at"] is None
    assert await audited(settings) == []


async def test_a_site_is_verified_by_a_dns_txt_record_holding_its_token(
    aiohttp_client: Any, settings: Settings, site: Site, dns: LoopbackDns
) -> None:
    client = await verifying_client(aiohttp_client, settings, dns)
    started = await logged_in(settings, site.account_id)
    token = await token_of(settings, site)
    dns.publish("_opentracker.shop.example", "v=spf1 -all")
    dns.publish("_opentracker.shop.example", f"opentracker-verification={token}")

    answer = await verify(client, started.token, site)
    assert answer["verified"] is True and answer["method"] == "dns_txt"
    assert answer["verified_at"] is not None
    audit = await rows(settings, f"SELECT action, details FROM audit_entry WHERE {NOT_SETUP}")
    assert [entry["action"] for entry in audit] == ["site.verified"]
    again = await verify(client, started.token, site)
    assert again["verified_at"] == answer["verified_at"]
    assert await audited(settings) == ["site.verified"]  # verified once


async def test_a_txt_record_at_the_domain_itself_verifies_too(
    aiohttp_client: Any, settings: Settings, site: Site, dns: LoopbackDns
) -> None:
    client = await verifying_client(aiohttp_client, settings, dns)
    started = await logged_in(settings, site.account_id)
    dns.publish("shop.example", f"opentracker-verification={await token_of(settings, site)}")
    assert (await verify(client, started.token, site))["method"] == "dns_txt"


async def test_a_txt_record_with_another_token_does_not_verify_a_site(
    aiohttp_client: Any, settings: Settings, site: Site, dns: LoopbackDns
) -> None:
    client = await verifying_client(aiohttp_client, settings, dns)
    started = await logged_in(settings, site.account_id)
    dns.publish("_opentracker.shop.example", "opentracker-verification=someone-elses-token")
    assert (await verify(client, started.token, site))["verified"] is False
    assert "_opentracker.shop.example" in dns.records.asked, "the test's DNS server was asked"


async def test_the_site_shows_where_to_publish_its_token(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    response = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(started.token))
    token = await token_of(settings, site)
    assert (await response.json())["verification"] == {
        "token": token,
        "file_url": f"https://shop.example/.well-known/opentracker-{token}.txt",
        "dns_name": "_opentracker.shop.example",
        "dns_value": f"opentracker-verification={token}",
    }


async def test_the_txt_lookup_asks_the_configured_nameserver(
    settings: Settings, dns: LoopbackDns
) -> None:
    dns.publish("_opentracker.shop.example", "opentracker-verification=abc")
    lookup = txt_lookup(dns.settings_for(settings).verification)
    assert await lookup("_opentracker.shop.example") == ["opentracker-verification=abc"]
    assert await lookup("nothing.shop.example") == []


async def test_a_site_is_verified_by_a_file_holding_its_token(
    aiohttp_client: Any, settings: Settings, site: Site, served: TestServer, dns: LoopbackDns
) -> None:
    client = await verifying_client(aiohttp_client, settings, dns, loopback_fetcher(served))
    started = await logged_in(settings, site.account_id)
    answer = await verify(client, started.token, site)
    assert answer["verified"] is True and answer["method"] == "html_file"
    [row] = await rows(settings, "SELECT verified_at FROM site")
    assert row["verified_at"] is not None


async def test_a_file_with_another_token_does_not_verify_a_site(
    aiohttp_client: Any, aiohttp_server: Any, settings: Settings, site: Site, dns: LoopbackDns
) -> None:
    token = await token_of(settings, site)
    server = await file_server(
        aiohttp_server, {f"/.well-known/opentracker-{token}.txt": "someone-elses-token"}
    )
    client = await verifying_client(aiohttp_client, settings, dns, loopback_fetcher(server))
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


async def test_sites_verified_only_by_a_hit_are_unverified_by_the_upgrade(
    settings: Settings, site: Site
) -> None:
    """The migration of this change: a `tracker_seen` verification was never a proof."""
    by_file = await make_site(settings, domain="file.example")
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            for each, method in ((site, "tracker_seen"), (by_file, "html_file")):
                await session.exec(
                    update(Site).where(col(Site.id) == each.id).values(verified_at=utcnow())
                )
                details = {"site_id": each.id, "method": method}
                await audit.record(
                    session, AuditAction.SITE_VERIFIED, actor=Actor.account(1), details=details
                )
            await session.commit()
    finally:
        await engine.dispose()
    config = alembic_config(settings.effective_database_url)
    await asyncio.to_thread(command.downgrade, config, "9c3f1a7d2e58-1")
    await asyncio.to_thread(command.upgrade, config, "head")

    found = await rows(settings, "SELECT domain, verified_at FROM site ORDER BY id")
    assert [(row["domain"], row["verified_at"] is not None) for row in found] == [
        ("shop.example", False),
        ("file.example", True),
    ]
