"""The account's sites (placeholder until the sites part lands)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from ot.tui.calls import attempt, client_of


class SitesScreen(Screen[None]):
    HELP = "# Sites\n\nYour sites."

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="sites", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Domain", "Time zone")
        self.load()

    @work(exclusive=True, group="sites")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        sites = await attempt(self, client_of(self).list_sites(), busy=table)
        if sites is None:
            return
        table.clear()
        for site in sites.sites:
            table.add_row(site.domain, site.timezone, key=str(site.id))
