"""How the main screens of `ot tui` look, at 80x24 and at 160x48: each is compared with the
picture kept in tests/__snapshots__/test_tui_snapshots/ (update them with `--snapshot-update`
after a change meant to show, without `-n`, and look at the new pictures before committing them).

The app is handed a client with canned answers and a fixed clock (tests/tui_canned.py), so the
pictures do not change with the day; what the screens do is tested on a real server in the
other tests/test_tui_*.py. Before each picture the test waits until every answer has landed
(no worker running, no loading indicator) and stops the text cursors from blinking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, LoadingIndicator, TextArea

from ot.tui.app import OtApp
from ot.tui.screens.access import AccessScreen
from ot.tui.screens.access_grants import GrantsPane
from ot.tui.screens.dashboard import DashboardScreen
from ot.tui.screens.help import HelpScreen
from ot.tui.screens.login import LoginScreen
from ot.tui.screens.panel import PanelScreen
from ot.tui.screens.profile import ProfileScreen
from ot.tui.screens.register import RegisterScreen
from ot.tui.screens.site_settings import SiteSettingsScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.widgets.breakdown import Breakdown
from ot.tui.widgets.kpi import KpiStrip
from tests.tui_canned import SITES, CannedClient, fixed_now
from tests.tui_support import LARGE, SMALL, wait_for

SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
SnapCompare = Callable[..., bool]
Navigate = Callable[[Pilot[None]], Awaitable[None]]
ScreenT = TypeVar("ScreenT", bound=Screen[Any])


def canned_app(*, logged_in: bool = True) -> OtApp:
    return OtApp(CannedClient(logged_in=logged_in), now=fixed_now)


async def on_screen(pilot: Pilot[None], kind: type[ScreenT]) -> ScreenT:
    """Wait until `kind` is the top screen and has painted; that screen."""
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, kind.__name__
    )
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def settled(pilot: Pilot[None]) -> None:
    """Wait until nothing is loading: every worker done (they may start others), no loading
    indicator left; then stop the text cursors blinking, so the picture is the same each run."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            all(worker.is_finished for worker in app.workers)
            and not app.screen.query(LoadingIndicator)
        ),
        "every answer to land",
    )
    for field in app.screen.query(Input):
        field.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False
    await pilot.pause()


async def on_sites(pilot: Pilot[None]) -> SitesScreen:
    screen = await on_screen(pilot, SitesScreen)
    await wait_for(pilot, lambda: len(screen.traffic) == len(SITES), "every site's figures")
    return screen


async def on_dashboard(pilot: Pilot[None]) -> DashboardScreen:
    await on_sites(pilot)
    await pilot.press("enter")  # the first site: shop.example.com
    return await dashboard_loaded(pilot)


async def dashboard_loaded(pilot: Pilot[None]) -> DashboardScreen:
    screen = await on_screen(pilot, DashboardScreen)
    await wait_for(
        pilot,
        lambda: (
            screen.shown_view == screen.view
            and screen.realtime is not None
            and all(panel.loaded_view == screen.view for panel in screen.query(Breakdown))
        ),
        "the figures and every panel",
    )
    await settled(pilot)
    return screen


def shows(screen: type[Screen[Any]], then: Navigate | None = None) -> Navigate:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_screen(pilot, screen)
        if then is not None:
            await then(pilot)
        await settled(pilot)

    return run_before


# --- before logging in -----------------------------------------------------------------------


@SIZES
def test_the_log_in_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = canned_app(logged_in=False)
    assert snap_compare(app, terminal_size=size, run_before=shows(LoginScreen))


@SIZES
def test_the_register_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def register(pilot: Pilot[None]) -> None:
        await on_screen(pilot, LoginScreen)
        await pilot.press("f2")
        await on_screen(pilot, RegisterScreen)
        await settled(pilot)

    assert snap_compare(canned_app(logged_in=False), terminal_size=size, run_before=register)


# --- the sites and their dashboards ----------------------------------------------------------


@SIZES
def test_the_sites_with_their_sparklines(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def sites(pilot: Pilot[None]) -> None:
        await on_sites(pilot)
        await settled(pilot)

    assert snap_compare(canned_app(), terminal_size=size, run_before=sites)


@SIZES
def test_the_dashboard_compared_with_the_previous_period(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    async def dashboard(pilot: Pilot[None]) -> None:
        screen = await on_dashboard(pilot)
        assert screen.query_one(KpiStrip).figures()  # the comparison is the one it opens with

    assert snap_compare(canned_app(), terminal_size=size, run_before=dashboard)


@SIZES
def test_the_dashboard_filtered_by_a_page_shows_the_filter_above_the_figures(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    async def filtered(pilot: Pilot[None]) -> None:
        screen = await on_dashboard(pilot)
        await pilot.press("down", "enter")  # the top pages' second row: /pricing
        await wait_for(pilot, lambda: bool(screen.view.filters), "the filter")
        await dashboard_loaded(pilot)

    assert snap_compare(canned_app(), terminal_size=size, run_before=filtered)


@SIZES
def test_a_panel_full_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def full_panel(pilot: Pilot[None]) -> None:
        await on_dashboard(pilot)
        await pilot.press("z")  # the top pages have the focus
        screen = await on_screen(pilot, PanelScreen)
        await wait_for(pilot, lambda: screen.page is not None, "the panel's first page")
        await settled(pilot)

    assert snap_compare(canned_app(), terminal_size=size, run_before=full_panel)


def site_settings(tab: str) -> Navigate:
    async def settings(pilot: Pilot[None]) -> None:
        await on_sites(pilot)
        await pilot.press("s")  # the first site's
        screen = await on_screen(pilot, SiteSettingsScreen)
        await wait_for(pilot, lambda: screen.site is not None, "the site's settings")
        await pilot.press(tab)
        await settled(pilot)

    return settings


@SIZES
def test_a_site_with_its_snippet(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(canned_app(), terminal_size=size, run_before=site_settings("1"))


@SIZES
def test_the_site_settings(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(canned_app(), terminal_size=size, run_before=site_settings("2"))


@SIZES
def test_the_help_of_the_dashboard(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def help_screen(pilot: Pilot[None]) -> None:
        await on_dashboard(pilot)
        await pilot.press("f1")
        await on_screen(pilot, HelpScreen)
        await settled(pilot)

    assert snap_compare(canned_app(), terminal_size=size, run_before=help_screen)


# --- the account -----------------------------------------------------------------------------


@SIZES
def test_the_profile(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def profile(pilot: Pilot[None]) -> None:
        await on_sites(pilot)
        await pilot.press("p")
        screen = await on_screen(pilot, ProfileScreen)
        await wait_for(pilot, lambda: screen.deletion is not None, "the profile")
        await settled(pilot)

    assert snap_compare(canned_app(), terminal_size=size, run_before=profile)


def who_sees_what(tab: str) -> Navigate:
    async def access(pilot: Pilot[None]) -> None:
        await on_sites(pilot)
        await pilot.press("w")
        await on_screen(pilot, AccessScreen)
        await pilot.press(tab)
        await settled(pilot)
        screen = pilot.app.screen
        grants = screen.query_one(GrantsPane).query_one(DataTable)
        if tab == "3":  # how often each third party read comes after the list
            await wait_for(pilot, lambda: "…" not in grants.get_column_at(2), "the reads")
            await settled(pilot)

    return access


@SIZES
def test_who_sees_what_the_api_keys(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(canned_app(), terminal_size=size, run_before=who_sees_what("2"))


@SIZES
def test_who_sees_what_the_third_parties(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(canned_app(), terminal_size=size, run_before=who_sees_what("3"))
