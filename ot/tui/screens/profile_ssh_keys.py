"""The SSH keys tab of the profile: the public keys that open this terminal UI over SSH; add
one (a), remove one after a confirmation (x)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, DataTable, Static

from ot.api.ssh_keys import SshKeyOut
from ot.tui.calls import attempt, client_of
from ot.tui.screens.access_words import filled, moment, refill, selected_key
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.ssh_key_new import NewSshKeyScreen

# The fingerprint is long (50 characters): after the dates, so 80 columns show them whole.
COLUMNS = ("Name", "Last used", "Added", "Fingerprint", "Kind")
NO_KEYS = "No SSH keys yet: a adds one (the line of ~/.ssh/id_ed25519.pub)."


class SshKeysPane(Vertical):
    DEFAULT_CSS = """
    SshKeysPane {
        height: 1fr;
    }
    SshKeysPane DataTable {
        height: auto;
        max-height: 1fr;
    }
    """
    BINDINGS = [
        Binding("a", "add_key", "Add key"),
        Binding("x,delete", "remove_key", "Remove key"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, SshKeyOut] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            "Each key opens this terminal UI for your account over SSH (ssh stats@our-host), "
            "and nothing else.",
            classes="hint",
        )
        yield DataTable(id="ssh-key-table", cursor_type="row", zebra_stripes=True)
        yield Static(NO_KEYS, id="no-ssh-keys", classes="hint")
        with Vertical(classes="buttons"):
            yield Button("Add a key (a)", id="add-ssh-key", variant="primary")
            yield Button("Remove the selected key (x)", id="remove-ssh-key")

    @work(exclusive=True, group="ssh-keys")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        answer = await attempt(self, client_of(self).list_ssh_keys(), busy=table)
        if answer is None:
            return
        cursor = refill(table, COLUMNS, self.query_one("#no-ssh-keys", Static), NO_KEYS)
        self.keys = {str(key.id): key for key in answer.keys}
        for key in answer.keys:
            table.add_row(
                key.name,
                moment(key.last_used_at, none="never"),
                moment(key.created_at),
                key.fingerprint,
                key.key_type,
                key=str(key.id),
            )
        filled(table, self.query_one("#no-ssh-keys", Static), cursor)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add-ssh-key":
            event.stop()
            self.action_add_key()
        elif event.button.id == "remove-ssh-key":
            event.stop()
            self.action_remove_key()

    def action_add_key(self) -> None:
        def added(key: SshKeyOut | None) -> None:
            if key is not None:
                self.notify(f"{key.name} ({key.fingerprint}) opens your terminal UI over SSH.",
                            title="SSH key added")  # fmt: skip
                self.load()

        self.app.push_screen(NewSshKeyScreen(), added)

    def action_remove_key(self) -> None:
        self.remove_key()

    @work(exclusive=True, group="ssh-key-remove")
    async def remove_key(self) -> None:
        key = self.keys.get(selected_key(self.query_one(DataTable)) or "")
        if key is None:
            self.notify("Pick a key in the list first.", severity="warning")
            return
        question = f"Remove the SSH key {key.name} ({key.fingerprint})? It opens nothing any more."
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Remove it")):
            return
        if await attempt(self, client_of(self).remove_ssh_key(key.id)) is None:
            return
        self.notify(f"{key.name} opens nothing any more.", title="SSH key removed")
        self.load()
