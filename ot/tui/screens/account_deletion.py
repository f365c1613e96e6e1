"""Deleting the account: what it means and when it happens, the password and a typed
confirmation, then the log-in screen (the deletion ends every session, this one too)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ot.api.accounts import MAX_PASSWORD_LENGTH
from ot.api.rights import DeletionStatus
from ot.tui.calls import app_of, attempt, client_of
from ot.tui.screens.profile_format import day, moment
from ot.tui.widgets.footer import KeyFooter

# Typed rather than a y/n key: deleting an account is the one step no stray key may take.
CONFIRMATION = "delete my account"


def farewell(status: DeletionStatus) -> str:
    """What the log-in screen says once the deletion is asked for."""
    if status.purge_after is None:
        return "Your account's deletion is scheduled."
    days = ""
    if status.requested_at is not None:
        grace = (status.purge_after - status.requested_at).days
        days = f" — in {grace} day{'s' if grace != 1 else ''}"
    return (
        f"Your account and all its data will be deleted on {day(status.purge_after)} "
        f"({moment(status.purge_after)}{days}). You have been logged out everywhere. "
        "Changed your mind? Log in again before then and choose Cancel deletion on your profile."
    )


class AccountDeletionScreen(ModalScreen[None]):
    HELP = """# Delete your account

Your sites, their statistics and everything you gave us are purged after a grace period.
Every session and API key ends at once. Until the purge you can log in again and cancel the
deletion on your profile.

Enter your password and type the confirmation to go ahead; `Esc` leaves everything as it is.
"""
    DEFAULT_CSS = """
    AccountDeletionScreen {
        align: center middle;
    }
    AccountDeletionScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    AccountDeletionScreen Label {
        padding: 1 1 0 1;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Back", key_display="Esc")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Delete your account", classes="title")
            yield Static(
                "Every session and API key of your account ends now, and its sites, statistics "
                "and personal data are purged after the grace period. Until then you can log "
                "in again and cancel.",
                id="grace",
            )
            yield Label("Your password")
            yield Input(id="password", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label(f"Type “{CONFIRMATION}” to confirm")
            yield Input(id="confirmation")
            yield Static(id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Delete my account", id="delete", variant="error")
                yield Button("Keep it (Esc)", id="keep")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()
        self.load_status()

    @work(exclusive=True, group="deletion-status")
    async def load_status(self) -> None:
        status = await attempt(self, client_of(self).deletion_status())
        if status is not None and status.scheduled and status.purge_after is not None:
            self.query_one("#grace", Static).update(
                f"Your account's deletion is already scheduled for {day(status.purge_after)}."
            )
            self.query_one("#delete", Button).disabled = True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "delete":
            self.delete()
        else:
            self.dismiss()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "password":
            self.query_one("#confirmation", Input).focus()
        else:
            self.delete()

    def refuse(self, problem: str) -> None:
        shown = self.query_one("#problem", Static)
        shown.update(problem)
        if problem:
            shown.scroll_visible()

    @work(exclusive=True, group="delete-account")
    async def delete(self) -> None:
        password = self.query_one("#password", Input).value
        typed = self.query_one("#confirmation", Input).value.strip().lower()
        if not password:
            self.refuse("Enter your password.")
            return
        if typed != CONFIRMATION:
            self.refuse(f"Type “{CONFIRMATION}” to confirm — nothing has been deleted.")
            return
        self.refuse("")
        status = await attempt(
            self, client_of(self).request_deletion(password), busy=self.query_one("#delete")
        )
        if status is None:
            return
        self.app.notify(farewell(status), title="Account deletion scheduled", timeout=30)
        app_of(self).show_login()
