"""A customer's website and a flaky network for the tracker's browser tests.

`Site` serves the HTML pages that carry the ot.js snippet; `CollectorProxy` stands between the
browser and the collector to fail requests on purpose and to count what the tracker sends.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

# What the proxy passes on: the collector enriches hits from these (browser, bot, language).
FORWARDED_HEADERS = ("User-Agent", "Content-Type", "Accept-Language", "Origin", "Referer")
# The tracker can only read a status and Retry-After that CORS lets it see.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
PLAIN_PAGE = "<!doctype html><title>elsewhere</title><p>Another site.</p>"


def snippet(src: str, domain: str, **options: str | bool) -> str:
    """The script tag a customer pastes; `options` become data-* attributes (True: bare,
    False: left out)."""
    attributes = [f'data-domain="{html.escape(domain)}"']
    for name, value in options.items():
        attribute = "data-" + name.replace("_", "-")
        if isinstance(value, str):
            attributes.append(f'{attribute}="{html.escape(value)}"')
        elif value:
            attributes.append(attribute)
    return f'<script defer {" ".join(attributes)} src="{html.escape(src)}"></script>'


def page_html(head: str, body: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>test page</title>"
        f"{head}</head><body>{body}</body></html>"
    )


@dataclass
class Site:
    """The customer's website on a free loopback port.

    The browser reaches it as http://<domain>:<port>/ (its resolver maps the domain to 127.0.0.1),
    so hits carry the hostname a real site would; `other_origin` is the same server under another
    host name, a target for outbound links that loads without leaving the loopback interface.
    """

    domain: str
    collector: str
    pages: dict[str, str] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.domain}:{self.port}"

    @property
    def other_origin(self) -> str:
        return f"http://localhost:{self.port}"

    def page(self, path: str, body: str = "", head: str = "", **options: str | bool) -> str:
        """Add a page carrying the snippet (after `head`) and return its URL."""
        tag = snippet(f"{self.collector}/js/ot.js", self.domain, **options)
        self.pages[path] = page_html(head + tag, body)
        return self.origin + path

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/{path:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        tcp_site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await tcp_site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        text = self.pages.get(request.path, PLAIN_PAGE)
        return web.Response(text=text, content_type="text/html")

    async def _file(self, request: web.Request) -> web.Response:
        disposition = f'attachment; filename="{request.match_info["name"]}"'
        headers = {"Content-Disposition": disposition}
        return web.Response(body=b"not really a file\n", headers=headers)


@dataclass
class CollectorProxy:
    """Forwards POST /api/event to the collector, answering the first `fail_first` itself.

    `failure` is the status those get (503 with `retry_after` by default); every body that
    arrives is kept in `bodies`, in order, parsed, and when it arrived (`time.monotonic()`) in
    `arrived`.
    """

    collector: str
    fail_first: int = 0
    failure: int = 503
    retry_after: str = "1"
    bodies: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _session: ClientSession | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/event"

    async def start(self) -> None:
        self._session = ClientSession()
        app = web.Application()
        app.router.add_post("/api/event", self._event)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()

    async def _event(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrived.append(time.monotonic())
        self.bodies.append(json.loads(body))
        if len(self.bodies) <= self.fail_first:
            headers = dict(CORS_HEADERS, **{"Retry-After": self.retry_after})
            return web.Response(status=self.failure, text="try later", headers=headers)
        assert self._session is not None
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        async with self._session.post(
            self.collector + "/api/event", data=body, headers=headers
        ) as answer:
            # The collector's own CORS headers go back untouched: the tracker must see them.
            passed = {k: v for k, v in answer.headers.items() if k.lower().startswith("access-")}
            return web.Response(status=answer.status, body=await answer.read(), headers=passed)
