"""The Sessions tab of the profile: where the account is logged in, with this session marked;
end one (after a confirmation) or all but this one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, DataTable, Static

from ot.api.sessions import SessionOut
from ot.tui.calls import app_of, attempt, client_of
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.profile_format import moment


class SessionsPane(Vertical):
    DEFAULT_CSS = """
    SessionsPane {
        height: 1fr;
    }
    SessionsPane DataTable {
        height: auto;
        max-height: 1fr;
    }
    """
    BINDINGS = [
        Binding("x,delete", "end_session", "End session"),
        Binding("o", "end_others", "End all others"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, SessionOut] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            "Where you are logged in, newest first.",
            classes="hint",
        )
        yield DataTable(id="session-table", cursor_type="row", zebra_stripes=True)
        with Vertical(classes="buttons"):
            yield Button("End the selected session (x)", id="end-session")
            yield Button("End all other sessions (o)", id="end-others", variant="warning")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "Logged in", "Last used", "Ends")  # loaded by ProfileScreen.load

    @work(exclusive=True, group="sessions")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        answer = await attempt(self, client_of(self).list_sessions(), busy=table)
        if answer is None:
            return
        table.clear()
        self.sessions = {}
        newest_first = sorted(answer.sessions, key=lambda session: session.created_at, reverse=True)
        for session in newest_first:
            key = str(session.id)
            self.sessions[key] = session
            table.add_row(
                "this one" if session.current else "",
                moment(session.created_at),
                moment(session.last_seen_at),
                moment(session.expires_at),
                key=key,
            )

    def selected(self) -> SessionOut | None:
        table = self.query_one(DataTable)
        if not self.sessions or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.sessions.get(key or "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "end-session":
            event.stop()
            self.action_end_session()
        elif event.button.id == "end-others":
            event.stop()
            self.action_end_others()

    def action_end_session(self) -> None:
        self.end_session()

    def action_end_others(self) -> None:
        self.end_others()

    @work(exclusive=True, group="end-session")
    async def end_session(self) -> None:
        session = self.selected()
        if session is None:
            self.notify("Pick a session in the list first.", severity="warning")
            return
        if session.current:
            question = "End this session? You will be logged out here."
        else:
            question = (
                f"End the session logged in at {moment(session.created_at)} "
                f"(last used {moment(session.last_seen_at)})? It will have to log in again."
            )
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="End it")):
            return
        ended = await attempt(self, client_of(self).end_session(session.id))
        if ended is None:
            return
        if session.current:
            await client_of(self).log_out()  # forget the ended session's token here too
            self.app.notify("This session has ended: log in again.", title="Logged out")
            app_of(self).show_login()
            return
        self.notify("The session has ended.", title="Session ended")
        self.load()

    @work(exclusive=True, group="end-session")
    async def end_others(self) -> None:
        question = "End every other session? Only this one stays logged in."
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="End them")):
            return
        ended = await attempt(self, client_of(self).end_other_sessions())
        if ended is None:
            return
        self.notify(f"{_sessions(ended.ended)} ended; this one stays.", title="Sessions ended")
        self.load()


def _sessions(count: int) -> str:
    return "1 other session" if count == 1 else f"{count} other sessions"
