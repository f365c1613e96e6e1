"""The Third parties tab of "who sees what": every grant (who, what for, which sites, whether it
still answers, until when), a new one, revoking one, resuming a suspended one, and each one's
log of reads (enter)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from ot.api.grants import GrantOut, IssuedGrantOut
from ot.client import ClientError
from ot.tui.calls import attempt, client_of, focus_once_loaded
from ot.tui.screens.access_secret import SecretScreen
from ot.tui.screens.access_words import filled, moment, refill, selected_key
from ot.tui.screens.confirm import ConfirmScreen

# Why a grant was suspended, in words (`GrantOut.suspended_reason`).
SUSPENDED_BECAUSE = {
    "member_removed": "its maker left the team (removed)",
    "member_left": "its maker left the team",
    "role_lowered": "its maker's role was lowered",
    "account_deletion_requested": "the account is to be deleted",
    "creator_deletion_requested": "its maker's account is to be deleted",
}
COLUMNS = ("Third party", "Status", "Reads (last)", "Expires (UTC)", "Sites", "Purpose")
READS_COLUMN = 2
# A page of a grant's reads (the server's default): a full one counts as "100+".
READS_PAGE = 100


def status_words(grant: GrantOut) -> str:
    if grant.status == "suspended" and grant.suspended_reason:
        return f"suspended: {SUSPENDED_BECAUSE.get(grant.suspended_reason, grant.suspended_reason)}"
    return grant.status


def site_names(grant: GrantOut, domains: dict[int, str]) -> str:
    return ", ".join(domains.get(site_id, f"site {site_id}") for site_id in grant.site_ids)


class GrantsPane(Vertical):
    DEFAULT_CSS = """
    GrantsPane DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("enter", "reads", "Reads log"),
        Binding("n", "new", "New grant"),
        Binding("d,delete", "revoke", "Revoke"),
        Binding("u", "resume", "Resume"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__(id="grants-pane")
        self.grants: dict[str, GrantOut] = {}
        self.domains: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            "Third parties reading your statistics; enter shows what each one read (UTC).",
            classes="hint",
        )
        yield DataTable[str](id="grants", cursor_type="row", zebra_stripes=True)
        yield Static("", id="grants-empty", classes="hint")

    def on_mount(self) -> None:
        self.load()

    def focus_table(self) -> None:
        focus_once_loaded(self.query_one(DataTable))

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="grants")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        client = client_of(self)
        answer = await attempt(self, client.list_grants(), busy=table)
        if answer is None:
            return
        sites = await attempt(self, client.list_sites())
        if sites is not None:
            self.domains = {site.id: site.domain for site in sites.sites}
        empty = self.query_one("#grants-empty", Static)
        cursor = refill(table, COLUMNS, empty, "No third party reads anything: press n to grant.")
        self.grants = {str(grant.id): grant for grant in answer.grants}
        # The ones still answering first, newest first.
        ordered = sorted(
            answer.grants,
            key=lambda grant: (grant.status != "active", -grant.created_at.timestamp()),
        )
        for grant in ordered:
            table.add_row(
                grant.grantee,
                status_words(grant),
                "…",
                moment(grant.expires_at),
                site_names(grant, self.domains),
                grant.purpose,
                key=str(grant.id),
            )
        filled(table, empty, cursor)
        self.count_reads([grant.id for grant in ordered])

    @work(exclusive=True, group="grant-counts")
    async def count_reads(self, grant_ids: list[int]) -> None:
        """How often each third party read, and when last: filled in after the list, a call
        per grant (the grant's answer does not say)."""
        table = self.query_one(DataTable)
        client = client_of(self)
        for grant_id in grant_ids:
            try:
                page = await client.grant_reads(grant_id)
            except ClientError:
                # Only an extra: the list already told of any trouble, and the log itself
                # (enter) says what went wrong.
                return
            if str(grant_id) not in table.rows:
                return  # reloaded meanwhile
            count = len(page.reads)
            words = "none"
            if page.reads:
                more = "+" if count >= READS_PAGE else ""
                words = f"{count}{more} ({moment(page.reads[0].at)})"
            row = table.get_row_index(str(grant_id))
            table.update_cell_at(Coordinate(row, READS_COLUMN), words, update_width=True)

    def _selected(self) -> GrantOut | None:
        grant_id = selected_key(self.query_one(DataTable))
        grant = self.grants.get(grant_id) if grant_id is not None else None
        if grant is None:
            self.notify("Choose a grant first.", severity="warning")
        return grant

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_reads()

    def action_reads(self) -> None:
        from ot.tui.screens.grant_reads import GrantReadsScreen

        grant = self._selected()
        if grant is not None:
            self.app.push_screen(GrantReadsScreen(grant, self.domains))

    def action_new(self) -> None:
        from ot.tui.screens.grant_new import NewGrantScreen

        self.app.push_screen(NewGrantScreen(), self._created)

    def _created(self, issued: IssuedGrantOut | None) -> None:
        if issued is None:
            return
        secrets = [("Grant key", issued.key)]
        if issued.link_token is not None:
            secrets.append(("Share link token", issued.link_token))
        note = (
            "Hand it to the third party: they read with POST /ot/v1/shared/query (or "
            "/api/v2/query) and `Authorization: Bearer <key>`"
            + (", the link token with `X-Share-Password`." if issued.password_protected else ".")
        )
        self.app.push_screen(SecretScreen(f"{issued.grantee} may now read", secrets, note))
        self.load()

    def action_revoke(self) -> None:
        grant = self._selected()
        if grant is None:
            return
        if grant.status in ("revoked", "expired"):
            self.notify(f"The grant of {grant.grantee} is {grant.status} already.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(grant, "revoke")

        self.app.push_screen(
            ConfirmScreen(
                f"Revoke the grant of {grant.grantee} ({grant.purpose})?\n\nTheir key"
                + (" and share link" if grant.share_link else "")
                + " stop working at once. This cannot be undone.",
                yes="Revoke",
            ),
            answered,
        )

    def action_resume(self) -> None:
        grant = self._selected()
        if grant is None:
            return
        if grant.status != "suspended":
            self.notify(f"The grant of {grant.grantee} is {grant.status}, not suspended.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(grant, "resume")

        self.app.push_screen(
            ConfirmScreen(
                f"Resume the grant of {grant.grantee}? It was suspended because "
                f"{status_words(grant).removeprefix('suspended: ')}; it answers again, on "
                "your account's behalf.",
                yes="Resume",
            ),
            answered,
        )

    @work(group="grants-change")
    async def change(self, grant: GrantOut, how: str) -> None:
        client = client_of(self)
        call = client.revoke_grant(grant.id) if how == "revoke" else client.resume_grant(grant.id)
        changed = await attempt(self, call)
        if changed is not None:
            self.notify(f"The grant of {grant.grantee} is {changed.status}.", title="Done")
            self.load()
