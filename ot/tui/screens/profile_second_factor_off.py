"""Turning the second factor off: the password and a code from the app (or a recovery code)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ot.api.accounts import MAX_PASSWORD_LENGTH
from ot.tui.calls import attempt, client_of
from ot.tui.screens.profile_password import FORM_CSS
from ot.tui.widgets.footer import KeyFooter


class SecondFactorOffScreen(ModalScreen[bool]):
    HELP = """# Turn the second factor off

Enter your password and a code from your authenticator app (or a recovery code). From then on
logging in needs only your password, and the recovery codes no longer work.
"""
    DEFAULT_CSS = FORM_CSS.format(screen="SecondFactorOffScreen")
    BINDINGS = [Binding("escape,q", "dismiss(False)", "Back", key_display="Esc")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Turn the second factor off", classes="title")
            yield Label("Your password")
            yield Input(id="password", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label("Code from your authenticator app (or a recovery code)")
            yield Input(id="code", max_length=64)
            yield Static(id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Turn off", id="turn-off", variant="warning")
                yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "turn-off":
            self.turn_off()
        else:
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "password":
            self.query_one("#code", Input).focus()
        else:
            self.turn_off()

    @work(exclusive=True, group="second-factor-off")
    async def turn_off(self) -> None:
        password = self.query_one("#password", Input).value
        code = self.query_one("#code", Input).value.strip()
        problem = self.query_one("#problem", Static)
        if not password or not code:
            problem.update("Enter your password and a code.")
            return
        problem.update("")
        state = await attempt(
            self,
            client_of(self).disable_second_factor(password, code),
            busy=self.query_one("#turn-off"),
        )
        if state is None:
            return
        self.app.notify("Logging in needs only your password now.", title="Second factor off")
        self.dismiss(True)
