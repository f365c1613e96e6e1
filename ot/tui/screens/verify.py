"""Confirm an e-mail address: paste the link from the mail (or only its token); then log in
with that address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from ot.client import ClientError, Invalid, NotFound, Unavailable
from ot.tui.calls import client_of
from ot.tui.screens.login import LoginScreen, unavailable_words
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader


def token_of(pasted: str) -> str:
    """The token in a pasted link (`https://.../verify?token=X`), or the text itself when it is
    only the token."""
    pasted = pasted.strip()
    if "token=" in pasted:
        tokens = parse_qs(urlsplit(pasted).query).get("token") or parse_qs(
            pasted.split("?", 1)[-1]
        ).get("token")
        if tokens:
            return tokens[0].strip()
    return pasted


class VerifyScreen(Screen[None]):
    HELP = """# Confirm your address

We mailed a link to the address you registered with. Copy the link (or only the part after
`token=`) and paste it here: your address is confirmed and you can log in.

The link works once and for a limited time.
"""
    DEFAULT_CSS = """
    VerifyScreen .form Label {
        padding: 0;
    }
    VerifyScreen #problem {
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape", "back", "Back to log-in")]

    def __init__(self, email: str = "") -> None:
        super().__init__()
        self.email = email

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with VerticalScroll(classes="form"):
            yield Static("Check your mail", classes="title")
            to = f" to {self.email}" if self.email else ""
            yield Static(
                f"We sent a link{to}: paste it here (or only its token) to confirm the "
                "address. No mail? Look in the spam folder.",
                classes="hint",
            )
            yield Label("Link or token")
            yield Input(id="link", placeholder="https://…/verify?token=otv_…")
            yield Static("", id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Confirm", id="confirm", variant="primary")
                yield Button("Back (Esc)", id="back")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#link", Input).focus()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.back_to_log_in()

    def back_to_log_in(self, notice: str = "") -> None:
        """Back to the log-in screen this one was opened from, the address filled in."""
        for screen in reversed(self.app.screen_stack[:-1]):
            if isinstance(screen, LoginScreen):
                screen.fill(self.email, notice)
                break
        self.app.pop_screen()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted)
    def submit(self) -> None:
        self.confirm()

    @work(exclusive=True, group="verify")
    async def confirm(self) -> None:
        field = self.query_one("#link", Input)
        token = token_of(field.value)
        problem = self.query_one("#problem", Static)
        if not token:
            problem.update("Paste the link from the mail.")
            return
        problem.update("Confirming…")
        try:
            await client_of(self).verify_email(token)
        except (Invalid, NotFound) as error:
            problem.update(
                f"That link does not work ({error.message}): it may be used up, expired or "
                "cut short. Paste the whole link."
            )
            field.focus()
        except Unavailable as error:
            problem.update(unavailable_words(self, error))
        except ClientError as error:
            problem.update(error.message)
        else:
            self.back_to_log_in("Your address is confirmed: log in.")
