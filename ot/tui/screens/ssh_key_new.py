"""A new SSH key: the public key's line, pasted, and an optional name. Dismissed with the
registered key, or None."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ot.api.ssh_keys import MAX_SSH_KEY_NAME_LENGTH, SshKeyOut
from ot.client import Invalid
from ot.tui.calls import client_of
from ot.tui.screens.access_words import attempt_form, error_label, field_of, show_field_errors

FIELDS = ("public_key", "name")


def check_ssh_key_form(public_key: str) -> dict[str, str]:
    """The form's problems by field (empty: it may be sent; the server reads the key itself)."""
    if not public_key.strip():
        return {"public_key": "Paste your public key: the line of ~/.ssh/id_ed25519.pub."}
    if "PRIVATE KEY" in public_key:
        return {"public_key": "That is a private key: never share it. Paste the .pub file's line."}
    return {}


class NewSshKeyScreen(ModalScreen[SshKeyOut | None]):
    HELP = """# New SSH key

Paste the line of your public key (`cat ~/.ssh/id_ed25519.pub`; make one with
`ssh-keygen -t ed25519`). Once added, `ssh` with that key to our host opens this terminal UI
for your account, and nothing else. Never paste the private key (the file without `.pub`).
"""
    DEFAULT_CSS = """
    NewSshKeyScreen {
        align: center middle;
    }
    NewSshKeyScreen > VerticalScroll {
        width: 90;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    AUTO_FOCUS = "#public_key"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "add", "Add"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("New SSH key", classes="title")
            yield Label("Public key (the line of ~/.ssh/id_ed25519.pub)")
            yield Input(id="public_key", placeholder="ssh-ed25519 AAAA... you@laptop")
            yield error_label("public_key")
            yield Label("Name (optional: the key's comment otherwise)")
            yield Input(id="name", max_length=MAX_SSH_KEY_NAME_LENGTH, placeholder="e.g. laptop")
            yield error_label("name")
            yield error_label("form")
            with Horizontal(classes="buttons"):
                yield Button("Add (ctrl+s)", id="add", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "add":
            self.action_add()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_add()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_add(self) -> None:
        public_key = self.query_one("#public_key", Input).value
        name = self.query_one("#name", Input).value.strip()
        errors = check_ssh_key_form(public_key)
        show_field_errors(self, errors, FIELDS)
        if not errors:
            self.add(public_key.strip(), name or None)

    def _refused(self, error: Invalid) -> None:
        show_field_errors(self, {field_of(error) or "form": error.message}, FIELDS)

    @work(exclusive=True, group="ssh-key-new")
    async def add(self, public_key: str, name: str | None) -> None:
        added = await attempt_form(
            self, client_of(self).add_ssh_key(public_key, name), self._refused
        )
        if added is not None:
            self.dismiss(added)
