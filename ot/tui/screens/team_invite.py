"""Invite someone to the team: their e-mail address and the role they get. Dismissed with the
invitation made, or None."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ot.api.accounts import MAX_EMAIL_LENGTH
from ot.api.team import InvitationOut, MemberRole
from ot.client import Invalid
from ot.tui.calls import client_of
from ot.tui.screens.access_words import attempt_form, error_label, field_of, show_field_errors
from ot.tui.screens.team_role import ROLE_WORDS

FIELDS = ("email", "role")


def check_invitation(email: str) -> dict[str, str]:
    email = email.strip()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        return {"email": "Give an e-mail address, such as grace@example.org."}
    if len(email) > MAX_EMAIL_LENGTH:
        return {"email": f"At most {MAX_EMAIL_LENGTH} characters."}
    return {}


class InviteScreen(ModalScreen[InvitationOut | None]):
    HELP = """# Invite to your team

The address gets an e-mail with a link; once accepted, they see your sites as their role allows.
Until then the invitation is listed in the team tab, where w withdraws it.
"""
    DEFAULT_CSS = """
    InviteScreen {
        align: center middle;
    }
    InviteScreen > VerticalScroll {
        width: 70;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    AUTO_FOCUS = "#email"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "invite", "Invite"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Invite to your team", classes="title")
            yield Static("They get an e-mail with a link to accept.", classes="hint")
            yield Label("E-mail address")
            yield Input(id="email", max_length=MAX_EMAIL_LENGTH, placeholder="grace@example.org")
            yield error_label("email")
            yield Label("Role")
            yield Select(
                [(f"{role.value} — {ROLE_WORDS[role]}", role) for role in MemberRole],
                value=MemberRole.VIEWER,
                allow_blank=False,
                id="role",
            )
            yield error_label("role")
            yield error_label("form")
            with Horizontal(classes="buttons"):
                yield Button("Invite (ctrl+s)", id="invite", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "invite":
            self.action_invite()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_invite()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_invite(self) -> None:
        email = self.query_one("#email", Input).value.strip()
        role = self.query_one("#role", Select).value
        errors = check_invitation(email)
        show_field_errors(self, errors, FIELDS)
        if not errors and isinstance(role, MemberRole):
            self.invite(email, role)

    def _refused(self, error: Invalid) -> None:
        show_field_errors(self, {field_of(error) or "form": error.message}, FIELDS)

    @work(exclusive=True, group="invite")
    async def invite(self, email: str, role: MemberRole) -> None:
        made = await attempt_form(self, client_of(self).invite(email, role), self._refused)
        if made is not None:
            self.dismiss(made)
