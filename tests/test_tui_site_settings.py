"""A site's settings in the TUI (`SiteSettingsScreen`, `NewSiteScreen`) against a real server:
the snippet shown and copied, verification refused with what to publish, settings changed after
a confirmation (and seen through the API), a wrong time zone refused in words with nothing
changed, goals added and removed, the site removed once its domain is typed, a new site added and
a domain another site holds refused at its field."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import DataTable, Input, Static

from ot.api.sites import SiteOut
from ot.api.stats import StatsQuery
from ot.client import CredentialStore, NotFound, OtClient
from ot.clock import ManualClock
from ot.config import Settings
from ot.server.app import create_app
from ot.server.sites_api import VERIFICATION_FETCHER
from ot.tui.app import OtApp
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.new_site import NewSiteScreen
from ot.tui.screens.site_settings import SiteSettingsScreen
from ot.tui.screens.sites import SitesScreen
from tests.account_support import EMAIL, PASSWORD
from tests.dns_server import LoopbackDns, dns
from tests.test_site_verification import nothing_served
from tests.tui_support import (
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
__all__ = ["dns"]  # the fixture, used by name

DOMAIN = "shop.example"


@pytest.fixture
async def client(
    settings: Settings, aiohttp_client: Any, clock: ManualClock, dns: LoopbackDns
) -> TestClient:
    """The server in-process, asking a DNS server on loopback that publishes nothing and
    finding no file on the domain's web server: verification happens on this machine only."""
    app = create_app(dns.settings_for(settings), clock=clock)
    app[VERIFICATION_FETCHER] = nothing_served
    test_client: TestClient = await aiohttp_client(app)
    return test_client


@pytest.fixture
async def shop(client: TestClient, ada: int, tui_credentials: CredentialStore) -> SiteOut:
    """Ada, logged in (the TUI finds her credential), with shop.example."""
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        await ada_client.log_in(EMAIL, PASSWORD)
        site = await ada_client.add_site(DOMAIN)
        # Starts the server's query processes now: started inside `run_test` (whose stderr has
        # no file descriptor), multiprocessing's forkserver fails to start.
        await ada_client.query(StatsQuery(site_id=DOMAIN, metrics=["visitors"], date_range="7d"))
    return site


async def open_settings(app: OtApp, pilot: Any, site: SiteOut) -> SiteSettingsScreen:
    await wait_for_screen(pilot, SitesScreen)
    screen = SiteSettingsScreen(site.id)
    app.push_screen(screen)
    await wait_for_screen(pilot, SiteSettingsScreen)
    await wait_for(pilot, lambda: screen.site is not None, "the site")
    return screen


async def type_into(pilot: Any, field: Input, text: str) -> None:
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def test_the_site_and_its_snippet_are_shown_and_c_copies_the_snippet(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_settings(app, pilot, shop)
        await wait_for(pilot, lambda: "<script" in screen_text(app), "the snippet")
        text = screen_text(app)
        assert DOMAIN in text and "Days counted in UTC" in text and "Not verified" in text
        await pilot.press("c")
        async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
            snippet = (await api.snippet(shop.id)).snippet
        assert app.clipboard == snippet
        assert any("if your terminal does not support it, select the text" in told
                   for told in notifications(app))  # fmt: skip


async def test_verifying_a_domain_that_publishes_nothing_is_refused_saying_what_to_publish(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot, shop)
        await pilot.press("v")
        await wait_for(pilot, lambda: "Not verified yet" in screen_text(app), "the answer")
        await wait_for(
            pilot,
            lambda: screen.site is not None and screen.site.verification is not None,
            "the token",
        )
        await wait_for(pilot, lambda: "TXT record" in screen_text(app), "where to publish")
        proof = screen.site.verification if screen.site else None
        assert proof is not None
        text = screen_text(app).replace("\n", " ")
        assert proof.token in text and "opentracker" in text
        assert app.is_running


async def test_a_new_time_zone_is_saved_after_confirming_what_changes(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(app, pilot, shop)
        await pilot.press("2")
        await type_into(pilot, screen.query_one("#timezone", Input), "Europe/Amsterdam")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Time zone: UTC → Europe/Amsterdam" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: any("saved" in n for n in notifications(app)), "saved")
    async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
        assert (await api.site(shop.id)).timezone == "Europe/Amsterdam"


async def test_an_unknown_time_zone_is_refused_in_words_and_nothing_changes(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(app, pilot, shop)
        await pilot.press("2")
        await type_into(pilot, screen.query_one("#timezone", Input), "europe/amsterdam")
        await pilot.press("ctrl+s")
        said = screen.query_one("#timezone-error", Static)
        await wait_for(pilot, lambda: "not an IANA time zone name" in str(said.render()), "words")
        assert "did you mean Europe/Amsterdam?" in str(said.render())
        assert "not an IANA" in screen_text(app)  # on the screen, at the field
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.is_running
    async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
        assert (await api.site(shop.id)).timezone == "UTC"


async def test_a_setting_the_server_refuses_is_said_at_its_field_and_nothing_changes(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(app, pilot, shop)
        await pilot.press("2")
        await type_into(pilot, screen.query_one("#excluded_ips", Input), "203.0.113.7")
        await type_into(pilot, screen.query_one("#excluded_paths", Input), "admin/**")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        said = screen.query_one("#excluded_paths-error", Static)
        await wait_for(pilot, lambda: "must start with '/'" in str(said.render()), "the refusal")
        assert screen.query_one("#excluded_paths", Input).value == "admin/**"  # kept as typed
        assert app.is_running
    async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
        site = await api.site(shop.id)
    assert (site.excluded_ips, site.excluded_paths) == ([], [])


async def test_saving_without_a_change_says_so(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_settings(app, pilot, shop)
        await pilot.press("2", "ctrl+s")
        await wait_for(pilot, lambda: any("Nothing to save" in n for n in notifications(app)),
                       "the notice")  # fmt: skip


async def test_a_goal_is_added_and_removed_after_confirming(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(app, pilot, shop)
        await pilot.press("3")
        await type_into(pilot, screen.query_one("#goal-target", Input), "/thanks")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Visit /thanks" in screen_text(app), "the new goal")
        async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
            [goal] = (await api.list_goals(shop.id)).goals
        assert (goal.kind, goal.target) == ("page", "/thanks")

        screen.query_one("#goals", DataTable).focus()
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Remove the goal “Visit /thanks”?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.goals, "the goal to go")
        async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
            assert (await api.list_goals(shop.id)).goals == []


async def test_the_site_is_removed_only_once_its_domain_is_typed(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    answers: list[bool] = []
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        screen = SiteSettingsScreen(shop.id)
        app.push_screen(screen, answers.append)
        await wait_for(pilot, lambda: screen.site is not None, "the site")
        await pilot.press("4")
        await type_into(pilot, screen.query_one("#confirm-domain", Input), "shop.exampl")
        assert screen.query_one("#remove-site").disabled
        await pilot.press("e")
        assert not screen.query_one("#remove-site").disabled
        await pilot.click("#remove-site")
        await wait_for(pilot, lambda: answers == [True], "the screen to close")
    async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
        with pytest.raises(NotFound):
            await api.site(shop.id)


async def test_a_new_site_is_added(
    client: TestClient, shop: SiteOut, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    added: list[SiteOut | None] = []
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(NewSiteScreen(), added.append)
        await wait_for_screen(pilot, NewSiteScreen)
        await type_into(pilot, app.screen.query_one("#domain", Input), "blog.example")
        await type_into(pilot, app.screen.query_one("#timezone", Input), "Europe/Berlin")
        await pilot.press("enter")
        await wait_for(pilot, lambda: added, "the new site")
    [site] = added
    assert site is not None and (site.domain, site.timezone) == ("blog.example", "Europe/Berlin")
    async with OtClient(base_url_of(client), credentials=tui_credentials) as api:
        assert "blog.example" in [listed.domain for listed in (await api.list_sites()).sites]


@pytest.mark.parametrize(
    ("domain", "said"),
    [
        (DOMAIN, "already exists"),
        ("not a domain", "not a valid domain name"),
    ],
)
async def test_a_domain_refused_is_said_at_its_field_and_nothing_typed_is_lost(
    client: TestClient,
    shop: SiteOut,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    domain: str,
    said: str,
) -> None:
    app = tui_app(client, tui_credentials, clock)
    added: list[SiteOut | None] = []
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        app.push_screen(NewSiteScreen(), added.append)
        await wait_for_screen(pilot, NewSiteScreen)
        await type_into(pilot, app.screen.query_one("#domain", Input), domain)
        await type_into(pilot, app.screen.query_one("#timezone", Input), "Europe/Berlin")
        await pilot.press("enter")
        await wait_for(pilot, lambda: said in screen_text(app), "the refusal")
        assert isinstance(app.screen, NewSiteScreen) and not added
        assert app.screen.query_one("#domain", Input).value == domain
        assert app.screen.query_one("#timezone", Input).value == "Europe/Berlin"
