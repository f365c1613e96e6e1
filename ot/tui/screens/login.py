"""Log in with e-mail and password (placeholder until the log-in issue part lands)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label

from ot.tui.calls import app_of, attempt, client_of


class LoginScreen(Screen[None]):
    HELP = "# Log in\n\nLog in with your e-mail address and password."

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="form"):
            yield Label("E-mail")
            yield Input(id="email")
            yield Label("Password")
            yield Input(id="password", password=True)
            yield Button("Log in", id="log-in", variant="primary")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.log_in()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.log_in()

    @work(exclusive=True, group="log-in")
    async def log_in(self) -> None:
        email = self.query_one("#email", Input).value
        password = self.query_one("#password", Input).value
        logged_in = await attempt(self, client_of(self).log_in(email, password))
        if logged_in is not None:
            app_of(self).show_sites()
