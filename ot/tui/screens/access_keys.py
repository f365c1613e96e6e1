"""The API keys tab of "who sees what": every key of the account (revoked ones too, so the
customer sees when each stopped), a new one, revoking one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ot.api.api_keys import CreatedKey, KeyOut
from ot.tui.calls import attempt, client_of, focus_once_loaded
from ot.tui.screens.access_secret import SecretScreen
from ot.tui.screens.access_words import filled, moment, names, refill, selected_key
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.key_new import NewKeyScreen

# The status next to the name: at 80 columns the last ones are off-screen, and a revoked key
# must never look like one in use.
COLUMNS = ("Name", "Status", "May", "Last used", "Created", "Starts with")


class KeysPane(Vertical):
    DEFAULT_CSS = """
    KeysPane DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("n", "new", "New key"),
        Binding("d,delete", "revoke", "Revoke"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__(id="keys-pane")
        self.keys: dict[str, KeyOut] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            "Keys let scripts and other programs use your account (times UTC).", classes="hint"
        )
        yield DataTable[str](id="keys", cursor_type="row", zebra_stripes=True)
        yield Static("", id="keys-empty", classes="hint")

    def on_mount(self) -> None:
        self.load()

    def focus_table(self) -> None:
        focus_once_loaded(self.query_one(DataTable))

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="keys")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        answer = await attempt(self, client_of(self).list_keys(), busy=table)
        if answer is None:
            return
        empty = self.query_one("#keys-empty", Static)
        cursor = refill(table, COLUMNS, empty, "No keys yet: press n to make one.")
        self.keys = {str(key.id): key for key in answer.keys}
        # Keys in use first, newest first: the revoked ones are history.
        ordered = sorted(
            answer.keys, key=lambda key: (key.revoked_at is not None, -key.created_at.timestamp())
        )
        for key in ordered:
            table.add_row(
                key.name,
                "in use" if key.revoked_at is None else f"revoked {moment(key.revoked_at)}",
                names(key.scopes),
                moment(key.last_used_at, none="never"),
                moment(key.created_at),
                f"{key.prefix}…",
                key=str(key.id),
            )
        filled(table, empty, cursor)

    def action_new(self) -> None:
        self.app.push_screen(NewKeyScreen(), self._created)

    def _created(self, created: CreatedKey | None) -> None:
        if created is None:
            return
        self.app.push_screen(
            SecretScreen(
                f"Your new key “{created.name}”",
                [("Key", created.key)],
                "Send it as `Authorization: Bearer <key>`.",
            )
        )
        self.load()

    def _selected(self) -> KeyOut | None:
        key_id = selected_key(self.query_one(DataTable))
        return self.keys.get(key_id) if key_id is not None else None

    def action_revoke(self) -> None:
        key = self._selected()
        if key is None:
            self.notify("Choose a key first.", severity="warning")
            return
        if key.revoked_at is not None:
            self.notify(f"“{key.name}” was revoked on {moment(key.revoked_at)}.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.revoke(key)

        self.app.push_screen(
            ConfirmScreen(
                f"Revoke the key “{key.name}” ({key.prefix}…)?\n\nEverything using it is "
                "refused from now on. This cannot be undone.",
                yes="Revoke",
            ),
            answered,
        )

    @work(group="keys-change")
    async def revoke(self, key: KeyOut) -> None:
        if await attempt(self, client_of(self).revoke_key(key.id)) is not None:
            self.notify(f"“{key.name}” is revoked.", title="Key revoked")
            self.load()
