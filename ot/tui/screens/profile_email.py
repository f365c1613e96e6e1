"""Changing the log-in e-mail address: the new address and the password (and a code when the
second factor is on); the new address is used once confirmed through the link mailed to it."""

from __future__ import annotations

import re

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ot.api.accounts import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH
from ot.tui.calls import attempt, client_of
from ot.tui.screens.profile_password import FORM_CSS
from ot.tui.widgets.footer import KeyFooter

# Enough to catch a slip of the keyboard; the link mailed to the address is the real check.
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def email_problem(address: str) -> str | None:
    if not address:
        return "Enter the new e-mail address."
    if len(address) > MAX_EMAIL_LENGTH:
        return f"That address is too long: at most {MAX_EMAIL_LENGTH} characters."
    if not EMAIL_SHAPE.fullmatch(address):
        return f"“{escape(address)}” is not an e-mail address (like name@example.org)."
    return None


class EmailScreen(ModalScreen[bool]):
    HELP = """# Change your log-in e-mail

Enter the new address and your password (and a code when the second factor is on). We mail a
link to the new address; it becomes your log-in address once you open the link. Until then
you log in with the current one.
"""
    DEFAULT_CSS = FORM_CSS.format(screen="EmailScreen")
    BINDINGS = [Binding("escape,q", "dismiss(False)", "Back", key_display="Esc")]

    def __init__(self, second_factor: bool) -> None:
        super().__init__(classes="with-code" if second_factor else None)
        self.second_factor = second_factor

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Change your log-in e-mail", classes="title")
            yield Label("New e-mail address")
            yield Input(id="email", max_length=MAX_EMAIL_LENGTH)
            yield Label("Your password")
            yield Input(id="password", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label("Code from your authenticator app (or a recovery code)", classes="code")
            yield Input(id="code", classes="code", max_length=64)
            yield Static(id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Change e-mail", id="change", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#email", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "change":
            self.change()
        else:
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.change()

    def refuse(self, problem: str) -> None:
        shown = self.query_one("#problem", Static)
        shown.update(problem)
        if problem:
            shown.scroll_visible()  # the form may be taller than the terminal

    @work(exclusive=True, group="change-email")
    async def change(self) -> None:
        address = self.query_one("#email", Input).value.strip()
        password = self.query_one("#password", Input).value
        code = self.query_one("#code", Input).value.strip() or None
        problem = email_problem(address)
        if problem is None and not password:
            problem = "Enter your password."
        if problem is None and self.second_factor and code is None:
            problem = "Enter a code from your authenticator app (or a recovery code)."
        if problem is not None:
            self.refuse(problem)
            self.notify(problem, title="Please correct", severity="warning")
            return
        self.refuse("")
        requested = await attempt(
            self,
            client_of(self).change_email(address, password, code=code),
            busy=self.query_one("#change"),
        )
        if requested is None:
            return
        if requested.pending_email is None:
            self.app.notify(f"{escape(address)} already is your log-in address.", title="No change")
        else:
            self.app.notify(
                f"Confirm through the link sent to {escape(requested.pending_email)}; "
                "until then you log in with your current address.",
                title="Check your mail",
                timeout=15,
            )
        self.dismiss(True)
