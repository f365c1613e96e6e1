"""A body sent wrong is the client's mistake, answered 400 naming the problem on every endpoint
that reads a body, in that endpoint's own error shape (the collector's Plausible and Matomo
endpoints, the Stats API, our own API): a body its `Content-Encoding` header does not describe,
and JSON nested thousands of levels deep. A body compressed as its header says is read."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from ot.config import Settings, load_settings
from ot.json_input import MAX_DEPTH
from ot.models import Site
from ot.server.app import create_app
from ot.server.auth import RouteNeeds, declared
from tests.stats_support import token_for
from tests.support import CHROME_USER_AGENT, bearer, event, logged_in
from tests.test_route_access import _grant

# Handlers that read their body themselves rather than through a declared body model: adding a
# route here is a deliberate act (the walk below finds the declared ones).
SELF_READING = {
    ("POST", "/api/event"),
    ("POST", "/matomo.php"),
    ("POST", "/piwik.php"),
    ("POST", "/api/v2/query"),
    ("POST", "/ot/v1/shared/query"),
}
PLAUSIBLE_EVENTS_API = ("POST", "/api/event")
STATS_API = ("POST", "/api/v2/query")


def body_reading_routes() -> list[tuple[str, str, RouteNeeds]]:
    """(method, path, access) of every route that reads a request body."""
    app = create_app(load_settings(data_dir="/nonexistent-ot-data-for-route-listing"))
    found = []
    for route in app.router.routes():
        declaration = declared(route.handler)
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if declaration is not None and (
            declaration.body is not None or (route.method, path) in SELF_READING
        ):
            found.append((route.method, path, declaration.access))
    return found


ROUTES = body_reading_routes()


@dataclass
class Callers:
    """A credential for every kind of route."""

    session: str
    api_key: str
    grant_key: str

    def headers_for(self, access: RouteNeeds) -> dict[str, str]:
        if access in (RouteNeeds.PUBLIC, RouteNeeds.COLLECTOR):
            return {"User-Agent": CHROME_USER_AGENT}
        token = {RouteNeeds.STATS_API: self.api_key, RouteNeeds.GRANT: self.grant_key}.get(
            access, self.session
        )
        return bearer(token)


@pytest.fixture
async def callers(settings: Settings, site: Site) -> Callers:
    """The owner of shop.example logged in, with an API key, and a grant of the site."""
    return Callers(
        session=(await logged_in(settings, site.account_id)).token,
        api_key=await token_for(settings, site.account_id),
        grant_key=(await _grant(settings, site)).key,
    )


def _path(path: str) -> str:
    return re.sub(r"\{\w+(:[^}]*)?\}", "987654", path)  # ids are not reached: the body fails first


async def _problem(response: ClientResponse, route: tuple[str, str]) -> tuple[str, str | None]:
    """The message and the field named by a 400, after checking the route family's shape."""
    assert response.status == 400, f"{route}: {response.status} {await response.text()}"
    body: dict[str, Any] = await response.json()
    if route == STATS_API:  # Plausible's Stats API: {"error": "..."}
        assert set(body) == {"error"} and isinstance(body["error"], str)
        return body["error"], None
    error = body["error"]
    assert set(error) == {"code", "message", "field"} and error["code"] == "invalid_input"
    if route == PLAUSIBLE_EVENTS_API:  # Plausible's {"errors": {...}} beside ours
        assert list(body["errors"].values()) == [[error["message"]]]
    return error["message"], error["field"]


async def test_a_body_its_content_encoding_does_not_describe_answers_400_naming_the_header(
    client: TestClient, callers: Callers
) -> None:
    for method, path, access in ROUTES:
        for encoding in ("gzip", "deflate"):
            response = await client.request(
                method,
                _path(path),
                data=b'{"name": "pageview", "this is": "not compressed"}',
                headers={
                    **callers.headers_for(access),
                    "Content-Type": "application/json",
                    "Content-Encoding": encoding,
                },
            )
            message, field = await _problem(response, (method, path))
            assert f"Content-Encoding header says {encoding}" in message, (path, message)
            assert field in ("Content-Encoding", None), (path, field)


async def test_json_nested_thousands_of_levels_deep_answers_400_naming_the_nesting(
    client: TestClient, callers: Callers
) -> None:
    deep = "[" * 5000 + "]" * 5000
    for method, path, access in ROUTES:
        for body in (
            '{"name": ' + deep + "}",
            '{"name": ' + "[" * (MAX_DEPTH) + "]" * MAX_DEPTH + "}",
        ):
            response = await client.request(
                method,
                _path(path),
                data=body.encode(),
                headers={**callers.headers_for(access), "Content-Type": "application/json"},
            )
            message, field = await _problem(response, (method, path))
            assert f"nested deeper than {MAX_DEPTH} levels" in message, (path, message)
            assert field in ("body", None), (path, field)


async def test_a_body_compressed_as_its_header_says_is_read(
    client: TestClient, callers: Callers
) -> None:
    hit = gzip.compress(json.dumps(event()).encode())
    response = await client.post(
        "/api/event",
        data=hit,
        headers={"User-Agent": CHROME_USER_AGENT, "Content-Encoding": "gzip"},
    )
    assert response.status == 202, await response.text()
    query = {"site_id": "shop.example", "metrics": ["pageviews"], "date_range": "day"}
    response = await client.post(
        "/api/v2/query",
        data=gzip.compress(json.dumps(query).encode()),
        headers={**bearer(callers.api_key), "Content-Encoding": "gzip"},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["results"][0]["metrics"] == [1]


def test_the_walk_finds_every_family_of_body_reading_endpoints() -> None:
    """Guards the walk itself: an empty walk would make the checks above vacuous."""
    found = {(method, path) for method, path, _ in ROUTES}
    assert found >= SELF_READING
    assert len([path for _, path, _ in ROUTES if path.startswith("/ot/v1/")]) >= 10


async def test_a_compressed_body_answered_unread_is_not_inflated_behind_the_answer(
    client: TestClient,
) -> None:
    """A few kilobytes that inflate to 64 MB (gigabytes in an attack), sent where the answer
    comes before the body is read (no credentials): the server reads no more than a body may
    hold and hangs up, rather than inflate the rest on its event loop to keep the connection
    alive for a next request."""
    bomb = gzip.compress(bytes(64 << 20), compresslevel=1)
    assert client.port is not None
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            (
                "POST /api/v2/query HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(bomb)}\r\n\r\n"
            ).encode()
            + bomb
        )
        await writer.drain()
        try:  # the answer may be lost to the reset of a hang-up with the bomb still unread
            answer = await asyncio.wait_for(reader.read(), timeout=60)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 401"), answer[:200]
            assert answer == b"" or b"\r\nConnection: close\r\n" in answer, answer[:200]
        except ConnectionResetError:
            pass
    finally:
        writer.close()


async def test_a_small_compressed_body_answered_unread_keeps_the_connection(
    client: TestClient,
) -> None:
    """What a real client sends with a wrong key: the answer is read whole and the connection
    serves the next request."""
    query = gzip.compress(json.dumps({"site_id": "shop.example"}).encode())
    for _ in range(2):
        response = await client.post(
            "/api/v2/query",
            data=query,
            headers={"Content-Encoding": "gzip", "Authorization": "Bearer wrong"},
        )
        assert response.status == 401, await response.text()
        assert response.headers.get("Connection", "").lower() != "close"
