"""A dashboard panel full-screen (`PanelScreen`): the whole breakdown 50 rows a page, a search
the server runs over every row, a row picked as the dashboard's new filter, every row exported to
CSV; on a real server with real hits."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ot.api.sites import SiteOut
from ot.api.stats import StatsQuery
from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.tui.app import OtApp
from ot.tui.screens.panel import PanelScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.view import DashboardView, Filter, PeriodKind, period_of, today_in
from tests.account_support import EMAIL, PASSWORD
from tests.support import event, store_hits
from tests.tui_support import (
    LARGE,
    SMALL,
    TUI,
    base_url_of,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI

PAGES = [f"/page-{number:03d}" for number in range(120)]


@pytest.fixture
async def shop(client: TestClient, ada: int, tui_credentials: CredentialStore) -> SiteOut:
    """Ada, logged in (the TUI finds her credential), with shop.example: 120 pages seen today,
    /page-000 by three visitors, /page-001 by two, every other page by one."""
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        await ada_client.log_in(EMAIL, PASSWORD)
        site = await ada_client.add_site("shop.example")
        # Starts the server's query processes (two, by default) now: started inside `run_test`,
        # whose stderr has no file descriptor, multiprocessing's forkserver fails to start.
        warm_up = StatsQuery(site_id=site.domain, metrics=["visitors"], date_range="7d")
        await asyncio.gather(ada_client.query(warm_up), ada_client.query(warm_up))
    await store_hits(client, [event(url=f"https://shop.example{page}") for page in PAGES])
    for ip in ("198.51.100.1", "198.51.100.2"):
        await store_hits(client, [event(url="https://shop.example/page-000")], ip=ip)
    await store_hits(client, [event(url="https://shop.example/page-001")], ip="198.51.100.1")
    return site


def shows_rows(app: OtApp, first: int, last: int, total: int) -> bool:
    return f"rows {first}\N{EN DASH}{last} of {total}" in screen_text(app)


def view_of(site: SiteOut, clock: ManualClock) -> DashboardView:
    today = today_in(site.timezone, clock.now())
    return DashboardView(site.id, site.domain, site.timezone, period_of(PeriodKind.TODAY, today))


def pages_panel(
    site: SiteOut, clock: ManualClock, export_folder: Path | None = None
) -> PanelScreen:
    return PanelScreen(
        view_of(site, clock), "event:page", "Pages", ["visitors", "pageviews"],
        export_folder=export_folder,
    )  # fmt: skip


async def test_the_panel_shows_50_rows_a_page_and_pages_through_all_of_them(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(pages_panel(shop, clock))
        await wait_for_screen(pilot, PanelScreen)
        await wait_for(pilot, lambda: shows_rows(app, 1, 50, 120), "the first page")
        text = screen_text(app)
        assert "/page-000" in text and "3" in text and "█" in text  # most visitors first, a bar
        await pilot.press("n")
        await wait_for(pilot, lambda: shows_rows(app, 51, 100, 120), "page two")
        assert "/page-050" in screen_text(app)
        assert "████ " in screen_text(app) and "████████████" not in screen_text(app)
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: shows_rows(app, 101, 120, 120), "the last page")
        await pilot.press("n")  # there is no fourth page: it stays
        await pilot.press("p")
        await wait_for(pilot, lambda: shows_rows(app, 51, 100, 120), "back a page")


async def test_a_search_runs_over_every_row_not_only_the_page_shown(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(pages_panel(shop, clock))
        await wait_for(pilot, lambda: shows_rows(app, 1, 50, 120), "the first page")
        await pilot.press("slash")
        await pilot.press(*"PAGE-11")  # in any case
        await pilot.press("enter")
        # /page-110 to /page-119, all beyond the first page.
        await wait_for(pilot, lambda: shows_rows(app, 1, 10, 10), "the search")
        text = screen_text(app)
        assert "/page-119" in text and "/page-000" not in text
        assert "containing “PAGE-11”" in text
        await pilot.press("slash", *"nothing-like-it", "enter")
        await wait_for(pilot, lambda: "No rows contain" in screen_text(app), "an empty search")
        assert app.is_running


async def test_enter_picks_the_row_as_the_dashboards_filter(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    picked: list[Filter | None] = []
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(pages_panel(shop, clock), picked.append)
        await wait_for(pilot, lambda: shows_rows(app, 1, 50, 120), "the first page")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: picked, "the panel to close")
        assert picked == [Filter("event:page", "/page-001")]
        await wait_for_screen(pilot, SitesScreen)


async def test_escape_goes_back_without_a_filter(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    picked: list[Filter | None] = []
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(pages_panel(shop, clock), picked.append)
        await wait_for(pilot, lambda: shows_rows(app, 1, 50, 120), "the first page")
        await pilot.press("slash")
        await pilot.press("escape")  # leaves the search field first
        assert isinstance(app.screen, PanelScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: picked == [None], "the panel to close")


async def test_e_exports_every_row_of_the_breakdown_not_only_the_page(
    client: TestClient,
    shop: SiteOut,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(pages_panel(shop, clock, export_folder=tmp_path))
        await wait_for(pilot, lambda: shows_rows(app, 1, 50, 120), "the first page")
        await pilot.press("e")
        await wait_for(
            pilot, lambda: any("Exported" in told for told in notifications(app)), "the export"
        )
        [written] = tmp_path.glob("*.csv")
        assert str(written) in " ".join(notifications(app))
        with written.open(newline="") as opened:
            lines = list(csv.reader(opened))
        assert lines[0] == ["event:page", "visitors", "pageviews"]
        assert lines[1] == ["/page-000", "3", "3"]
        assert sorted(line[0] for line in lines[1:]) == PAGES
