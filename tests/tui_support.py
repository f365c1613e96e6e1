"""Helpers of the TUI tests: the app on a real server (in-process, on a loopback port, SQLite),
driven by Textual's Pilot, waiting for conditions and never for durations. Their fixtures, `ada`
and `tui_credentials`, are in conftest.py.

Test modules opt in with `pytestmark = TUI` (the server's database behaviour is covered by the
API tests on both databases; the TUI's, through HTTP, is the same on both)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.screen import Screen

import ot.stats.processes  # noqa: F401 - sets what the fork server preloads
from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.tui.app import OtApp

TUI = pytest.mark.sqlite_only
SMALL = (80, 24)
LARGE = (160, 48)
# A safety net for a hung test, not a timing: every wait ends as soon as its condition holds.
WAIT_LIMIT_SECONDS = 60.0


class ToldApp(OtApp):
    """The app, keeping every notification it shows: Textual takes each off the screen (and out
    of `App._notifications`) when its few seconds are up, and a loaded machine can let those
    pass before a test looks."""

    # Textual looks for a relative CSS_PATH beside the module that defines the app's class, and
    # this subclass is defined here, in tests: it names OtApp's stylesheet by its full path.
    CSS_PATH = str(Path(inspect.getfile(OtApp)).with_name(str(OtApp.CSS_PATH)))

    def __init__(self, client: OtClient, **options: Any) -> None:
        super().__init__(client, **options)
        self.told: list[str] = []

    def on_notify(self, event: Notify) -> None:
        # When the app handles it (and shows it), as a person would see it.
        self.told.append(f"{event.notification.title}: {event.notification.message}")


def base_url_of(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


def tui_app(
    client: TestClient,
    credentials: CredentialStore,
    clock: ManualClock,
    *,
    token: str | None = None,
) -> OtApp:
    """The app on the test's server, with the server's clock as its own."""
    # The server answers stats queries in processes forked from a fork server, which starts
    # with the first query and hands it the test's stderr; inside `run_test` stderr is
    # Textual's capture, which has no file descriptor. Started here, it gets the real one.
    forkserver.ensure_running()
    ot_client = OtClient(base_url_of(client), token, credentials=credentials)
    return ToldApp(ot_client, now=clock.now)


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Let the app run until `condition()` holds (workers answering, screens changing)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        await pilot.pause(0.02)
        if loop.time() - start > WAIT_LIMIT_SECONDS:
            raise AssertionError(f"waited {WAIT_LIMIT_SECONDS:.0f} s for: {what}")


async def wait_for_screen(pilot: Pilot[None], kind: type[Screen[Any]]) -> None:
    """Wait until `kind` is the top screen and has painted (so the test sees what it shows)."""
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted,
        f"the {kind.__name__}",
    )
    await pilot.pause()  # its widgets' first refresh (a Header sets its title then)


def notifications(app: OtApp) -> list[str]:
    """Every notification shown so far, as 'title: message'."""
    assert isinstance(app, ToldApp), "make the app with tui_app or ToldApp"
    return list(app.told)


def screen_text(app: OtApp) -> str:
    """What the top screen shows, as plain text, line by line (as a person would read it)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


def count_layouts(screen: Screen[object]) -> list[int]:
    """The layouts of `screen` from now on, one element each: laying out the whole screen is
    what a change of a few figures must not cost."""
    layouts: list[int] = []
    lay_out = screen._refresh_layout

    def counted(*args: object, **kwargs: object) -> None:
        layouts.append(1)
        lay_out(*args, **kwargs)  # type: ignore[arg-type]

    screen._refresh_layout = counted  # type: ignore[method-assign]
    return layouts
