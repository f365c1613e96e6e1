"""`ot tui --web`: the same app served to browsers through textual-serve, opened in a headless
Chromium, logged in by typing as a person would, each browser session logging in on its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ot.client import CredentialStore, OtClient
from ot.config import Settings
from tests.account_support import EMAIL, PASSWORD
from tests.conftest import free_port
from tests.support import rows
from tests.test_tracker_browser import CHROMIUM, CHROMIUM_ARGS
from tests.tui_support import TUI, WAIT_LIMIT_SECONDS, base_url_of

pytestmark = [
    TUI,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs a Chromium at {CHROMIUM}"),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")

# textual-serve's page draws the app with xterm.js on a canvas, and keeps its Terminal to itself.
# Before the page's scripts run, this catches the Terminal as the page stores it (`x.terminal =
# new Terminal(...)`), so the test can read the screen's rows from xterm's buffer.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    window.otTerminal = value
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    })
  },
})
"""
SCREEN_TEXT = """
() => {
  const terminal = window.otTerminal
  if (!terminal) return ""
  const buffer = terminal.buffer.active
  const rows = []
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y)
    rows.push(line ? line.translateToString(true) : "")
  }
  return rows.join("\\n")
}
"""
# The colours of the password field's top border (the row under its label): it changes colour
# when the field takes the focus (the blinking cursor changes the screen too, so only the border
# is compared).
PASSWORD_BORDER = """
() => {
  const terminal = window.otTerminal
  const buffer = terminal.buffer.active
  for (let y = 0; y + 1 < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y)
    if (!line || !line.translateToString(true).includes("Password")) continue
    const border = buffer.getLine(buffer.viewportY + y + 1)
    const colours = []
    for (let x = 0; x < terminal.cols; x++) {
      const cell = border.getCell(x)
      colours.push(cell.getFgColor(), cell.getBgColor())
    }
    return colours.join(",")
  }
  return ""
}
"""


@pytest.fixture
async def ada_site(client: TestClient, ada: int, tmp_path: Path) -> str:
    """Ada's site, added through the API."""
    store = CredentialStore(tmp_path / "setup-config")
    async with OtClient(base_url_of(client), credentials=store) as ot_client:
        await ot_client.log_in(EMAIL, PASSWORD)
        await ot_client.add_site("ada.example")
    return "ada.example"


@pytest.fixture
def web_config(tmp_path: Path) -> Path:
    """The config folder of the user running `ot tui --web`: a browser's log-in is never kept
    there."""
    folder = tmp_path / "web-config"
    folder.mkdir()
    return folder


@pytest.fixture
async def web(client: TestClient, web_config: Path) -> AsyncIterator[str]:
    """`ot tui --web` on a free loopback port, serving the app of the test's server."""
    port = free_port()
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("OT_")},
        "XDG_CONFIG_HOME": str(web_config),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ot", "tui", "--web", "--host", "127.0.0.1", "--port", str(port),
         "--server", base_url_of(client)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        await until_answering(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


async def until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                assert process.stdout is not None
                raise AssertionError(f"ot tui --web exited:\n{process.stdout.read().decode()}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert loop.time() < deadline, f"{url} did not answer in {WAIT_LIMIT_SECONDS:.0f} s"
            await asyncio.sleep(0.1)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def open_page(browser: Any, url: str) -> Any:
    """A page in a browser session of its own (cookies, storage), its terminal caught."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.add_init_script(CATCH_TERMINAL)
    await page.goto(url)
    return page


async def screen_of(page: Any) -> str:
    text: str = await page.evaluate(SCREEN_TEXT)
    return text


async def wait_for_text(page: Any, *texts: str) -> str:
    """The terminal's screen once it shows every one of `texts` (polled; the limit is only a
    safety net)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while True:
        screen = await screen_of(page)
        if all(text in screen for text in texts):
            return screen
        assert loop.time() < deadline, f"the page never showed {texts!r}; it shows:\n{screen}"
        await asyncio.sleep(0.1)


async def log_in(page: Any, email: str, password: str) -> None:
    await page.click("#terminal")  # the terminal takes the keys once it has the focus
    await page.keyboard.type(email)
    # Keys typed before the focus has moved would still go to the e-mail field: as a person
    # does, see the focus move before typing on.
    before = await page.evaluate(PASSWORD_BORDER)
    await page.keyboard.press("Tab")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while await page.evaluate(PASSWORD_BORDER) == before:
        assert loop.time() < deadline, "Tab did not move the focus"
        await asyncio.sleep(0.05)
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")


async def test_a_browser_shows_the_log_in_screen_and_after_logging_in_the_sites(
    web: str, browser: Any, ada_site: str, web_config: Path
) -> None:
    page = await open_page(browser, web)
    login = await wait_for_text(page, "Password")
    assert "E-mail" in login

    await log_in(page, EMAIL, PASSWORD)
    sites = await wait_for_text(page, ada_site)
    assert "opentracker" in sites

    # The log-in stays in that browser's own process: nothing on the serving user's disk.
    assert list(web_config.rglob("*")) == []


async def test_a_browser_opens_a_sites_dashboard_and_reads_its_figures_and_panels(
    web: str, browser: Any, ada_site: str
) -> None:
    page = await open_page(browser, web)
    await wait_for_text(page, "Password")
    await log_in(page, EMAIL, PASSWORD)
    await wait_for_text(page, ada_site)

    await page.keyboard.press("Enter")  # the sites list has the focus: Enter opens the dashboard
    # The headline figures once loaded, under their names (short ones on a narrow terminal), and
    # the panels.
    dashboard = await wait_for_text(page, "Bounce", "Top pages", "Sources")
    # Ada's site is cookieless: once counted, its visitors are named a sum of daily visitors.
    visitors = ("Unique visitors", "Visitors", "sum of daily visitors", "Σ daily vis.")
    assert any(label in dashboard for label in visitors), dashboard
    assert "pageviews" in dashboard.lower()
    assert "Last 30 days" in dashboard  # the period the dashboard opens with


async def test_each_browser_session_logs_in_on_its_own(
    web: str, browser: Any, ada_site: str
) -> None:
    first = await open_page(browser, web)
    await wait_for_text(first, "Password")
    await log_in(first, EMAIL, PASSWORD)
    await wait_for_text(first, ada_site)

    second = await open_page(browser, web)
    shown = await wait_for_text(second, "Password")
    assert ada_site not in shown


async def test_closing_the_page_ends_its_session_on_the_server(
    web: str, browser: Any, ada_site: str, settings: Settings
) -> None:
    async def open_sessions() -> int:
        found = await rows(
            settings, "SELECT COUNT(*) AS n FROM login_session WHERE revoked_at IS NULL"
        )
        return int(found[0]["n"])

    before = await open_sessions()  # the fixture's own, which added the site
    page = await open_page(browser, web)
    await wait_for_text(page, "Password")
    await log_in(page, EMAIL, PASSWORD)
    await wait_for_text(page, ada_site)
    assert await open_sessions() == before + 1

    await page.context.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while await open_sessions() != before:
        assert loop.time() < deadline, "the browser's session was left open"
        await asyncio.sleep(0.1)


def test_ot_tui_web_refuses_to_hand_an_api_key_to_whoever_opens_the_page() -> None:
    from typer.testing import CliRunner

    from ot.cli import app as ot_command

    result = CliRunner().invoke(ot_command, ["tui", "--web", "--api-key", "ot_secret"])
    assert result.exit_code == 2
    assert "API key" in result.output
