"""The History tab of the profile: every change, newest first — when, who, which fields and
what they were before."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ot.api.accounts import ChangeOut
from ot.tui.calls import attempt, client_of
from ot.tui.screens.profile_format import moment, shown


def who(actor: str, account_id: int | None) -> str:
    """The account's own changes said as "you"; anyone else (an operator) as recorded."""
    return "you" if account_id is not None and actor == f"account:{account_id}" else actor


def former_values(change: ChangeOut) -> str:
    return "; ".join(f"{field}: {shown(change.old_values.get(field))}" for field in change.fields)


class HistoryPane(Vertical):
    DEFAULT_CSS = """
    HistoryPane {
        height: 1fr;
    }
    HistoryPane DataTable {
        height: 1fr;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        # Known once the profile is loaded: the history then says "you" for the account's own.
        self.account_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("Every change of your profile, newest first.", classes="hint")
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        # Loaded once the profile says whose it is (ProfileScreen.show).
        self.query_one(DataTable).add_columns("When", "Who", "Fields", "Former values")

    @work(exclusive=True, group="history")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        history = await attempt(self, client_of(self).profile_history(), busy=table)
        if history is None:
            return
        table.clear()
        changes = sorted(history.changes, key=lambda change: change.at, reverse=True)
        for change in changes:
            table.add_row(
                moment(change.at),
                Text(who(change.actor, self.account_id)),
                ", ".join(change.fields),
                Text(former_values(change)),  # the customer's words: never markup
            )
        if not changes:
            table.add_row("—", "", "no changes yet", "")
