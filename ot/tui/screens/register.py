"""Register an account: who you are, a password, where your data is hosted and your express
consent to that; then the mail with the confirmation link (`VerifyScreen`)."""

from __future__ import annotations

from typing import Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from ot.client import ClientError, Invalid, Unavailable
from ot.tui.calls import client_of
from ot.tui.screens.login import looks_like_an_email, unavailable_words
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

Region = Literal["nl", "us"]
REGIONS: dict[Region, str] = {"nl": "the Netherlands", "us": "the United States"}


def consent_words(region: Region) -> str:
    return f"I agree that my data is hosted in {REGIONS[region]}"


class RegisterScreen(Screen[None]):
    HELP = """# Register

A new account. Name, e-mail address and password are needed; company, address and phone are
for invoices and may stay empty.

Your account's data is hosted in the region you choose, **the Netherlands** or **the United
States**, and only with your express consent: tick the box. We then mail you a link to confirm
your address; paste it on the next screen.
"""
    DEFAULT_CSS = """
    RegisterScreen .form Label {
        padding: 0;
    }
    RegisterScreen #problem {
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape", "app.pop_screen", "Back to log-in")]

    def __init__(self, email: str = "") -> None:
        super().__init__()
        self.email = email

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with VerticalScroll(classes="form"):
            yield Static(f"A new account on {client_of(self).base_url}", classes="title")
            yield Label("Name")
            yield Input(id="name")
            yield Label("E-mail (you log in with it; we mail a link to confirm it)")
            yield Input(self.email, id="email", placeholder="you@example.org")
            yield Label("Password")
            yield Input(id="password", password=True)
            yield Label("The password again")
            yield Input(id="repeat", password=True)
            yield Label("Company (optional)")
            yield Input(id="company")
            yield Label("Address (optional)")
            yield Input(id="address")
            yield Label("Phone (optional)")
            yield Input(id="phone")
            yield Label("Where your data is hosted")
            with RadioSet(id="region"):
                yield RadioButton("Netherlands", id="nl", value=True)
                yield RadioButton("United States", id="us")
            yield Static(
                "Your profile, sites and statistics are kept and processed there, and only with "
                "your consent.",
                classes="hint",
            )
            yield Checkbox(consent_words("nl"), id="consent")
            yield Static("", id="problem", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Register", id="register", variant="primary")
                yield Button("Back (Esc)", id="back")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @property
    def chosen_region(self) -> Region:
        pressed = self.query_one(RadioSet).pressed_button
        return "us" if pressed is not None and pressed.id == "us" else "nl"

    @on(RadioSet.Changed)
    def region_chosen(self) -> None:
        # The consent is to one region: choosing another asks for it again.
        consent = self.query_one("#consent", Checkbox)
        consent.label = consent_words(self.chosen_region)
        consent.value = False

    @on(Button.Pressed, "#back")
    def back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#register")
    @on(Input.Submitted)
    def submit(self) -> None:
        self.register()

    @work(exclusive=True, group="register")
    async def register(self) -> None:
        values = {field.id: field.value for field in self.query(Input) if field.id}
        name, email = values["name"].strip(), values["email"].strip()
        if not name:
            self.refuse("Type your name.", "name")
            return
        if not looks_like_an_email(email):
            self.refuse("Type your e-mail address, like name@example.org.", "email")
            return
        if not values["password"]:
            self.refuse("Choose a password.", "password")
            return
        if values["password"] != values["repeat"]:
            self.query_one("#repeat", Input).value = ""
            self.refuse("The two passwords differ: type it again.", "repeat")
            return
        region = self.chosen_region
        if not self.query_one("#consent", Checkbox).value:
            self.refuse(
                f"We host your data in {REGIONS[region]} only with your consent: tick the box "
                "to agree, or choose the other region.",
                "consent",
            )
            return
        contact = {
            key: values[key].strip() for key in ("company", "address", "phone") if values[key]
        }
        self.say("Registering…")
        try:
            await client_of(self).register(
                name, email, values["password"], region=region, consent=True, **contact
            )
        except Invalid as error:
            self.refuse(f"{error.message}.", error.field)
            return
        except Unavailable as error:
            self.say(unavailable_words(self, error))
            return
        except ClientError as error:
            self.say(error.message)
            return
        from ot.tui.screens.verify import VerifyScreen

        self.app.switch_screen(VerifyScreen(email))

    def refuse(self, words: str, field: str | None) -> None:
        self.say(words)
        # Also in a corner: focusing the field may scroll the words under the form away.
        self.notify(words, title="Please correct", severity="warning")
        if field:
            for widget in self.query(f"#{field}"):
                widget.focus()

    def say(self, words: str) -> None:
        self.query_one("#problem", Static).update(words)
