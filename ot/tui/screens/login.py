"""Log in: e-mail and password (and, with the second factor on, the authenticator app's code or a
recovery code), or an API key. Every refusal is said on the form and the form stays usable:
a wrong password is cleared for the next try, a throttled log-in says how long to wait."""

from __future__ import annotations

import re

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane

from ot.client import ClientError, Forbidden, NotLoggedIn, Throttled, Unavailable
from ot.tui.calls import app_of, client_of
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.tabs import SteadyTabbedContent

# Enough to catch a slip (a missing @, a space) before asking the server; the server decides
# whether the address is known.
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PASSWORD_TAB = "with-password"
API_KEY_TAB = "with-api-key"
SECOND_FACTOR_LABEL = "Second factor: the code from your authenticator app, or a recovery code"


def looks_like_an_email(text: str) -> bool:
    return EMAIL_SHAPE.fullmatch(text.strip()) is not None


def wait_in_words(seconds: int | None) -> str:
    if seconds is None:
        return "a moment"
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"


class LoginScreen(Screen[None]):
    HELP = """# Log in

With your e-mail address and password (and, with the second factor on, the code from your
authenticator app or a recovery code); or with an API key with the `sites:read` scope.
"""
    DEFAULT_CSS = """
    LoginScreen .form {
        padding: 0 1;
    }
    LoginScreen .form Label {
        padding: 0;
    }
    LoginScreen TabbedContent {
        height: auto;
    }
    LoginScreen TabPane {
        padding: 0 1;
    }
    LoginScreen #second-factor {
        display: none;
        height: auto;
    }
    LoginScreen #second-factor.shown {
        display: block;
    }
    LoginScreen #problem {
        padding: 0 1;
        min-height: 1;
    }
    LoginScreen #problem.notice {
        color: $warning;
    }
    LoginScreen .buttons {
        padding: 0;
    }
    """
    BINDINGS = [
        Binding("f2", "register", "Register"),
        Binding("f3", "switch_tab", "Password / API key"),
        Binding("f4", "confirm_address", "Confirm address"),
    ]

    def __init__(self, email: str = "", *, notice: str = "") -> None:
        super().__init__()
        self.email = email
        self.notice = notice

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with VerticalScroll(classes="form"):
            # The words first: on a small terminal anything below the form would be out of sight.
            yield Static(self.notice, id="problem", classes="notice" if self.notice else "")
            with SteadyTabbedContent(initial=PASSWORD_TAB):
                with TabPane("E-mail and password", id=PASSWORD_TAB):
                    yield Label("E-mail")
                    yield Input(self.email, id="email", placeholder="you@example.org")
                    yield Label("Password")
                    yield Input(id="password", password=True)
                    with Vertical(id="second-factor"):
                        yield Label(SECOND_FACTOR_LABEL)
                        yield Input(id="code", placeholder="123456 or abcd-efgh-ijkl-mnop")
                with TabPane("API key", id=API_KEY_TAB):
                    yield Label("API key (with the sites:read scope)")
                    yield Input(id="api-key", password=True, placeholder="ot_...")
            with Horizontal(classes="buttons"):
                yield Button("Log in", id="log-in", variant="primary")
                yield Button("Register (F2)", id="register")
                yield Button("Confirm address (F4)", id="confirm-address")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#password" if self.email else "#email", Input).focus()

    def fill(self, email: str, notice: str = "") -> None:
        """Back from registering or confirming: the address given there, and what happened."""
        if email:
            self.query_one("#email", Input).value = email
        self.query_one("#password", Input).value = ""  # typed before going elsewhere
        self.query_one(TabbedContent).active = PASSWORD_TAB
        self.say(notice, notice=True)
        self.query_one("#password" if email else "#email", Input).focus()

    # --- what the user does --------------------------------------------------------------

    @on(Button.Pressed, "#log-in")
    @on(Input.Submitted)
    def submit(self) -> None:
        if self.query_one(TabbedContent).active == API_KEY_TAB:
            self.log_in_with_key()
        else:
            self.log_in()

    @on(Button.Pressed, "#register")
    def action_register(self) -> None:
        from ot.tui.screens.register import RegisterScreen

        self.app.push_screen(RegisterScreen(self.query_one("#email", Input).value.strip()))

    @on(Button.Pressed, "#confirm-address")
    def action_confirm_address(self) -> None:
        from ot.tui.screens.verify import VerifyScreen

        self.app.push_screen(VerifyScreen(self.query_one("#email", Input).value.strip()))

    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = PASSWORD_TAB if tabs.active == API_KEY_TAB else API_KEY_TAB
        self.query_one("#api-key" if tabs.active == API_KEY_TAB else "#email", Input).focus()

    # --- talking to the server ------------------------------------------------------------

    @work(exclusive=True, group="log-in")
    async def log_in(self) -> None:
        email_field = self.query_one("#email", Input)
        password_field = self.query_one("#password", Input)
        code_field = self.query_one("#code", Input)
        email, password = email_field.value.strip(), password_field.value
        if not looks_like_an_email(email):
            self.say(
                "Type your e-mail address."
                if not email
                else f"“{email}” is not an e-mail address: it looks like name@example.org."
            )
            email_field.focus()
            return
        if not password:
            self.say("Type your password.")
            password_field.focus()
            return
        code = "".join(code_field.value.split()) or None
        # The app's codes are six digits; anything else is taken for a recovery code.
        totp_code = code if code is not None and code.isdigit() else None
        recovery_code = code if code is not None and totp_code is None else None
        self.say("Logging in…", notice=True)
        try:
            await client_of(self).log_in(
                email, password, totp_code=totp_code, recovery_code=recovery_code
            )
        except NotLoggedIn:
            # The server gives one answer for a wrong address, password or code (it does not
            # tell a guesser which), so the code field shows up after any refusal.
            self.query_one("#second-factor").add_class("shown")
            password_field.value = ""
            code_field.value = ""
            self.say(
                "The e-mail address or the password is not right (or, with the second factor "
                "on, the code): type them again."
            )
            password_field.focus()
        except Throttled as error:
            password_field.value = ""
            self.say(
                f"Too many failed log-ins: wait {wait_in_words(error.retry_after)}, then try again."
            )
            password_field.focus()
        except Forbidden as error:
            self.say(f"{error.message}. Press F4 to paste the link from the mail.")
        except Unavailable as error:
            self.say_unreachable(error)
        except ClientError as error:
            self.say("")
            app_of(self).report(error)
        else:
            app_of(self).show_sites()

    @work(exclusive=True, group="log-in")
    async def log_in_with_key(self) -> None:
        key_field = self.query_one("#api-key", Input)
        key = key_field.value.strip()
        if not key:
            self.say("Paste your API key.")
            key_field.focus()
            return
        self.say("Checking the key…", notice=True)
        try:
            await client_of(self).use_api_key(key)
        except NotLoggedIn:
            key_field.value = ""
            self.say("This server knows no such key (it may have been revoked).")
            key_field.focus()
        except Forbidden:
            self.say(
                "This key may not list your sites: the terminal needs a key with the "
                "sites:read scope."
            )
            key_field.focus()
        except Unavailable as error:
            self.say_unreachable(error)
        except ClientError as error:
            self.say(str(error))
            key_field.focus()
        else:
            app_of(self).show_sites()

    # --- telling the user -----------------------------------------------------------------

    def say(self, words: str, *, notice: bool = False) -> None:
        """Words under the form, where the eye is (a notification would fade away)."""
        problem = self.query_one("#problem", Static)
        problem.update(words)
        problem.set_class(notice, "notice")
        problem.set_class(not notice and bool(words), "error-text")

    def say_unreachable(self, error: Unavailable) -> None:
        self.say(unavailable_words(self, error))


def unavailable_words(screen: Screen[None], error: Unavailable) -> str:
    """A form's words when the server did not answer: also told in a corner, but with Enter
    to try again (the app's usual `r` would be typed into the field)."""
    if error.status != 0:
        app_of(screen).report(error)  # busy: the server said how long to wait
        return ""
    words = (
        f"{client_of(screen).base_url} does not answer. Check that the server runs and the "
        "address is right, then press Enter to try again."
    )
    screen.notify(words, title="Server unreachable", severity="error", timeout=8)
    return words
