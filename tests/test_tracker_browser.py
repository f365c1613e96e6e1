"""ot.js in a real headless Chromium, driven by Playwright, against a running collector."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.webpages import CollectorProxy, Site, page_html, snippet

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs a Chromium at {CHROMIUM}"),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")

# The collector drops bots and "HeadlessChrome" is one: the browser says it is a desktop Chrome.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
# No network but loopback: nothing that phones home, nothing that updates itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--user-agent={DESKTOP_UA}",
]
QUEUE_STUB = (
    "<script>window.ot = window.ot"
    " || function () { (window.ot.q = window.ot.q || []).push(arguments) }</script>"
)
# Watches, in the page, what each fetch came to: a status, or "error" when the browser gave no
# readable answer. The tracker's own `.then` on the same fetch runs in the same microtask
# checkpoint, right after this one: once a status shows here, the tracker has acted on it.
FETCH_WATCH = """
const realFetch = window.fetch
window.otAnswers = []
window.fetch = (...args) => {
  const answer = realFetch(...args)
  answer.then((r) => window.otAnswers.push(r.status), () => window.otAnswers.push('error'))
  return answer
}
"""
OUTBOUND = "Outbound Link: Click"
DOWNLOAD = "File Download"


@dataclass
class Tab:
    """A page in a fresh browser context, with everything the tracker sent from it.

    `sent` holds the parsed bodies of requests to any /api/event, as the wire carried them;
    `errors` the uncaught errors of the page: the tracker must never cause one.
    """

    page: Any
    sent: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def wait_for_hits(server: Any, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until the collector stored `count` hits, without blocking the event loop that runs
    the test's own web servers."""
    deadline = time.monotonic() + timeout
    while len(hits := server.hits()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} hits within {timeout} s, stored: {hits}")
        await asyncio.sleep(0.05)
    return hits


async def answers_read(tab: Tab, count: int) -> list[int | str]:
    """What the page's first `count` fetches came to, once the tracker has read them."""
    await tab.page.wait_for_function(f"window.otAnswers.length >= {count}", timeout=60_000)
    answers: list[int | str] = await tab.page.evaluate("window.otAnswers")
    return answers


async def stays(server: Any, count: int, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Check that nothing more arrives: a duplicate would show up after the first hits."""
    await asyncio.sleep(seconds)
    hits = server.hits()
    assert len(hits) == count, hits
    return hits


def named(hits: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [hit for hit in hits if hit["name"] == name]


@pytest.fixture
async def browser(live_server: Any) -> AsyncIterator[Any]:
    """One Chromium per test; Playwright gives every launch a fresh temporary profile.

    The resolver rule lets pages load from the site's own domain while staying on loopback.
    """
    rule = f"--host-resolver-rules=MAP {live_server.site_domain} 127.0.0.1"
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rule]
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def website(live_server: Any) -> AsyncIterator[Site]:
    """The customer's website, its snippet pointing at the live collector."""
    website = Site(domain=live_server.site_domain, collector=live_server.base_url)
    await website.start()
    yield website
    await website.close()


@pytest.fixture
async def proxy(live_server: Any) -> AsyncIterator[CollectorProxy]:
    """A way to the collector that can fail on purpose (configure it before the page loads)."""
    collector_proxy = CollectorProxy(collector=live_server.base_url)
    await collector_proxy.start()
    yield collector_proxy
    await collector_proxy.close()


@pytest.fixture
async def new_tab(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """Opens tabs, each in its own context (its own storage); checks none saw a page error."""
    tabs: list[Tab] = []

    async def open_tab(init_script: str | None = None) -> Tab:
        context = await browser.new_context()
        if init_script:
            await context.add_init_script(init_script)
        tab = Tab(page=await context.new_page())
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))

        def record(request: Any) -> None:
            if request.url.endswith("/api/event") and request.method == "POST":
                tab.sent.append(json.loads(request.post_data))

        context.on("request", record)
        tabs.append(tab)
        return tab

    yield open_tab
    for tab in tabs:
        await tab.page.context.close()
    assert [tab.errors for tab in tabs if tab.errors] == []


async def test_pageview_on_load_is_recorded_with_its_path_and_host(live_server, website, new_tab):
    url = website.page("/pricing/")
    tab = await new_tab()
    await tab.page.goto(url + "?utm_source=newsletter")

    [hit] = await wait_for_hits(live_server, 1)
    assert hit["name"] == "pageview"
    assert hit["hostname"] == live_server.site_domain
    assert hit["pathname"] == "/pricing/"
    assert hit["browser"] == "Chrome"
    assert hit["device"] == "Desktop"
    [sent] = tab.sent
    assert sent["d"] == live_server.site_domain
    assert sent["u"] == url + "?utm_source=newsletter"
    assert sent["r"] is None
    assert len(sent["eid"]) == 32
    assert hit["event_id"] == sent["eid"]
    assert not {"p", "h", "i", "vid", "revenue"} & sent.keys()


async def test_spa_route_change_records_a_second_pageview(live_server, website, new_tab):
    tab = await new_tab()
    await tab.page.goto(website.page("/app/"))
    await wait_for_hits(live_server, 1)

    await tab.page.evaluate("history.pushState({}, '', '/app/orders?page=2')")

    hits = await wait_for_hits(live_server, 2)
    assert [hit["pathname"] for hit in hits] == ["/app/", "/app/orders"]
    assert tab.sent[1]["u"].endswith("/app/orders?page=2")


async def test_back_button_records_a_pageview_but_an_in_page_anchor_does_not(
    live_server, website, new_tab
):
    tab = await new_tab()
    await tab.page.goto(website.page("/app/"))
    # The first page view reaches the server before the next is sent (two fetches at once may
    # arrive in either order).
    await wait_for_hits(live_server, 1)
    await tab.page.evaluate("history.pushState({}, '', '/app/orders')")
    await wait_for_hits(live_server, 2)

    await tab.page.evaluate("history.back()")
    await wait_for_hits(live_server, 3)
    await tab.page.evaluate("location.hash = '#footer'")

    hits = await stays(live_server, 3)
    assert [hit["pathname"] for hit in hits] == ["/app/", "/app/orders", "/app/"]


async def test_outbound_link_click_records_an_outbound_event_with_its_url(
    live_server, website, new_tab
):
    target = website.other_origin + "/partner?ref=shop"
    tab = await new_tab()
    await tab.page.goto(website.page("/", body=f'<a id="out" href="{target}"><b>Partner</b></a>'))
    await wait_for_hits(live_server, 1)

    # A plain click leaves the page: the hit must survive the navigation.
    await tab.page.click("#out b")
    await tab.page.wait_for_url(target)

    [event] = named(await wait_for_hits(live_server, 2), OUTBOUND)
    assert event["props"] == {"url": target}
    assert event["pathname"] == "/"


async def test_middle_click_on_an_outbound_link_records_an_outbound_event(
    live_server, website, new_tab
):
    target = website.other_origin + "/partner"
    tab = await new_tab()
    await tab.page.goto(website.page("/", body=f'<a id="out" href="{target}">Partner</a>'))
    await wait_for_hits(live_server, 1)

    await tab.page.click("#out", button="middle")

    [event] = named(await wait_for_hits(live_server, 2), OUTBOUND)
    assert event["props"] == {"url": target}


async def test_link_to_the_same_site_is_not_an_outbound_click(live_server, website, new_tab):
    tab = await new_tab()
    await tab.page.goto(website.page("/", body='<a id="in" href="/about">About</a>'))
    await wait_for_hits(live_server, 1)

    await tab.page.click("#in")
    await tab.page.wait_for_url(website.origin + "/about")

    await stays(live_server, 1)


async def test_file_download_click_records_a_download_event_without_the_query(
    live_server, website, new_tab
):
    body = '<a id="file" href="/files/Report-2024.PDF?token=secret">Annual report</a>'
    tab = await new_tab()
    await tab.page.goto(website.page("/reports/", body=body))
    await wait_for_hits(live_server, 1)

    async with tab.page.expect_download():
        await tab.page.click("#file")

    [event] = named(await wait_for_hits(live_server, 2), DOWNLOAD)
    assert event["props"] == {"url": website.origin + "/files/Report-2024.PDF"}
    assert event["pathname"] == "/reports/"


async def test_custom_events_with_props_are_recorded_including_one_queued_before_load(
    live_server, website, new_tab
):
    queued = "<script>ot('Newsletter', {props: {list: 'weekly'}})</script>"
    tab = await new_tab()
    await tab.page.goto(website.page("/checkout/", head=QUEUE_STUB + queued))
    answer = await tab.page.evaluate(
        """() => new Promise((resolve) => ot('Signup', {
            props: {plan: 'pro'},
            revenue: {currency: 'EUR', amount: 9.5},
            interactive: false,
            callback: resolve,
        }))"""
    )

    assert answer == {"status": 202}
    hits = await wait_for_hits(live_server, 3)
    [newsletter] = named(hits, "Newsletter")
    [signup] = named(hits, "Signup")
    assert newsletter["props"] == {"list": "weekly"}
    assert newsletter["interactive"]
    assert signup["props"] == {"plan": "pro"}
    assert not signup["interactive"]
    assert signup["pathname"] == "/checkout/"
    # The pageview goes first, then the queue, in order.
    assert [sent["n"] for sent in tab.sent] == ["pageview", "Newsletter", "Signup"]
    wire = tab.sent[2]
    assert wire["p"] == {"plan": "pro"}
    assert wire["revenue"] == {"currency": "EUR", "amount": 9.5}
    assert wire["i"] is False


async def test_hash_routing_records_a_pageview_per_fragment_route(live_server, website, new_tab):
    tab = await new_tab()
    link = '<a id="billing" href="#/billing">Billing</a>'
    await tab.page.goto(website.page("/app/", body=link, hash=True))
    await wait_for_hits(live_server, 1)

    await tab.page.evaluate("location.hash = '#/settings'")
    await wait_for_hits(live_server, 2)
    await tab.page.click("#billing")

    hits = await wait_for_hits(live_server, 3)
    paths = [hit["pathname"] for hit in hits]
    assert paths[0] == "/app/"
    assert paths[1].endswith("#/settings")
    assert paths[2].endswith("#/billing")
    assert all(sent["h"] == 1 for sent in tab.sent)
    await stays(live_server, 3)


async def test_cookie_mode_keeps_the_same_visitor_id_across_a_reload(live_server, website, new_tab):
    url = website.page("/", visitor="cookie")
    tab = await new_tab()
    await tab.page.goto(url)
    await wait_for_hits(live_server, 1)
    stored_id = await tab.page.evaluate("localStorage.getItem('ot_vid')")

    await tab.page.reload()
    first, second = await wait_for_hits(live_server, 2)

    assert await tab.page.evaluate("localStorage.getItem('ot_vid')") == stored_id
    assert [sent["vid"] for sent in tab.sent] == [stored_id, stored_id]
    assert first["visitor_id"] == second["visitor_id"]


async def test_cookieless_mode_stores_nothing_on_the_device(live_server, website, new_tab):
    tab = await new_tab()
    await tab.page.goto(website.page("/"))
    await tab.page.evaluate("new Promise((resolve) => ot('Signup', {callback: resolve}))")
    await wait_for_hits(live_server, 2)

    stored = await tab.page.evaluate(
        "[localStorage.length, sessionStorage.length, document.cookie]"
    )
    assert stored == [0, 0, ""]
    assert all("vid" not in sent for sent in tab.sent)


async def test_cookie_mode_with_blocked_storage_still_counts_without_an_id(
    live_server, website, new_tab
):
    blocked = """Object.defineProperty(window, 'localStorage', {
        get() { throw new DOMException('blocked', 'SecurityError') } })"""
    tab = await new_tab(init_script=blocked)
    await tab.page.goto(website.page("/", visitor="cookie"))

    await wait_for_hits(live_server, 1)
    assert "vid" not in tab.sent[0]


@pytest.mark.parametrize(
    "signal",
    [
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
    ],
    ids=["global-privacy-control", "do-not-track"],
)
async def test_respect_dnt_sends_nothing_when_the_browser_asks_not_to_be_tracked(
    live_server, website, new_tab, signal
):
    tab = await new_tab(init_script=signal)
    await tab.page.goto(website.page("/", visitor="cookie", respect_dnt=True))
    # The callback still runs, so a page waiting on it goes on.
    await tab.page.evaluate("new Promise((resolve) => ot('Signup', {callback: resolve}))")
    await tab.page.evaluate("history.pushState({}, '', '/next')")

    await stays(live_server, 0)
    assert tab.sent == []
    assert await tab.page.evaluate("localStorage.length") == 0


async def test_hit_answered_503_is_retried_with_the_same_event_id_and_stored_once(
    live_server, website, proxy, new_tab
):
    proxy.fail_first = 1
    tab = await new_tab()
    await tab.page.goto(website.page("/", api=proxy.api))

    [hit] = await wait_for_hits(live_server, 1)
    first, retry = proxy.bodies
    assert first == retry
    assert hit["event_id"] == first["eid"]
    await stays(live_server, 1)
    assert len(proxy.bodies) == 2


async def test_retry_waits_as_long_as_retry_after_asks(live_server, website, proxy, new_tab):
    # Our own backoff would retry after 1 to 1.5 s.
    proxy.fail_first, proxy.retry_after = 1, "3"
    tab = await new_tab()
    await tab.page.goto(website.page("/", api=proxy.api))

    await wait_for_hits(live_server, 1)
    first, retry = proxy.arrived
    # The tracker's timer starts after the 503 left the proxy: a busy machine can only make
    # the gap longer, never shorter (less a little for the timers' granularity).
    assert retry - first >= 2.9


async def test_accepted_hit_is_sent_once(live_server, website, proxy, new_tab):
    # Also checks the collector's CORS answer: a response the browser may not read is a network
    # error to the tracker, and it would retry a hit that was stored.
    tab = await new_tab(init_script=FETCH_WATCH)
    await tab.page.goto(website.page("/", api=proxy.api))
    await wait_for_hits(live_server, 1)

    # Read as a 202: nothing for the tracker to retry (retries follow errors and 502-504).
    assert await answers_read(tab, 1) == [202]
    await stays(live_server, 1)
    assert len(proxy.bodies) == 1


async def test_hit_answered_4xx_is_not_retried(live_server, website, proxy, new_tab):
    proxy.fail_first, proxy.failure = 1, 400
    tab = await new_tab()
    await tab.page.goto(website.page("/", api=proxy.api))

    await stays(live_server, 0, seconds=2.5)
    assert len(proxy.bodies) == 1


async def test_hit_waiting_for_its_retry_is_flushed_when_the_page_is_left(
    live_server, website, proxy, new_tab
):
    proxy.fail_first, proxy.retry_after = 1, "30"
    tab = await new_tab(init_script=FETCH_WATCH)
    await tab.page.goto(website.page("/", api=proxy.api))
    # The tracker has read the 503 and holds the hit for a retry in 30 s, after this test.
    assert await answers_read(tab, 1) == [503]

    await tab.page.goto(website.other_origin + "/elsewhere")

    [hit] = await wait_for_hits(live_server, 1, timeout=20)  # before the retry: the flush
    first, flushed = proxy.bodies
    assert flushed == first
    assert hit["event_id"] == first["eid"]


async def test_snippet_included_twice_counts_one_pageview(live_server, website, new_tab):
    tag = snippet(f"{live_server.base_url}/js/ot.js", live_server.site_domain)
    website.pages["/"] = page_html(tag + tag)
    tab = await new_tab()
    await tab.page.goto(website.origin + "/")

    await wait_for_hits(live_server, 1)
    await stays(live_server, 1)
    assert len(tab.sent) == 1


async def test_without_fetch_the_hit_goes_by_send_beacon(live_server, website, new_tab):
    tab = await new_tab(init_script="delete window.fetch")
    await tab.page.goto(website.page("/"))

    [hit] = await wait_for_hits(live_server, 1)
    assert hit["name"] == "pageview"
