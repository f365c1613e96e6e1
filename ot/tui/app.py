"""`OtApp`: the customer's terminal. It is handed an `OtClient` (tests hand it one on their own
server) and starts on the sites list when the stored credential still works, else on the log-in
screen. Screens are imported when first opened, so `ot tui` paints its first screen fast."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ot.client import ClientError, NotLoggedIn, OtClient
from ot.tui.batches import StatsBatches
from ot.tui.explain import explain


def utc_now() -> datetime:
    return datetime.now(UTC)


class OtApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opentracker"
    BINDINGS = [
        # F1 too: in a form, `?` is typed into the field.
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("ctrl+l", "log_out", "Log out", show=False),
    ]

    def __init__(
        self,
        client: OtClient,
        *,
        now: Callable[[], datetime] = utc_now,
        saves_files: bool = True,
    ) -> None:
        super().__init__()
        self.client = client
        # False over SSH: the app runs on our host, where a file saved would be the customer's
        # data outside their reach and ours to protect (see ot.tui.calls.may_save_files).
        self.saves_files = saves_files
        # Every "today" the screens work out comes from here, so tests can fix the date.
        self.now = now
        self.stats_batches = StatsBatches(lambda queries: self.client.query_many(queries))

    @property
    def server(self) -> str:
        return self.client.base_url

    def on_mount(self) -> None:
        self.sub_title = self.server
        if not self.is_headless:
            self._quit_on_hangup()
        self.start()

    def _quit_on_hangup(self) -> None:
        """A closed terminal (an SSH connection dropped, a window closed) sends SIGHUP, whose
        default kills the process before `ot tui` can end a session it kept in memory; quit as
        if the customer had, so it does. SIGTERM (a `kill`, a shutdown) likewise."""
        loop = asyncio.get_running_loop()
        for hangup in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(hangup, self.exit)

    async def on_unmount(self) -> None:
        await self.client.close()  # the app owns the client's connections for its lifetime

    @work(exclusive=True, group="start")
    async def start(self) -> None:
        """Straight to the sites when the stored credential is still good, else log in."""
        if self.client.token is not None:
            try:
                # A key for the terminal may lack the scope to read the profile; it can list
                # the sites (`OtClient.use_api_key` made sure).
                await (
                    self.client.list_sites() if self.client.uses_api_key else self.client.profile()
                )
            except NotLoggedIn:
                pass  # expired or ended: log in again, without an error message
            except ClientError as error:
                self.report(error)
                if self.client.token is not None:
                    self.show_sites()  # the sites screen retries when the server is back
                    return
            else:
                self.show_sites()
                return
        self.show_login()

    # --- where the user goes ---------------------------------------------------------------

    def show_login(self, email: str = "", *, notice: str = "") -> None:
        from ot.tui.screens.login import LoginScreen

        self._switch_to(LoginScreen(email, notice=notice))

    def show_sites(self) -> None:
        from ot.tui.screens.sites import SitesScreen

        self._switch_to(SitesScreen())

    def show_profile(self) -> None:
        from ot.tui.screens.profile import ProfileScreen

        if not isinstance(self.screen, ProfileScreen):
            self.push_screen(ProfileScreen())

    def show_access(self) -> None:
        from ot.tui.screens.access import AccessScreen

        if not isinstance(self.screen, AccessScreen):
            self.push_screen(AccessScreen())

    def show_billing(self) -> None:
        from ot.tui.screens.billing import BillingScreen

        if not isinstance(self.screen, BillingScreen):
            self.push_screen(BillingScreen())

    def _switch_to(self, screen: Screen[None]) -> None:
        """Make `screen` the bottom of the stack: nothing is left to go back to."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) == 2:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    # --- refusals, told in words ----------------------------------------------------------

    def report(self, error: ClientError) -> None:
        """Tell the user what went wrong; an expired session asks them to log in again."""
        told = explain(error, self.server)
        self.notify(told.message, title=told.title, severity=told.severity, timeout=8)
        if isinstance(error, NotLoggedIn):
            self.session_expired()

    def session_expired(self) -> None:
        from ot.tui.screens.login import LoginScreen

        if not isinstance(self.screen, LoginScreen):
            # Logging in again leads to the sites list (where the user was is not kept).
            self.show_login(
                notice="Your session ended (it expired, or was ended elsewhere): log in again."
            )

    def action_log_out(self) -> None:
        if self.client.token is None:
            self.notify("You are not logged in.", title="Log out", severity="information")
            return
        self.log_out()

    @work(exclusive=True, group="log-out")
    async def log_out(self) -> None:
        """End the session and forget the credential, then back to the log-in screen. The
        credential is forgotten here even when the server cannot be told."""
        try:
            await self.client.log_out()
        except ClientError as error:
            self.report(error)
        self.show_login(notice="You have logged out.")

    # --- actions every screen has ---------------------------------------------------------

    def action_help(self) -> None:
        from ot.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "The keys of this screen", self.action_help)
        yield SystemCommand("Toggle light / dark", "Switch the theme", self.action_toggle_theme)
        if self.client.token is not None:
            yield SystemCommand("Sites", "Your sites and those shared with you", self.show_sites)
            yield SystemCommand(
                "Profile", "Everything you gave us: see, correct, update", self.show_profile
            )
            yield SystemCommand(
                "Who sees what", "Team, API keys, third parties and their reads", self.show_access
            )
            yield SystemCommand(
                "Billing",
                "Your plan, this month's usage, your invoices; pay them",
                self.show_billing,
            )
            yield SystemCommand("Log out", "End this session and forget it", self.log_out)
