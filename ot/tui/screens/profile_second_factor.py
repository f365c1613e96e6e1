"""Turning the second factor on: the secret as text and as a QR code for the authenticator app,
a first code and the password to confirm, then the recovery codes, shown this once."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Input, Label, Static

from ot.api.accounts import MAX_PASSWORD_LENGTH, EnrolmentOut
from ot.tui.calls import attempt, client_of
from ot.tui.screens.profile_format import grouped
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.qr_code import QrCode


class SecondFactorScreen(Screen[bool]):
    HELP = """# Set up the second factor

1. Scan the QR code with your authenticator app (or type the secret into it).
2. Enter the code the app shows, and your password, to turn the second factor on.
3. Save the recovery codes you are shown: each logs you in once if you lose the app, and they
   are never shown again. `c` copies them to the clipboard (where your terminal allows).

From then on, logging in asks for a code from the app.
"""
    DEFAULT_CSS = """
    SecondFactorScreen #enrol {
        height: 1fr;
    }
    SecondFactorScreen #qr {
        width: auto;
        height: auto;
        padding: 0 1 0 0;
    }
    SecondFactorScreen #steps {
        width: 1fr;
        height: 1fr;
    }
    SecondFactorScreen #steps Label {
        padding: 0;
    }
    SecondFactorScreen #secret {
        text-style: bold;
        padding: 0 0 1 0;
    }
    SecondFactorScreen #codes-view {
        padding: 1 2;
    }
    SecondFactorScreen #recovery-codes {
        text-style: bold;
        padding: 1 2;
        width: auto;
        border: round $warning;
    }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back", key_display="Esc"),
        Binding("c", "copy", "Copy codes"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.recovery_codes: list[str] = []

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with ContentSwitcher(initial="enrol"):
            with Horizontal(id="enrol"):
                yield Vertical(id="qr")
                with VerticalScroll(id="steps"):
                    yield Static("Scan the code with your authenticator app, or type this secret:")
                    yield Static("Asking the server for a secret…", id="secret")
                    yield Label("Code the app shows")
                    yield Input(id="code", max_length=64)
                    yield Label("Your password")
                    yield Input(id="password", password=True, max_length=MAX_PASSWORD_LENGTH)
                    yield Static(id="problem", classes="error-text")
                    with Horizontal(classes="buttons"):
                        yield Button("Turn on", id="turn-on", variant="primary")
            with VerticalScroll(id="codes-view"):
                yield Static("The second factor is on.", classes="title")
                yield Static(
                    "Save these recovery codes now: each logs you in once if you lose the app, "
                    "and they are never shown again. c copies them.",
                )
                yield Static(id="recovery-codes")
                with Horizontal(classes="buttons"):
                    yield Button("Copy (c)", id="copy")
                    yield Button("I have saved them", id="done", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Second factor"
        self.begin()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy":
            return bool(self.recovery_codes)
        return True

    @work(exclusive=True, group="second-factor")
    async def begin(self) -> None:
        enrolment = await attempt(
            self, client_of(self).begin_second_factor(), busy=self.query_one("#steps")
        )
        if enrolment is None:
            self.query_one("#secret", Static).update("No secret: press Esc and try again.")
            return
        await self.show_enrolment(enrolment)

    async def show_enrolment(self, enrolment: EnrolmentOut) -> None:
        self.secret = enrolment.secret
        await self.query_one("#qr", Vertical).mount(QrCode(enrolment.provisioning_uri))
        self.query_one("#secret", Static).update(grouped(enrolment.secret))
        self.query_one("#code", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "code":
            self.query_one("#password", Input).focus()
        else:
            self.confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "turn-on":
            self.confirm()
        elif event.button.id == "copy":
            self.action_copy()
        elif event.button.id == "done":
            self.dismiss(True)

    def refuse(self, problem: str) -> None:
        shown = self.query_one("#problem", Static)
        shown.update(problem)
        if problem:
            shown.scroll_visible()

    @work(exclusive=True, group="second-factor")
    async def confirm(self) -> None:
        code = self.query_one("#code", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not code:
            self.refuse("Enter the code your authenticator app shows.")
            return
        if not password:
            self.refuse("Enter your password.")
            return
        self.refuse("")
        answer = await attempt(
            self,
            client_of(self).confirm_second_factor(password, code),
            busy=self.query_one("#turn-on"),
        )
        if answer is None:
            self.refuse(
                "Not turned on. Check that the app shows this account, enter the code it "
                "shows now (each code works once) and your password."
            )
            code_input = self.query_one("#code", Input)
            code_input.value = ""
            code_input.focus()
            return
        self.recovery_codes = answer.recovery_codes
        self.query_one("#recovery-codes", Static).update("\n".join(answer.recovery_codes))
        self.query_one(ContentSwitcher).current = "codes-view"
        self.query_one("#done", Button).focus()
        self.refresh_bindings()

    def action_copy(self) -> None:
        if self.recovery_codes:
            self.app.copy_to_clipboard("\n".join(self.recovery_codes))
            self.notify(
                "The recovery codes are on the clipboard (if your terminal allows it): "
                "paste them somewhere safe.",
                title="Copied",
            )

    def action_back(self) -> None:
        # Once on, leaving is done whichever way the user goes.
        self.dismiss(bool(self.recovery_codes))
