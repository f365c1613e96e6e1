"""Getting in and out with `ot tui`: registering (only with consent to the hosting region), the
mailed link pasted to confirm the address, logging in with a password (and the second factor's
code) or an API key, and logging out. Every refusal is said in words on the form and the app
keeps working: a wrong password, a throttled log-in, an address that is not one, a session
ended elsewhere, a server that stopped and came back."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, TabbedContent

from ot.client import CredentialStore, OtClient, StoredCredential
from ot.clock import ManualClock
from ot.config import Settings
from ot.server.app import create_app
from ot.tui.app import OtApp
from ot.tui.screens.login import API_KEY_TAB, LoginScreen
from ot.tui.screens.register import RegisterScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.screens.verify import VerifyScreen, token_of
from tests.account_support import (
    EMAIL,
    PASSWORD,
    enrolled,
    mails_to,
    register,
    session_headers,
    text_of,
    token_in,
    totp_code,
)
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

GRACE = "grace@example.com"


@pytest.fixture
def elsewhere(tmp_path: Path) -> CredentialStore:
    """The credentials of Ada's other device (a browser, a script): not the terminal's."""
    return CredentialStore(tmp_path / "elsewhere")


def field(app: OtApp, name: str) -> Input:
    return app.screen.query_one(f"#{name}", Input)


async def fill(pilot: Pilot[None], name: str, text: str) -> None:
    """Type into a field as the user would: focus it, then the keys."""
    input_field = field(pilot.app, name)  # type: ignore[arg-type]
    input_field.focus()
    # The focus moves when the app handles it: keys sent before would go to the field before.
    await wait_for(pilot, lambda: input_field.has_focus, f"the focus in {name}")
    input_field.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause()


async def log_in_as_ada(pilot: Pilot[None], password: str = PASSWORD, code: str = "") -> None:
    await fill(pilot, "email", EMAIL)
    await fill(pilot, "password", password)
    if code:
        await fill(pilot, "code", code)
    await pilot.press("enter")


def said(app: OtApp) -> str:
    """What the screen shows, on one line (the form wraps its words at the screen's width)."""
    return " ".join(screen_text(app).split())


# --- registering and confirming the address ------------------------------------------------


async def test_registering_with_consent_mails_a_link_that_pasted_confirms_the_address(
    client: TestClient, settings: Settings, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f2")
        await wait_for_screen(pilot, RegisterScreen)
        await fill(pilot, "name", "Grace Hopper")
        await fill(pilot, "email", GRACE)
        await fill(pilot, "password", PASSWORD)
        await fill(pilot, "repeat", PASSWORD)
        await fill(pilot, "company", "Navy")
        app.screen.query_one("#region").focus()
        await pilot.press("down", "enter")  # the United States
        await wait_for(
            pilot, lambda: "United States" in str(app.screen.query_one(Checkbox).label), "region"
        )
        app.screen.query_one(Checkbox).focus()
        await pilot.press("space")  # the consent
        await pilot.press("tab", "enter")  # the Register button

        await wait_for_screen(pilot, VerifyScreen)
        assert "Check your mail" in screen_text(app)
        [mail] = mails_to(settings, GRACE)
        link = next(word for word in text_of(mail).split() if "token=" in word)
        await fill(pilot, "link", link)
        await pilot.press("enter")

        await wait_for_screen(pilot, LoginScreen)
        await wait_for(pilot, lambda: "address is confirmed" in said(app), "the confirmation")
        assert field(app, "email").value == GRACE
        assert app.screen.focused is field(app, "password")
        await pilot.press(*PASSWORD, "enter")
        await wait_for_screen(pilot, SitesScreen)

    async with OtClient(base_url_of(client), credentials=tui_credentials) as grace:
        profile = await grace.profile()
    assert (profile.name, profile.company, profile.region) == ("Grace Hopper", "Navy", "us")


async def test_registering_without_consent_is_refused_with_the_reason(
    client: TestClient, settings: Settings, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f2")
        await wait_for_screen(pilot, RegisterScreen)
        await fill(pilot, "name", "Grace Hopper")
        await fill(pilot, "email", GRACE)
        await fill(pilot, "password", PASSWORD)
        await fill(pilot, "repeat", PASSWORD)
        await pilot.press("enter")

        await wait_for(pilot, lambda: "your consent" in said(app), "the refusal")
        assert "hosted in the Netherlands" in said(app)
        assert app.screen.focused is app.screen.query_one("#consent")
        assert isinstance(app.screen, RegisterScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, LoginScreen)
    assert mails_to(settings, GRACE) == []


async def test_a_link_that_does_not_work_is_said_and_another_can_be_pasted(
    client: TestClient, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f4")
        await wait_for_screen(pilot, VerifyScreen)
        await fill(pilot, "link", "https://ot.example/verify?token=otv_used_up")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "does not work" in said(app), "the refusal")
        assert isinstance(app.screen, VerifyScreen)


async def test_a_password_the_server_refuses_is_said_and_the_form_kept(
    client: TestClient, settings: Settings, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f2")
        await wait_for_screen(pilot, RegisterScreen)
        await fill(pilot, "name", "Grace Hopper")
        await fill(pilot, "email", GRACE)
        await fill(pilot, "password", "short")
        await fill(pilot, "repeat", "short")
        app.screen.query_one(Checkbox).value = True
        await fill(pilot, "phone", "")
        await pilot.press("enter")

        await wait_for(
            pilot, lambda: "at least" in " ".join(notifications(app)), "the server's refusal"
        )
        assert app.screen.focused is field(app, "password")
        assert field(app, "name").value == "Grace Hopper"
    assert mails_to(settings, GRACE) == []


async def test_an_address_not_yet_confirmed_is_asked_for_its_link_then_logs_in(
    client: TestClient, settings: Settings, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    assert (await register(client, email=GRACE)).status == 202
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await fill(pilot, "email", GRACE)
        await fill(pilot, "password", PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "confirm your e-mail address" in said(app), "the words")

        await pilot.press("f4")
        await wait_for_screen(pilot, VerifyScreen)
        await fill(pilot, "link", token_in(mails_to(settings, GRACE)[-1]))  # the token alone
        await pilot.press("enter")
        await wait_for_screen(pilot, LoginScreen)
        await wait_for(pilot, lambda: "address is confirmed" in said(app), "the confirmation")
        await pilot.press(*PASSWORD, "enter")
        await wait_for_screen(pilot, SitesScreen)


def test_the_token_is_taken_from_the_whole_link_or_pasted_alone() -> None:
    assert token_of(" https://ot.example/ot/v1/accounts/verify?token=otv_abc ") == "otv_abc"
    assert token_of("https://ot.example/verify?lang=en&token=otv_abc#top") == "otv_abc"
    assert token_of("otv_abc") == "otv_abc"


# --- logging in ------------------------------------------------------------------------------


async def test_logging_in_opens_the_sites_and_keeps_the_session_for_the_next_run(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)

    stored = tui_credentials.load(base_url_of(client))
    assert stored is not None and stored.kind == "session"


async def test_a_wrong_password_is_said_cleared_and_typed_again(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot, "not the password")

        await wait_for(pilot, lambda: "is not right" in said(app), "the refusal")
        assert field(app, "email").value == EMAIL
        assert field(app, "password").value == ""
        assert app.screen.focused is field(app, "password")
        assert "authenticator app" in said(app)  # in case the second factor is on
        await pilot.press(*PASSWORD, "enter")
        await wait_for_screen(pilot, SitesScreen)


async def test_an_address_that_is_not_one_is_refused_before_anything_is_sent(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await fill(pilot, "email", "ada at example.com")
        await fill(pilot, "password", PASSWORD)
        await pilot.press("enter")

        await wait_for(pilot, lambda: "is not an e-mail address" in said(app), "the refusal")
        assert app.screen.focused is field(app, "email")
        assert notifications(app) == []


async def test_repeated_failures_are_throttled_saying_how_long_to_wait(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        for attempt in range(5):  # the server's threshold (login_failures_before_delay)
            await log_in_as_ada(pilot, f"wrong {attempt}")
            await wait_for(pilot, lambda: field(app, "password").value == "", "the refusal")
            await wait_for(pilot, lambda: "is not right" in said(app), "the refusal")
        await log_in_as_ada(pilot)  # even the right password must wait now

        await wait_for(pilot, lambda: "wait 2 seconds" in said(app), "the wait")
        assert "Too many failed log-ins" in said(app)
        assert isinstance(app.screen, LoginScreen)
        clock.advance(2)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)


async def test_with_the_second_factor_on_a_wrong_code_is_refused_and_the_right_one_logs_in(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    secret, _ = await enrolled(client, await session_headers(client))
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)  # no code: refused like a wrong password
        await wait_for(pilot, lambda: "authenticator app" in said(app), "the code's field")
        right = totp_code(secret, steps_ahead=1)  # the one used to enrol is spent
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        await log_in_as_ada(pilot, code=wrong)
        await wait_for(pilot, lambda: field(app, "code").value == "", "the refusal")
        assert isinstance(app.screen, LoginScreen)

        await log_in_as_ada(pilot, code=right)
        await wait_for_screen(pilot, SitesScreen)


async def test_an_api_key_logs_in_and_is_kept_as_a_key(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    elsewhere: CredentialStore,
    clock: ManualClock,
) -> None:
    async with OtClient(base_url_of(client), credentials=elsewhere) as web:
        await web.log_in(EMAIL, PASSWORD)
        reader = await web.create_key("terminal", ["sites:read", "stats:read"])
        writer = await web.create_key("collector", ["stats:read"])
        await web.log_out()
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await pilot.press("f3")
        await wait_for(
            pilot, lambda: app.screen.query_one(TabbedContent).active == API_KEY_TAB, "the tab"
        )
        for refused, words in [("ot_nothing", "no such key"), (writer.key, "sites:read")]:
            await fill(pilot, "api-key", refused)
            await pilot.press("enter")
            await wait_for(pilot, lambda words=words: words in said(app), "the refusal")
        await fill(pilot, "api-key", reader.key)
        await pilot.press("enter")
        await wait_for_screen(pilot, SitesScreen)

    assert tui_credentials.load(base_url_of(client)) == StoredCredential("api_key", reader.key)
    again = tui_app(client, tui_credentials, clock)  # the next run: straight to the sites
    async with again.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, SitesScreen)
        assert notifications(again) == []


# --- logging out, and sessions that end --------------------------------------------------------


async def test_logging_out_forgets_the_session_and_goes_back_to_log_in(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)
        token = app.client.token
        assert tui_credentials.load(base_url_of(client)) is not None

        await pilot.press("ctrl+l")

        await wait_for_screen(pilot, LoginScreen)
        await wait_for(pilot, lambda: "logged out" in said(app), "the notice")
    assert tui_credentials.load(base_url_of(client)) is None
    ended = await client.get("/ot/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert ended.status == 401


async def test_log_out_is_in_the_command_palette(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Log out" in titles


async def test_a_session_ended_elsewhere_asks_to_log_in_again_then_shows_the_sites(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    elsewhere: CredentialStore,
    clock: ManualClock,
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)
        async with OtClient(base_url_of(client), credentials=elsewhere) as other:
            await other.log_in(EMAIL, PASSWORD)
            assert (await other.end_other_sessions()).ended >= 1

        app.show_sites()  # the sites are read again

        await wait_for_screen(pilot, LoginScreen)
        await wait_for(pilot, lambda: "session ended" in said(app), "the notice")
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)


# --- a server that stops ---------------------------------------------------------------------


async def test_a_server_that_stops_is_said_in_words_and_used_again_once_it_is_back(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await log_in_as_ada(pilot)
        await wait_for_screen(pilot, SitesScreen)
        port = client.server.port
        await client.server.close()

        app.show_sites()
        await wait_for(
            pilot, lambda: any("Server unreachable" in n for n in notifications(app)), "the words"
        )
        assert app.is_running
        told = len(notifications(app))

        back = TestServer(create_app(settings, clock=clock), port=port)
        await back.start_server()
        try:
            app.show_sites()
            await wait_for_screen(pilot, SitesScreen)
            await wait_for(pilot, lambda: not app.screen.query_one("#sites").loading, "sites")
            assert len(notifications(app)) == told
        finally:
            await back.close()


async def test_log_in_to_a_server_that_does_not_answer_says_so_and_the_form_stays(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        await client.server.close()
        await log_in_as_ada(pilot)

        await wait_for(pilot, lambda: "does not answer" in said(app), "the words")
        assert any("Server unreachable" in told for told in notifications(app))
        assert field(app, "password").value == PASSWORD  # Enter tries again
        assert app.is_running
