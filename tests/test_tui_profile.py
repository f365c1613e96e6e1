"""The profile in the terminal: the customer sees everything they gave us, corrects it (checked
before sending, confirmed old → new), changes the password, e-mail and second factor, ends
sessions, reads the profile's history, exports their data and deletes the account."""

from __future__ import annotations

import re
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import segno
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Select

from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.tui.app import OtApp
from ot.tui.screens.account_deletion import AccountDeletionScreen
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.help import HelpScreen
from ot.tui.screens.login import LoginScreen
from ot.tui.screens.profile import ProfileScreen
from ot.tui.screens.profile_edit import ProfileEditScreen
from ot.tui.screens.profile_email import EmailScreen
from ot.tui.screens.profile_password import PasswordScreen
from ot.tui.screens.profile_second_factor import SecondFactorScreen
from ot.tui.screens.profile_second_factor_off import SecondFactorOffScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.screens.ssh_key_new import NewSshKeyScreen
from ot.tui.widgets.qr_code import QrCode, qr_text
from tests.account_support import EMAIL, PASSWORD, totp_code
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

NEW_PASSWORD = "a much longer passphrase of mine"


async def log_in(
    client: TestClient, credentials: CredentialStore, password: str = PASSWORD
) -> OtClient:
    """Ada logged in, her session's token kept in `credentials`."""
    ot_client = OtClient(base_url_of(client), credentials=credentials)
    await ot_client.log_in(EMAIL, password)
    return ot_client


def elsewhere(credentials: CredentialStore) -> CredentialStore:
    """Another machine's config folder: a session of its own."""
    return CredentialStore(credentials.folder.parent / "elsewhere")


@asynccontextmanager
async def on_the_profile(
    client: TestClient,
    credentials: CredentialStore,
    clock: ManualClock,
    size: tuple[int, int] = SMALL,
) -> AsyncIterator[tuple[OtApp, Pilot[None], OtClient]]:
    """The app started logged in as Ada (her session found in the config folder), on her
    profile; and a client with a session of its own, to check the server with."""
    await (await log_in(client, credentials)).close()
    async with await log_in(client, elsewhere(credentials)) as checker:
        app = tui_app(client, credentials, clock)
        async with app.run_test(size=size) as pilot:
            await wait_for_screen(pilot, SitesScreen)
            app.push_screen(ProfileScreen())
            await wait_for_screen(pilot, ProfileScreen)
            await wait_for(pilot, lambda: "Ada Lovelace" in screen_text(app), "the profile")
            yield app, pilot, checker


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.value = ""
    field.focus()
    await pilot.press(*text) if text else None


async def test_the_profile_shows_everything_the_customer_gave_us(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, _, _):
        shown = screen_text(app)
        for given in (
            "Ada Lovelace",
            f"{EMAIL} (verified)",
            "Analytical Engines B.V.",
            "Keizersgracht 1, Amsterdam",
            "+31 20 555 0100",
            "the Netherlands (EU)",
            "Consent",
            "Second factor",
            "Created",
        ):
            assert given in shown, given


async def test_a_corrected_profile_is_confirmed_old_to_new_then_saved_on_the_server(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await pilot.press("e")
        await wait_for_screen(pilot, ProfileEditScreen)
        await type_into(pilot, "#company", "Engines Ltd")
        await type_into(pilot, "#phone", "+44 20 7946 0000")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmScreen)
        question = screen_text(app)
        assert "Company: Analytical Engines B.V. → Engines Ltd" in question
        assert "Phone: +31 20 555 0100 → +44 20 7946 0000" in question
        assert "Name" not in question  # unchanged fields are not asked about
        await pilot.press("y")
        await wait_for_screen(pilot, ProfileScreen)
        await wait_for(pilot, lambda: "Engines Ltd" in screen_text(app), "the saved profile")
        assert any("Profile saved" in told for told in notifications(app))

        profile = await checker.profile()
        assert (profile.company, profile.phone) == ("Engines Ltd", "+44 20 7946 0000")
        assert profile.name == "Ada Lovelace"


async def test_values_that_look_like_markup_are_shown_and_saved_as_typed(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    odd = "Engines [/] [b]Ltd[/b]"
    async with on_the_profile(client, tui_credentials, clock, LARGE) as (app, pilot, checker):
        await pilot.press("e")
        await wait_for_screen(pilot, ProfileEditScreen)
        await type_into(pilot, "#company", odd)
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmScreen)
        assert f"Company: Analytical Engines B.V. → {odd}" in screen_text(app)
        await pilot.press("y")
        await wait_for_screen(pilot, ProfileScreen)
        await wait_for(pilot, lambda: odd in screen_text(app), "the company as typed")
        assert (await checker.profile()).company == odd
        await pilot.press("5")
        await wait_for(pilot, lambda: "company: Analytical" in screen_text(app), "the history")
        await checker.update_profile(company="Engines Ltd")
        await pilot.press("r")
        await wait_for(pilot, lambda: f"company: {odd}" in screen_text(app), "the odd value")


async def test_an_empty_name_is_refused_in_words_and_nothing_is_sent(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await pilot.press("e")
        await wait_for_screen(pilot, ProfileEditScreen)
        await type_into(pilot, "#name", "")
        await type_into(pilot, "#company", "Engines Ltd")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "cannot be empty" in screen_text(app), "the refusal")
        assert isinstance(app.screen, ProfileEditScreen)  # still there, to correct
        assert (await checker.profile()).company == "Analytical Engines B.V."
        assert (await checker.profile_history()).changes == []


async def test_a_region_change_needs_explicit_consent_to_move_the_data(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await pilot.press("e")
        await wait_for_screen(pilot, ProfileEditScreen)
        app.screen.query_one("#region", Select).value = "us"
        await wait_for(
            pilot,
            lambda: "moves to and is hosted in the United States" in screen_text(app),
            "the consent asked for",
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "needs your consent" in screen_text(app), "the refusal")
        assert (await checker.profile()).region == "nl"

        app.screen.query_one("#consent", Checkbox).focus()
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Region: the Netherlands (EU) → the United States" in screen_text(app)
        await pilot.press("y")
        await wait_for_screen(pilot, ProfileScreen)
        profile = await checker.profile()
        assert profile.region == "us"
        assert [consent.region for consent in profile.consents] == ["nl", "us"]


async def test_the_password_changes_and_the_new_one_logs_in(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("w")
        await wait_for_screen(pilot, PasswordScreen)
        await type_into(pilot, "#current", PASSWORD)
        await type_into(pilot, "#new", NEW_PASSWORD)
        await type_into(pilot, "#repeat", NEW_PASSWORD + "!")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "differ" in screen_text(app), "the mismatch said")

        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await pilot.press("enter")
        await wait_for_screen(pilot, ProfileScreen)
        assert any("1 other session ended" in told for told in notifications(app))

    await (await log_in(client, elsewhere(tui_credentials), NEW_PASSWORD)).close()


async def test_an_invalid_e_mail_address_is_refused_in_words_and_nothing_changes(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await pilot.press("m")
        await wait_for_screen(pilot, EmailScreen)
        await type_into(pilot, "#email", "ada at engines")
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "is not an e-mail address" in screen_text(app), "refusal")
        assert (await checker.profile()).pending_email is None

        await type_into(pilot, "#email", "ada@engines.example")
        await pilot.press("enter")
        await wait_for_screen(pilot, ProfileScreen)
        told = " ".join(notifications(app))
        assert "Confirm through the link sent to ada@engines.example" in told
        assert (await checker.profile()).pending_email == "ada@engines.example"
        await wait_for(
            pilot,
            lambda: "ada@engines.example waits for its confirmation link" in screen_text(app),
            "the pending address shown",
        )


async def test_the_second_factor_is_set_up_from_the_code_shown_a_wrong_code_is_refused(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await pilot.press("f")
        await wait_for_screen(pilot, SecondFactorScreen)
        await wait_for(pilot, lambda: app.screen.query(QrCode), "the QR code")
        shown = screen_text(app)
        # The secret's groups of four are the only such words on the screen.
        secret = "".join(re.findall(r"(?<![A-Za-z0-9])[A-Z2-7]{4}(?![A-Za-z0-9])", shown))
        assert len(secret) >= 16
        qr = app.screen.query_one(QrCode)
        assert "secret=" + secret in qr.encoded
        assert "▀" in shown and "█" in shown  # the code is drawn on the screen

        await type_into(pilot, "#code", "000000")
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Not turned on" in screen_text(app), "the refusal")
        assert not (await checker.profile()).second_factor

        await type_into(pilot, "#code", totp_code(secret))
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Save these recovery codes now" in screen_text(app), "codes")
        assert isinstance(app.screen, SecondFactorScreen)
        codes = app.screen.recovery_codes
        assert codes and all(code in screen_text(app) for code in codes)
        assert (await checker.profile()).second_factor

        await pilot.press("c")
        assert any("Copied" in told for told in notifications(app))
        await pilot.press("escape")
        await wait_for_screen(pilot, ProfileScreen)
        await wait_for(
            pilot,
            lambda: re.search(r"Second factor +on", screen_text(app)),
            "the factor shown on",
        )


async def test_the_second_factor_is_turned_off_with_the_password_and_a_code(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        secret = (await checker.begin_second_factor()).secret
        await checker.confirm_second_factor(PASSWORD, totp_code(secret))
        await pilot.press("r")
        await wait_for(pilot, lambda: re.search(r"Second factor +on", screen_text(app)), "on")
        await pilot.press("f")
        await wait_for_screen(pilot, SecondFactorOffScreen)
        await type_into(pilot, "#password", PASSWORD)
        await type_into(pilot, "#code", "000000")
        await pilot.press("enter")
        await wait_for(pilot, lambda: notifications(app), "the refusal")
        assert isinstance(app.screen, SecondFactorOffScreen)
        assert (await checker.profile()).second_factor

        await type_into(pilot, "#code", totp_code(secret, 1))  # each code works once
        await pilot.press("enter")
        await wait_for_screen(pilot, ProfileScreen)
        await wait_for(pilot, lambda: re.search(r"Second factor +off", screen_text(app)), "off")
        assert not (await checker.profile()).second_factor


async def test_with_the_second_factor_on_a_new_password_also_needs_a_code(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        secret = (await checker.begin_second_factor()).secret
        await checker.confirm_second_factor(PASSWORD, totp_code(secret))
        await pilot.press("r")
        await wait_for(pilot, lambda: re.search(r"Second factor +on", screen_text(app)), "on")
        await pilot.press("w")
        await wait_for_screen(pilot, PasswordScreen)
        await type_into(pilot, "#current", PASSWORD)
        await type_into(pilot, "#new", NEW_PASSWORD)
        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Enter a code" in screen_text(app), "the code asked for")

        await type_into(pilot, "#code", totp_code(secret, 1))
        await pilot.press("enter")
        await wait_for_screen(pilot, ProfileScreen)
        assert any("Password changed" in told for told in notifications(app))


async def test_ending_this_session_logs_out_to_the_log_in_screen(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("3")
        await wait_for(pilot, lambda: "this one" in screen_text(app), "the sessions")
        table = app.screen.query_one("#session-table", DataTable)
        table.focus()
        current = next(
            index for index in range(table.row_count) if table.get_row_at(index)[0] == "this one"
        )
        table.move_cursor(row=current)
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "You will be logged out here" in screen_text(app)
        await pilot.press("y")
        await wait_for_screen(pilot, LoginScreen)
        assert app.client.token is None
        assert tui_credentials.load(app.client.base_url) is None


async def test_the_profile_fits_80_by_24_with_its_help_and_q_going_back_outside_fields(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        lines = screen_text(app).splitlines()
        assert len(lines) == 24
        assert "Esc Back" in lines[-1] and "e Edit" in lines[-1]
        await pilot.press("f1")
        await wait_for_screen(pilot, HelpScreen)
        await wait_for(
            pilot,
            lambda: "Your profile" in screen_text(app),
            "the help",
        )
        await pilot.press("escape")
        await wait_for_screen(pilot, ProfileScreen)
        await pilot.press("e")
        await wait_for_screen(pilot, ProfileEditScreen)
        await pilot.press("q")  # typed into the name field, not taken as "back"
        assert isinstance(app.screen, ProfileEditScreen)
        assert app.screen.query_one("#name", Input).value == "Ada Lovelaceq"
        await pilot.press("escape")
        await wait_for_screen(pilot, ProfileScreen)
        await pilot.press("q")
        await wait_for_screen(pilot, SitesScreen)


async def test_a_session_is_revoked_after_a_confirmation(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        assert len((await checker.list_sessions()).sessions) == 2
        await pilot.press("3")
        await wait_for(pilot, lambda: "this one" in screen_text(app), "the sessions")
        table = app.screen.query_one("#session-table", DataTable)
        table.focus()
        # The other session (the checker's) is the row not marked as this one.
        rows = [table.get_row_at(index) for index in range(table.row_count)]
        other = next(index for index, row in enumerate(rows) if row[0] != "this one")
        table.move_cursor(row=other)
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Session ended" in t for t in notifications(app)), "done")
        await wait_for(pilot, lambda: table.row_count == 1, "the list without it")
    # the checker's session was the one ended
    async with OtClient(base_url_of(client), credentials=tui_credentials) as app_session:
        assert len((await app_session.list_sessions()).sessions) == 1


def ssh_public_key(comment: str) -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}"


async def test_an_ssh_key_is_added_by_pasting_its_line_and_removed_after_a_confirmation(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock, LARGE) as (app, pilot, checker):
        await pilot.press("4")
        await wait_for(pilot, lambda: "No SSH keys yet" in screen_text(app), "the empty list")
        await pilot.press("a")
        await wait_for_screen(pilot, NewSshKeyScreen)
        # A private key pasted by mistake is refused before anything is sent.
        app.screen.query_one("#public_key", Input).value = "-----BEGIN OPENSSH PRIVATE KEY-----"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "never share it" in screen_text(app), "the refusal")
        # What the server cannot read is refused at the field, in its words.
        app.screen.query_one("#public_key", Input).value = "ssh-ed25519 AAAA!"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not a public key" in screen_text(app), "the server's")
        assert (await checker.list_ssh_keys()).keys == []
        line = ssh_public_key("ada@laptop")
        app.screen.query_one("#public_key", Input).value = line
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ProfileScreen)
        [added] = (await checker.list_ssh_keys()).keys
        await wait_for(pilot, lambda: added.fingerprint in screen_text(app), "the key listed")
        assert "ada@laptop" in screen_text(app)
        app.screen.query_one("#ssh-key-table", DataTable).focus()
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: "No SSH keys yet" in screen_text(app), "the list emptied")
        assert (await checker.list_ssh_keys()).keys == []


async def test_the_history_lists_each_change_with_its_former_values(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock, LARGE) as (app, pilot, checker):
        await checker.update_profile(company="Engines Ltd")
        await pilot.press("r")
        await pilot.press("5")
        await wait_for(
            pilot,
            lambda: "Engines" in screen_text(app) and "company" in screen_text(app),
            "the change",
        )
        assert "company: Analytical Engines B.V." in screen_text(app)
        assert "you" in screen_text(app)  # her own change, said as hers


async def test_my_data_is_exported_as_a_zip_in_the_current_folder(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("6")
        expected = tmp_path / f"opentracker-export-{clock.now().date().isoformat()}.zip"
        app.screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Export saved" in t for t in notifications(app)), "saved")
        assert str(expected) in " ".join(notifications(app))
        with zipfile.ZipFile(expected) as archive:
            assert "account.json" in archive.namelist()


async def test_over_ssh_nothing_is_saved_on_our_host_and_the_customer_is_told_why(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        app.saves_files = False  # what `ot tui --ssh-account` runs with
        await pilot.press("6")
        app.screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Not saved" in t for t in notifications(app)), "told")
        assert any("saved there, not on your machine" in t for t in notifications(app))
        assert list(tmp_path.glob("*.zip")) == []


async def test_an_export_to_a_folder_that_does_not_exist_is_refused_in_words(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("6")
        await type_into(pilot, "#export-path", str(tmp_path / "missing" / "export.zip"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: notifications(app), "the refusal")
        assert any("is not a folder" in told for told in notifications(app))
        assert not (tmp_path / "missing").exists()
        assert app.is_running


async def test_an_existing_file_is_replaced_only_once_confirmed(
    client: TestClient,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    target = tmp_path / "mine.zip"
    target.write_bytes(b"keep me")
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("6")
        await type_into(pilot, "#export-path", str(target))
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("n")
        await wait_for_screen(pilot, ProfileScreen)
        assert target.read_bytes() == b"keep me"

        app.screen.query_one("#export-path", Input).focus()
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Export saved" in t for t in notifications(app)), "saved")
        assert zipfile.is_zipfile(target)


async def test_a_session_ended_elsewhere_brings_up_the_log_in_screen_in_words(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await checker.end_other_sessions()  # the app's session among them
        await pilot.press("r")
        await wait_for_screen(pilot, LoginScreen)
        told = [told for told in notifications(app) if "Not logged in" in told]
        assert len(told) == 1  # said once, not once per tab


async def test_deleting_the_account_shows_the_grace_period_and_lands_on_the_log_in_screen(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("6")
        await wait_for(pilot, lambda: "grace period" in screen_text(app), "the grace period")
        await pilot.click("#delete-account")
        await wait_for_screen(pilot, AccountDeletionScreen)
        await type_into(pilot, "#password", PASSWORD)
        await type_into(pilot, "#confirmation", "delete it")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "nothing has been deleted" in screen_text(app), "refusal")

        await type_into(pilot, "#confirmation", "delete my account")
        await pilot.press("enter")
        await wait_for_screen(pilot, LoginScreen)
        told = " ".join(notifications(app))
        assert "will be deleted on" in told and "in 30 days" in told
        assert "Cancel deletion" in told
        assert app.client.token is None

    async with OtClient(base_url_of(client), credentials=tui_credentials) as again:
        await again.log_in(EMAIL, PASSWORD)
        assert (await again.deletion_status()).scheduled


async def test_a_pending_deletion_is_shown_on_the_profile_with_a_way_to_cancel_it(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with await log_in(client, elsewhere(tui_credentials)) as before:
        await before.request_deletion(PASSWORD)
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, checker):
        await wait_for(pilot, lambda: "to be deleted on" in screen_text(app), "the warning")
        await pilot.click("#cancel-deletion")
        await wait_for(pilot, lambda: "to be deleted on" not in screen_text(app), "it gone")
        assert any("deletion is cancelled" in told for told in notifications(app))
        assert not (await checker.deletion_status()).scheduled


async def test_a_wrong_current_password_is_refused_and_the_session_stays(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    async with on_the_profile(client, tui_credentials, clock) as (app, pilot, _):
        await pilot.press("w")
        await wait_for_screen(pilot, PasswordScreen)
        await type_into(pilot, "#current", "not my password")
        await type_into(pilot, "#new", NEW_PASSWORD)
        await type_into(pilot, "#repeat", NEW_PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: notifications(app), "the refusal")
        assert isinstance(app.screen, PasswordScreen)  # still there, to try again
        assert app.client.token is not None
    await (await log_in(client, elsewhere(tui_credentials), PASSWORD)).close()


def test_the_qr_code_draws_every_module_black_on_white_inside_a_quiet_zone() -> None:
    uri = "otpauth://totp/opentracker:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ot"
    drawn = qr_text(uri)
    assert str(drawn.style) == "#000000 on #ffffff"  # whatever the theme: phones read dark on light
    # Read the modules back off the characters: the drawing is the code, module for module.
    upper = {" ": False, "▄": False, "▀": True, "█": True}
    lower = {" ": False, "▀": False, "▄": True, "█": True}
    read = []
    for line in drawn.plain.splitlines():
        read.append([upper[char] for char in line])
        read.append([lower[char] for char in line])
    expected = [[bool(module) for module in row] for row in segno.make(uri).matrix_iter(border=2)]
    assert read[: len(expected)] == expected
    assert not any(any(row) for row in read[len(expected) :])  # padding is quiet zone too
    assert not any(expected[0]) and not any(row[0] or row[1] for row in expected)
