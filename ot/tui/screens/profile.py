"""The customer's profile: everything they gave us, to see, correct and update, with their
security (password, e-mail, second factor), sessions, the profile's history, and their data
(export, deletion). Opened with `p` from the sites."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Static, TabbedContent, TabPane

from ot.api.accounts import ProfileOut
from ot.api.rights import DeletionStatus
from ot.tui.calls import attempt, client_of
from ot.tui.screens.profile_data import YourDataPane
from ot.tui.screens.profile_format import day, moment, region_name
from ot.tui.screens.profile_history import HistoryPane
from ot.tui.screens.profile_sessions import SessionsPane
from ot.tui.screens.profile_ssh_keys import SshKeysPane
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

TABS = ("profile", "security", "sessions", "ssh-keys", "history", "data")


def profile_table(profile: ProfileOut) -> Table:
    """Every field the customer gave us, one per line."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    # The customer's own words as Text: a "[" in them is text, never markup.
    table.add_row("Name", Text(profile.name))
    table.add_row("E-mail", email_state(profile))
    table.add_row("Company", Text(profile.company or "—"))
    table.add_row("Address", Text(profile.address or "—"))
    table.add_row("Phone", Text(profile.phone or "—"))
    table.add_row("Region", f"data hosted in {region_name(profile.region)}")
    for consent in reversed(profile.consents):  # the newest first: the one in force
        table.add_row(
            "Consent",
            f"{region_name(consent.region)}, statement {consent.statement_version}, "
            f"given {moment(consent.given_at)}",
        )
    table.add_row("Second factor", "on" if profile.second_factor else "off")
    table.add_row("Created", moment(profile.created_at))
    return table


def email_state(profile: ProfileOut) -> Text:
    state = f"{profile.email or '—'} ({'verified' if profile.email_verified else 'not verified'})"
    if profile.pending_email:
        state += f"\n{profile.pending_email} waits for its confirmation link"
    return Text(state)


def security_table(profile: ProfileOut) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("Log-in e-mail", email_state(profile))
    table.add_row("Password", "change it with w (your other sessions end)")
    second = "on: log-in asks for a code" if profile.second_factor else "off"
    table.add_row("Second factor", second)
    return table


class ProfileScreen(Screen[None]):
    HELP = """# Your profile

Everything you gave us, and what you can do with it:

- **Profile**: your name, contact details and region; `e` corrects them (you confirm each
  change before it is saved).
- **Security**: change your password (`w`) or log-in e-mail (`m`), turn the second factor
  on or off (`f`).
- **Sessions**: where you are logged in; end one, or all but this one.
- **SSH keys**: the public keys that open this terminal UI over SSH; add one (`a`), remove one
  (`x`).
- **History**: every change of your profile, with the former values.
- **Your data**: export everything we hold about you, or delete your account.

`1` to `6` switch between the tabs.
"""
    DEFAULT_CSS = """
    ProfileScreen TabPane {
        padding: 0 1;
    }
    ProfileScreen #details, ProfileScreen #security-details {
        padding: 1 0 0 0;
    }
    ProfileScreen #deletion-banner {
        border: round $error;
        padding: 0 1;
        display: none;
    }
    ProfileScreen #deletion-banner.pending {
        display: block;
    }
    ProfileScreen #cancel-deletion {
        display: none;
    }
    ProfileScreen #cancel-deletion.pending {
        display: block;
    }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back", key_display="Esc"),
        Binding("e", "edit", "Edit"),
        Binding("w", "password", "Password"),
        Binding("m", "email", "E-mail"),
        Binding("f", "second_factor", "2nd factor"),
        Binding("r", "reload", "Reload", show=False),
        *(Binding(str(number), f"tab('{tab}')", show=False) for number, tab in enumerate(TABS, 1)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profile: ProfileOut | None = None
        self.deletion: DeletionStatus | None = None

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with TabbedContent(initial="profile"):
            with TabPane("Profile", id="profile"), VerticalScroll():
                yield Static(id="deletion-banner")
                yield Static("Loading your profile…", id="details")
                with Horizontal(classes="buttons"):
                    yield Button("Edit (e)", id="edit", variant="primary")
                    yield Button("Cancel deletion", id="cancel-deletion", variant="warning")
            with TabPane("Security", id="security"), VerticalScroll():
                yield Static(id="security-details")
                with Horizontal(classes="buttons"):
                    yield Button("Password (w)", id="password")
                    yield Button("E-mail (m)", id="email")
                    yield Button("Second factor (f)", id="second-factor")
            with TabPane("Sessions", id="sessions"):
                yield SessionsPane()
            with TabPane("SSH keys", id="ssh-keys"):
                yield SshKeysPane()
            with TabPane("History", id="history"):
                yield HistoryPane()
            with TabPane("Your data", id="data"):
                yield YourDataPane()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Your profile"
        self.load()

    @work(exclusive=True, group="profile")
    async def load(self) -> None:
        details = self.query_one("#details", Static)
        profile = await attempt(self, client_of(self).profile(), busy=details)
        if profile is None:
            return
        self.show(profile)
        # The tabs load once the profile did: a session that ended is told once, not per tab.
        self.query_one(SessionsPane).load()
        self.query_one(SshKeysPane).load()
        self.query_one(HistoryPane).load()
        deletion = await attempt(self, client_of(self).deletion_status())
        if deletion is not None:
            self.show_deletion(deletion)

    def show(self, profile: ProfileOut) -> None:
        self.profile = profile
        self.query_one(HistoryPane).account_id = profile.id
        self.query_one("#details", Static).update(profile_table(profile))
        self.query_one("#security-details", Static).update(security_table(profile))
        factor = (
            "Turn off second factor (f)" if profile.second_factor else "Set up second factor (f)"
        )
        self.query_one("#second-factor", Button).label = factor

    def show_deletion(self, deletion: DeletionStatus) -> None:
        self.deletion = deletion
        pending = deletion.scheduled
        banner = self.query_one("#deletion-banner", Static)
        banner.set_class(pending, "pending")
        self.query_one("#cancel-deletion", Button).set_class(pending, "pending")
        if pending and deletion.purge_after is not None:
            banner.update(
                f"Your account is to be deleted on {day(deletion.purge_after)} "
                f"({moment(deletion.purge_after)}), with all its data. Changed your mind? "
                "Cancel the deletion below."
            )
        self.query_one(YourDataPane).show_deletion(deletion)

    # --- the keys ------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        # Into the tab, so that its own keys (a, x, ...) work at once.
        self.call_after_refresh(self._focus_into, tabs.get_pane(tab))

    def _focus_into(self, pane: Widget) -> None:
        inside = [widget for widget in self.focus_chain if pane in widget.ancestors]
        if inside and not (self.focused and pane in self.focused.ancestors):
            inside[0].focus()

    def action_reload(self) -> None:
        self.load()

    def action_edit(self) -> None:
        from ot.tui.screens.profile_edit import ProfileEditScreen

        if self.profile is not None:
            self.app.push_screen(ProfileEditScreen(self.profile), self.saved)

    def saved(self, profile: ProfileOut | None) -> None:
        if profile is not None:
            self.show(profile)
            self.query_one(HistoryPane).load()

    def action_password(self) -> None:
        from ot.tui.screens.profile_password import PasswordScreen

        if self.profile is not None:
            self.app.push_screen(PasswordScreen(self.profile.second_factor), self.changed)

    def action_email(self) -> None:
        from ot.tui.screens.profile_email import EmailScreen

        if self.profile is not None:
            self.app.push_screen(EmailScreen(self.profile.second_factor), self.changed)

    def action_second_factor(self) -> None:
        if self.profile is None:
            return
        if self.profile.second_factor:
            from ot.tui.screens.profile_second_factor_off import SecondFactorOffScreen

            self.app.push_screen(SecondFactorOffScreen(), self.changed)
        else:
            from ot.tui.screens.profile_second_factor import SecondFactorScreen

            self.app.push_screen(SecondFactorScreen(), self.changed)

    def changed(self, done: bool | None) -> None:
        """Something of the account changed elsewhere: show it as it is now."""
        if done:
            self.action_reload()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions: dict[str | None, Callable[[], object]] = {
            "edit": self.action_edit,
            "password": self.action_password,
            "email": self.action_email,
            "second-factor": self.action_second_factor,
            "cancel-deletion": self.cancel_deletion,
            "cancel-deletion-too": self.cancel_deletion,  # the same, on the Your data tab
        }
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    @work(exclusive=True, group="cancel-deletion")
    async def cancel_deletion(self) -> None:
        status = await attempt(self, client_of(self).cancel_deletion())
        if status is not None:
            self.notify(
                "Your account stays: its deletion is cancelled.", title="Deletion cancelled"
            )
            self.show_deletion(status)
