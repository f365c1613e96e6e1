"""`ot tui` starts where the customer left off: on the log-in screen without a credential, on
their sites with one that still works; a server that does not answer is said in words and the
app keeps running; `?` shows every screen's keys."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

from ot.cli import app as ot_command
from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.tui.screens.help import HelpScreen
from ot.tui.screens.login import LoginScreen
from ot.tui.screens.sites import SitesScreen
from tests.account_support import EMAIL, PASSWORD
from tests.conftest import free_port
from tests.tui_support import (
    SMALL,
    TUI,
    ToldApp,
    base_url_of,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI


async def test_without_a_credential_it_opens_on_the_log_in_screen(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)


async def test_a_stored_session_that_still_works_opens_on_the_sites(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with OtClient(base_url_of(client), credentials=tui_credentials) as first_run:
        await first_run.log_in(EMAIL, PASSWORD)

    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)


async def test_an_unreachable_server_is_said_in_words_and_the_app_keeps_running(
    tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    app = ToldApp(OtClient(nobody, "ots_stale", credentials=tui_credentials), now=clock.now)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: notifications(app), "a notification")
        assert any("Server unreachable" in told for told in notifications(app))
        assert nobody in " ".join(notifications(app))
        assert app.is_running


async def test_f1_lists_the_keys_of_the_screen_even_while_typing_in_a_field(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f1")  # the e-mail field has the focus: `?` would be typed there
        await wait_for_screen(pilot, HelpScreen)
        await wait_for(pilot, lambda: "Keys" in screen_text(app), "the help text")
        await pilot.press("escape")
        await wait_for_screen(pilot, LoginScreen)


def test_ot_tui_refuses_a_server_address_that_is_not_http() -> None:
    result = CliRunner().invoke(ot_command, ["tui", "--server", "ftp://example.org"])
    assert result.exit_code == 2
    assert "--server must be an http:// or https:// address" in result.output
