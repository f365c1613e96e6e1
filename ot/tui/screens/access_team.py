"""The Team tab of "who sees what": the members of the account's team and their roles, the
invitations still open, and the other teams the account belongs to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from ot.api.team import InvitationOut, MemberOut, MemberRole
from ot.tui.calls import attempt, client_of, focus_once_loaded
from ot.tui.screens.access_words import filled, moment, refill, selected_key
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.team_invite import InviteScreen
from ot.tui.screens.team_role import ROLE_WORDS, RoleScreen

OWNER_ROW = "owner"
MEMBER_COLUMNS = ("Name", "Role", "Since (UTC)")
INVITATION_COLUMNS = ("E-mail", "Role", "Sent (UTC)", "Expires")
MEMBERSHIP_COLUMNS = ("Team", "My role", "Since (UTC)")
# Which table each action works on: it is offered only while that table has the focus.
ACTION_TABLES = {
    "role": "members",
    "remove": "members",
    "withdraw": "invitations",
    "leave": "memberships",
}


class TeamPane(VerticalScroll):
    DEFAULT_CSS = """
    TeamPane DataTable {
        height: auto;
        max-height: 8;
    }
    TeamPane Label {
        text-style: bold;
        padding: 1 1 0 1;
    }
    TeamPane .hint {
        padding: 0 2;
    }
    TeamPane Label.first {
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("i", "invite", "Invite"),
        Binding("e", "role", "Role"),
        Binding("d,delete", "remove", "Remove"),
        Binding("w", "withdraw", "Withdraw"),
        Binding("l", "leave", "Leave"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__(id="team-pane")
        self.members: dict[str, MemberOut] = {}
        self.invitations: dict[str, InvitationOut] = {}
        self.memberships: dict[str, MemberOut] = {}

    def compose(self) -> ComposeResult:
        yield Label("Members of your team", classes="first")
        yield DataTable[str](id="members", cursor_type="row")
        yield Label("Invitations not yet accepted")
        yield DataTable[str](id="invitations", cursor_type="row")
        yield Static("", id="invitations-empty", classes="hint")
        yield Label("Other teams you belong to")
        yield DataTable[str](id="memberships", cursor_type="row")
        yield Static("", id="memberships-empty", classes="hint")

    def on_mount(self) -> None:
        self._table("members").add_columns(*MEMBER_COLUMNS)
        self.load()

    def _table(self, name: str) -> DataTable[str]:
        return self.query_one(f"#{name}", DataTable)

    def focus_table(self) -> None:
        focus_once_loaded(self._table("members"))

    # Offer only the actions of the table in focus, so the footer says what each key does here.
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        table = ACTION_TABLES.get(action)
        if table is None:
            return True
        focused = self.screen.focused
        return focused is not None and focused.id == table

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.screen.refresh_bindings()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="team")
    async def load(self) -> None:
        client = client_of(self)
        members = await attempt(self, client.list_members(), busy=self._table("members"))
        if members is None:
            return
        table = self._table("members")
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*MEMBER_COLUMNS)
        table.add_row("You (the account holder)", MemberRole.OWNER.value, "", key=OWNER_ROW)
        self.members = {str(member.id): member for member in members.members}
        for member in members.members:
            table.add_row(
                member.name, member.role.value, moment(member.created_at), key=str(member.id)
            )
        table.move_cursor(row=min(cursor, table.row_count - 1))
        invitations = await attempt(self, client.list_invitations())
        if invitations is not None:
            table = self._table("invitations")
            empty = self.query_one("#invitations-empty", Static)
            cursor = refill(
                table, INVITATION_COLUMNS, empty, "None open: press i to invite someone."
            )
            self.invitations = {str(one.id): one for one in invitations.invitations}
            for one in invitations.invitations:
                expires = "expired" if one.expired else moment(one.expires_at)
                table.add_row(
                    one.email, one.role.value, moment(one.created_at), expires, key=str(one.id)
                )
            filled(table, empty, cursor)
        memberships = await attempt(self, client.list_memberships())
        if memberships is not None:
            table = self._table("memberships")
            empty = self.query_one("#memberships-empty", Static)
            cursor = refill(table, MEMBERSHIP_COLUMNS, empty, "None.")
            self.memberships = {str(mine.id): mine for mine in memberships.memberships}
            for mine in memberships.memberships:
                table.add_row(
                    f"team {mine.team_id}",
                    mine.role.value,
                    moment(mine.created_at),
                    key=str(mine.id),
                )
            filled(table, empty, cursor)

    def _picked(self, table: str, rows: dict[str, Any]) -> Any:
        key = selected_key(self._table(table))
        found = rows.get(key) if key is not None else None
        if key == OWNER_ROW:
            self.notify("That is you: the account holder always owns its team.", severity="warning")
        elif found is None:
            self.notify("Choose a row of the table first.", severity="warning")
        return found

    def _confirmed(self, question: str, yes: str, then: Any) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.app.push_screen(ConfirmScreen(question, yes=yes), answered)

    # --- invitations ----------------------------------------------------------------------

    def action_invite(self) -> None:
        self.app.push_screen(InviteScreen(), self._invited)

    def _invited(self, invitation: InvitationOut | None) -> None:
        if invitation is not None:
            self.notify(
                f"{invitation.email} is invited as {invitation.role.value}.", title="Invited"
            )
            self.load()

    def action_withdraw(self) -> None:
        invitation: InvitationOut | None = self._picked("invitations", self.invitations)
        if invitation is not None:
            self._confirmed(
                f"Withdraw the invitation of {invitation.email}? Its link stops working.",
                "Withdraw",
                lambda: self.change(
                    lambda: client_of(self).withdraw_invitation(invitation.id),
                    f"The invitation of {invitation.email} is withdrawn.",
                ),
            )

    # --- members --------------------------------------------------------------------------

    def action_role(self) -> None:
        member: MemberOut | None = self._picked("members", self.members)
        if member is None:
            return

        def chosen(role: MemberRole | None) -> None:
            if role is None or role == member.role:
                return
            self._confirmed(
                f"Make {member.name} {role.value} instead of {member.role.value}?\n\n"
                f"{'An' if role.value[0] in 'aeiou' else 'A'} {role.value} may: "
                f"{ROLE_WORDS[role]}.",
                "Change",
                lambda: self.change(
                    lambda: client_of(self).change_member_role(member.id, role),
                    f"{member.name} is now {role.value}.",
                ),
            )

        self.app.push_screen(RoleScreen(member.name, member.role), chosen)

    def action_remove(self) -> None:
        member: MemberOut | None = self._picked("members", self.members)
        if member is not None:
            self._confirmed(
                f"Remove {member.name} from your team? They no longer see its sites; grants "
                "they made are suspended until you resume them.",
                "Remove",
                lambda: self.change(
                    lambda: client_of(self).remove_member(member.id),
                    f"{member.name} is no longer a member.",
                ),
            )

    def action_leave(self) -> None:
        membership: MemberOut | None = self._picked("memberships", self.memberships)
        if membership is not None:
            self._confirmed(
                f"Leave team {membership.team_id}? You no longer see its sites.",
                "Leave",
                lambda: self.change(
                    lambda: client_of(self).remove_member(membership.id),
                    f"You left team {membership.team_id}.",
                ),
            )

    @work(group="team-change")
    async def change(self, call: Callable[[], Awaitable[object]], done: str) -> None:
        """Make the change `call` starts (started here, in the worker) and show the result."""
        if await attempt(self, call()) is not None:
            self.notify(done, title="Done")
            self.load()
