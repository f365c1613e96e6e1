"""A new API key: its name and what it may do (the scopes the server knows, from `ot.api`).
Dismissed with the created key (its secret in it, shown next and never again) or None."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, SelectionList, Static

from ot.api.api_keys import MAX_KEY_NAME_LENGTH, SCOPES, CreatedKey
from ot.client import Invalid
from ot.tui.calls import client_of
from ot.tui.screens.access_words import attempt_form, error_label, field_of, show_field_errors

FIELDS = ("name", "scopes")
# What each scope lets a key do, in words (the names are the server's).
SCOPE_WORDS = {
    "stats:read": "read statistics",
    "sites:read": "see sites and their settings",
    "sites:write": "add, change and remove sites",
    "team:read": "see the team",
    "team:write": "invite and remove members",
    "grants:read": "see third-party grants and their reads",
    "grants:write": "grant and revoke third-party access",
    "account:read": "see the profile",
    "account:write": "change the profile",
}


def check_key_form(name: str, scopes: list[str]) -> dict[str, str]:
    """The form's problems by field (empty: it may be sent)."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Name the key: say what it is for."
    elif len(name) > MAX_KEY_NAME_LENGTH:
        errors["name"] = f"At most {MAX_KEY_NAME_LENGTH} characters."
    if not scopes:
        errors["scopes"] = "Choose at least one thing the key may do."
    return errors


class NewKeyScreen(ModalScreen[CreatedKey | None]):
    HELP = """# New API key

A key lets a script or another program use your account, only for what you tick. Its secret is
shown once, next; revoke it in the keys tab when it is no longer needed.
"""
    DEFAULT_CSS = """
    NewKeyScreen {
        align: center middle;
    }
    NewKeyScreen > VerticalScroll {
        width: 76;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    NewKeyScreen SelectionList {
        height: auto;
        max-height: 11;
    }
    """
    AUTO_FOCUS = "#name"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("New API key", classes="title")
            yield Label("Name (what it is for)")
            yield Input(id="name", max_length=MAX_KEY_NAME_LENGTH, placeholder="e.g. reporting")
            yield error_label("name")
            yield Label("May (space ticks)")
            yield SelectionList[str](
                *[
                    (f"{scope:<14} {SCOPE_WORDS.get(scope, '')}", scope, scope == "stats:read")
                    for scope in SCOPES
                ],
                id="scopes",
            )
            yield error_label("scopes")
            yield error_label("form")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self.action_create()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_create(self) -> None:
        name = self.query_one("#name", Input).value
        scopes = list(self.query_one("#scopes", SelectionList).selected)
        errors = check_key_form(name, scopes)
        show_field_errors(self, errors, FIELDS)
        if not errors:
            self.create(name.strip(), scopes)

    def _refused(self, error: Invalid) -> None:
        show_field_errors(self, {field_of(error) or "form": error.message}, FIELDS)

    @work(exclusive=True, group="key-new")
    async def create(self, name: str, scopes: list[str]) -> None:
        created = await attempt_form(self, client_of(self).create_key(name, scopes), self._refused)
        if created is not None:
            self.dismiss(created)
