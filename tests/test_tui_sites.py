"""The sites list of `ot tui`: every site of the account with today's visitors, the last 30 days
as a sparkline and whether it is verified; a friendly word when there is none yet; `/` filters
the list; Enter opens the dashboard."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from ot.client import CredentialStore
from ot.clock import ManualClock
from ot.config import Settings
from ot.models import MemberRole
from ot.tui.screens.dashboard import DashboardScreen
from ot.tui.screens.sites import SitesScreen, sparkline
from tests.support import make_site
from tests.team_support import add_member
from tests.tui_dashboard_support import DOMAIN, logged_in_client, open_shop
from tests.tui_support import (
    LARGE,
    SMALL,
    TUI,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI


def test_a_sparkline_draws_each_day_against_the_busiest_one() -> None:
    assert sparkline([0, 1, 2, 4]) == "·▂▄█"
    assert sparkline([0, 0]) == "··"


async def test_the_sites_list_shows_todays_visitors_and_the_last_30_days(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await open_shop(client, settings, tui_credentials, clock, ada)
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        screen = app.screen
        assert isinstance(screen, SitesScreen)
        await wait_for(pilot, lambda: screen.traffic, "the sites' traffic")
        text = screen_text(app)
        [row] = [line for line in text.splitlines() if DOMAIN in line]
        # Carol and Dan today; Alice and Bob yesterday: two bars in the sparkline.
        assert " 2 " in row and "yours" in row and "✗" in row
        assert row.count("█") == 2 or "██" in row
        assert "·" in row


async def test_without_sites_it_says_how_to_add_one(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    await (await logged_in_client(client, tui_credentials)).close()
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        await wait_for(pilot, lambda: "No sites yet" in screen_text(app), "the empty state")
        assert "press n to add one" in screen_text(app)


async def test_slash_filters_the_list_and_enter_opens_the_dashboard(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await open_shop(client, settings, tui_credentials, clock, ada)
    async with await logged_in_client(client, tui_credentials) as ada_client:
        await ada_client.add_site("blog.example")
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        await wait_for(pilot, lambda: "blog.example" in screen_text(app), "both sites")
        await pilot.press("slash")
        await pilot.pause()  # the field takes the focus
        await pilot.press(*"shop")
        await wait_for(pilot, lambda: "blog.example" not in screen_text(app), "the filter")
        assert DOMAIN in screen_text(app)
        await pilot.press("enter", "enter")
        await wait_for_screen(pilot, DashboardScreen)
        assert not [told for told in notifications(app) if "rror" in told]


async def test_a_site_a_team_shares_is_marked_with_the_team_and_the_role(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    team_site = await make_site(settings, "team.example")
    await add_member(settings, team_site.account_id, ada, MemberRole.VIEWER)
    await (await logged_in_client(client, tui_credentials)).close()
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        await wait_for(pilot, lambda: "team.example" in screen_text(app), "the team's site")
        [row] = [line for line in screen_text(app).splitlines() if "team.example" in line]
        assert f"team {team_site.account_id} · viewer" in row
