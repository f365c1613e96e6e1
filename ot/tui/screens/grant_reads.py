"""One grant's log of reads: every query the third party made through its key or share link,
newest first, answered or refused and why, what it asked for and how many rows it got. Older
reads come a page at a time (m); enter shows a read's whole query."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ot.api.grants import GrantOut, GrantReadOut
from ot.tui.calls import attempt, client_of
from ot.tui.screens.access_words import day, moment, names, selected_key
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

MORE_ROW = "more"
# The server's page of reads when no limit is asked (`GET /ot/v1/grants/{id}/reads`): a shorter
# page is the last.
PAGE = 100
# The outcome and the rows first: at 80 columns the rest scrolls sideways (enter shows it all).
COLUMNS = (
    "When (UTC)",
    "Via",
    "Outcome",
    "Rows",
    "Days",
    "Metrics",
    "Dimensions",
    "Filtered on",
)


# Why a read was refused: the server logs "code: field" (`ot.grants.reads`); the code in words.
REFUSED_BECAUSE = {
    "forbidden": "outside the grant",
    "invalid_input": "not a valid query",
    "not_found": "no such site in the grant",
    "too_many_requests": "too many reads",
    "query_timeout": "too slow",
    "overloaded": "server busy",
}


def reason_words(reason: str) -> str:
    code, _, part = reason.partition(": ")
    words = REFUSED_BECAUSE.get(code)
    if words is None:
        return reason
    return f"{words} ({part})" if part and part != "query" else words


def outcome_words(read: GrantReadOut) -> str:
    if read.outcome == "answered" or not read.reason:
        return read.outcome
    return f"{read.outcome}: {reason_words(read.reason)}"


def days_words(read: GrantReadOut) -> str:
    if read.first_day is None and read.last_day is None:
        return "—"
    if read.first_day == read.last_day:
        return day(read.first_day)
    return f"{day(read.first_day)}…{day(read.last_day)}"


def rows_words(read: GrantReadOut) -> str:
    hidden = f" ({read.rows_hidden} hidden)" if read.rows_hidden else ""
    return f"{read.rows_returned}{hidden}"


def grant_summary(grant: GrantOut, sites: str) -> str:
    window = (
        f"{day(grant.date_from, none='any day')} to {day(grant.date_to, none='any day')}"
        if grant.date_from or grant.date_to
        else "any day"
    )
    k = f"rows under {grant.min_visitors} visitors hidden" if grant.min_visitors else "no minimum"
    link = ""
    if grant.share_link:
        link = ", share link" + (" with password" if grant.password_protected else "")
    return (
        f"{grant.grantee} — {grant.purpose}\n"
        f"{grant.status}, until {moment(grant.expires_at)} UTC; key {grant.key_prefix}…{link}\n"
        f"Sites: {sites}. Metrics: {names(grant.metrics)}. "
        f"Dimensions: {names(grant.dimensions)}. Days: {window}; {k}."
    )


class GrantReadsScreen(Screen[None]):
    HELP = """# Reads of a grant

Everything the third party read through this grant, newest first: when (UTC), through the key
or the share link, whether it was answered or refused (and why), the metrics and dimensions it
asked for, the dimensions it filtered on, the days it read and how many rows it got (and how
many were hidden for having too few visitors). Enter shows the whole query.
"""
    DEFAULT_CSS = """
    GrantReadsScreen #summary {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    GrantReadsScreen DataTable {
        height: 1fr;
    }
    GrantReadsScreen #reads-empty {
        display: none;
        padding: 1;
    }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("m", "more", "Older reads"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, grant: GrantOut, domains: dict[int, str]) -> None:
        super().__init__()
        self.grant = grant
        self.domains = domains
        self.sites = ", ".join(domains.get(site, f"site {site}") for site in grant.site_ids)
        self.reads: dict[str, GrantReadOut] = {}
        self.oldest_id: int | None = None
        self.complete = False

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        yield Static(grant_summary(self.grant, self.sites), id="summary")
        yield DataTable[str](id="reads", cursor_type="row", zebra_stripes=True)
        yield Static("Nothing read yet.", id="reads-empty", classes="hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"Reads of the grant of {self.grant.grantee}"
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.load_page()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.reads = {}
        self.oldest_id = None
        self.complete = False
        self.query_one(DataTable).clear(columns=True).add_columns(*COLUMNS)
        self.load_page()

    def action_more(self) -> None:
        if self.complete:
            self.notify("That was the first read: there are no older ones.")
            return
        self.load_page()

    @work(exclusive=True, group="grant-reads")
    async def load_page(self) -> None:
        table = self.query_one(DataTable)
        call = client_of(self).grant_reads(self.grant.id, before_id=self.oldest_id)
        page = await attempt(self, call, busy=table)
        if page is None:
            return
        if table.row_count and MORE_ROW in table.rows:
            table.remove_row(MORE_ROW)
        for read in page.reads:
            self.reads[str(read.id)] = read
            table.add_row(
                moment(read.at),
                read.via,
                outcome_words(read),
                rows_words(read),
                days_words(read),
                names(read.metrics),
                names(read.dimensions),
                names(read.filtered_dimensions),
                key=str(read.id),
            )
        if page.reads:
            self.oldest_id = page.reads[-1].id
        self.complete = len(page.reads) < PAGE
        empty = self.query_one("#reads-empty", Static)
        empty.display = not self.reads
        table.display = bool(self.reads)
        if self.reads and not self.complete:
            table.add_row("(m: older reads)", "", "", "", "", "", "", "", key=MORE_ROW)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        from ot.tui.screens.grant_read import GrantReadScreen

        read_id = selected_key(self.query_one(DataTable))
        if read_id == MORE_ROW:
            self.action_more()
            return
        read = self.reads.get(read_id) if read_id is not None else None
        if read is not None:
            self.app.push_screen(GrantReadScreen(read, self.domains))
