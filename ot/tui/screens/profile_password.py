"""Changing the password: the current one, the new one twice (and a code when the second factor
is on). The account's other sessions end; this one stays."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ot.api.accounts import MAX_PASSWORD_LENGTH
from ot.tui.calls import attempt, client_of
from ot.tui.widgets.footer import KeyFooter

# The look of the profile's small forms over the profile (the password, e-mail and second-factor
# forms share it, each under its own screen name).
FORM_CSS = """
{screen} {{
    align: center middle;
}}
{screen} > VerticalScroll {{
    width: 76;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{screen} .title {{
    padding: 0 0 1 0;
}}
{screen} Label {{
    padding: 0 1;
}}
{screen} .code {{
    display: none;
}}
{screen}.with-code .code {{
    display: block;
}}
"""


def other_sessions(count: int) -> str:
    if count == 0:
        return "no other session was open"
    return "1 other session ended" if count == 1 else f"{count} other sessions ended"


class PasswordScreen(ModalScreen[bool]):
    HELP = """# Change your password

Enter your current password, then the new one twice. With the second factor on, also a code
from your authenticator app (or a recovery code). Your other sessions end; this one stays.
"""
    DEFAULT_CSS = FORM_CSS.format(screen="PasswordScreen")
    BINDINGS = [Binding("escape,q", "dismiss(False)", "Back", key_display="Esc")]

    def __init__(self, second_factor: bool) -> None:
        super().__init__(classes="with-code" if second_factor else None)
        self.second_factor = second_factor

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Change your password", classes="title")
            yield Label("Current password")
            yield Input(id="current", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label("New password")
            yield Input(id="new", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label("New password again")
            yield Input(id="repeat", password=True, max_length=MAX_PASSWORD_LENGTH)
            yield Label("Code from your authenticator app (or a recovery code)", classes="code")
            yield Input(id="code", classes="code", max_length=64)
            yield Static(id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Change password", id="change", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#current", Input).focus()

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

    @work(exclusive=True, group="change-password")
    async def change(self) -> None:
        current = self.query_one("#current", Input).value
        new = self.query_one("#new", Input).value
        code = self.query_one("#code", Input).value.strip() or None
        if not current:
            self.refuse("Enter your current password.")
            return
        if not new:
            self.refuse("Enter a new password.")
            return
        if new != self.query_one("#repeat", Input).value:
            self.refuse("The new password and its repetition differ: type them again.")
            return
        if self.second_factor and code is None:
            self.refuse("Enter a code from your authenticator app (or a recovery code).")
            return
        self.refuse("")
        changed = await attempt(
            self,
            client_of(self).change_password(current, new, code=code),
            busy=self.query_one("#change"),
        )
        if changed is None:
            return
        self.app.notify(
            f"Your password is changed; {other_sessions(changed.other_sessions_ended)}.",
            title="Password changed",
        )
        self.dismiss(True)
