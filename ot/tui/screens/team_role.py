"""Choose a member's new role: dismissed with it, or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ot.api.team import MemberRole

# What each role may do with the team's sites, in words.
ROLE_WORDS = {
    MemberRole.OWNER: "everything, the team and its grants too",
    MemberRole.ADMIN: "see and change the sites",
    MemberRole.VIEWER: "see the statistics only",
}


class RoleScreen(ModalScreen[MemberRole | None]):
    HELP = """# A member's role

- **owner**: everything, the team and its grants too.
- **admin**: see and change the sites.
- **viewer**: see the statistics only.

You are asked to confirm before the role changes.
"""
    DEFAULT_CSS = """
    RoleScreen {
        align: center middle;
    }
    RoleScreen > Vertical {
        width: 64;
        max-width: 98%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    RoleScreen OptionList {
        height: auto;
    }
    """
    AUTO_FOCUS = "#roles"
    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, who: str, current: MemberRole) -> None:
        super().__init__()
        self.who = who
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.who}'s role (now {self.current.value})", classes="title")
            yield OptionList(
                *[
                    Option(f"{role.value:<7} {ROLE_WORDS[role]}", id=role.value)
                    for role in MemberRole
                ],
                id="roles",
            )
            yield Static("enter chooses, esc cancels", classes="hint")

    def on_mount(self) -> None:
        roles = list(MemberRole)
        self.query_one(OptionList).highlighted = roles.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        assert event.option.id is not None
        self.dismiss(MemberRole(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
