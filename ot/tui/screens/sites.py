"""The account's sites and those its teams share with it: each with today's visitors, the last
30 days as a sparkline, and whether its domain is verified. Enter opens a site's dashboard.

One `time:day` query per site (all at once) gives both today's figure and the sparkline."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from ot.api.sites import SiteOut
from ot.api.stats import StatsQuery
from ot.client import ClientError, Forbidden
from ot.tui.calls import app_of, ask_stats, attempt, client_of
from ot.tui.view import format_count, today_in, view_of_site
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

SPARK_DAYS = 30
BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """One block per value, the highest a full block; days without visitors a low dot."""
    top = max(values, default=0)
    if not top:
        return "·" * len(values)
    return "".join(
        BLOCKS[max(0, math.ceil(value / top * len(BLOCKS)) - 1)] if value else "·"
        for value in values
    )


@dataclass(frozen=True)
class SiteTraffic:
    today: int
    days: list[float]


class SitesScreen(Screen[None]):
    HELP = """# Sites

Your sites and those your teams share with you (the *Owner* column says whose), with today's
visitors, the last 30 days as a sparkline, and whether the domain is verified (✓ verified, ✗ not
yet: press `s` to verify it). **Enter** opens
the site's dashboard; `/` filters the list by domain."""
    DEFAULT_CSS = """
    SitesScreen #search { display: none; margin: 0 1; }
    SitesScreen #search.-shown { display: block; }
    SitesScreen #sites { height: 1fr; }
    SitesScreen #empty {
        display: none;
        padding: 2 4;
        color: $text-muted;
        height: auto;
    }
    SitesScreen.-empty #empty { display: block; }
    SitesScreen.-empty #sites { display: none; }
    """
    AUTO_FOCUS = "#sites"  # not the filter field, hidden until `/`
    BINDINGS = [
        Binding("enter", "open", "Dashboard", show=False),
        Binding("n", "new_site", "New site"),
        Binding("s", "settings", "Settings"),
        Binding("p", "profile", "Profile"),
        Binding("w", "access", "Access", tooltip="Who sees what: team, API keys, third parties"),
        # Not in the footer, full at 80 columns: the help and the command palette name it.
        Binding("b", "billing", "Billing", show=False, tooltip="Your plan, usage and invoices"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("slash", "search", "Filter", key_display="/"),
        Binding("escape", "clear_search", "Clear filter", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[SiteOut] = []
        self.owners: dict[int, str] = {}
        self.traffic: dict[int, SiteTraffic] = {}

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        yield Input(placeholder="Filter by domain", id="search")
        yield DataTable(id="sites", cursor_type="row", zebra_stripes=True)
        yield Static(
            "No sites yet — press [b]n[/b] to add one.\n\n"
            "Once its pages carry the tracking snippet, its visitors show here.",
            id="empty",
        )
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#sites", DataTable)
        table.add_column("Domain", key="domain")
        table.add_column("Owner", key="owner")
        table.add_column("Today", key="today")
        table.add_column("Last 30 days", key="days", width=SPARK_DAYS)
        table.add_column("✓", key="verified")
        self.load()

    # --- loading ---------------------------------------------------------------------------

    @work(exclusive=True, group="sites")
    async def load(self) -> None:
        table = self.query_one("#sites", DataTable)
        client = client_of(self)
        listed = await attempt(self, client.list_sites(), busy=table)
        if listed is None:
            return
        self.sites = listed.sites
        self.owners = await self.owners_of(self.sites)
        self.show_rows()
        # Asked together, they go out in one request (fifty a request), which the server runs a
        # few at a time (ot.tui.batches): a long list never queues them all on it at once.
        refused = await asyncio.gather(*(self.load_traffic(site) for site in self.sites))
        first = next((error for error in refused if error is not None), None)
        if first is not None and self.is_attached:
            app_of(self).report(first)  # once: a hundred sites refused alike are one message

    async def owners_of(self, sites: list[SiteOut]) -> dict[int, str]:
        """Whose each site is: "yours", or the team's and the user's role in it. An API key may
        lack the scopes this needs (account:read, team:read): its sites show their account."""
        client = client_of(self)
        try:
            profile, memberships = await asyncio.gather(client.profile(), client.list_memberships())
        except Forbidden:
            return {site.id: f"account {site.account_id}" for site in sites}
        except ClientError:
            return {}  # the figures' refusal, if it is the same, is told below
        roles = {member.team_id: str(member.role) for member in memberships.memberships}
        return {
            site.id: "yours"
            if site.account_id == profile.id
            else f"team {site.account_id} · {roles.get(site.account_id, 'member')}"
            for site in sites
        }

    async def load_traffic(self, site: SiteOut) -> ClientError | None:
        """Fill in the site's figures; the refusal, if any, for the caller to tell once."""
        today = today_in(site.timezone, app_of(self).now())
        first = today - timedelta(days=SPARK_DAYS - 1)
        query = StatsQuery(
            site_id=site.domain,
            metrics=["visitors"],
            date_range=[first.isoformat(), today.isoformat()],
            dimensions=["time:day"],
            include={"time_labels": True},
        )
        try:
            answer = await ask_stats(self, query)
        except ClientError as error:
            return error
        if not self.is_attached:
            return None
        by_day = {str(row.dimensions[0])[:10]: row.metrics[0] for row in answer.results}
        days = [first + timedelta(days=offset) for offset in range(SPARK_DAYS)]
        series = [float(by_day.get(day.isoformat(), 0)) for day in days]
        self.traffic[site.id] = SiteTraffic(int(by_day.get(today.isoformat(), 0)), series)
        table = self.query_one("#sites", DataTable)
        if str(site.id) in table.rows:
            table.update_cell(str(site.id), "today", self._today_cell(site))
            table.update_cell(str(site.id), "days", self._days_cell(site))
        return None

    # --- showing ---------------------------------------------------------------------------

    def shown_sites(self) -> list[SiteOut]:
        search = self.query_one("#search", Input).value.strip().lower()
        return [site for site in self.sites if search in site.domain.lower()]

    def show_rows(self) -> None:
        table = self.query_one("#sites", DataTable)
        table.clear()
        self.set_class(not self.sites, "-empty")
        for site in self.shown_sites():
            table.add_row(
                Text(site.domain, style="bold"),
                Text(self.owners.get(site.id, ""), style="dim"),
                self._today_cell(site),
                self._days_cell(site),
                # One character: the row fits 80 columns beside a 30-day sparkline.
                Text("✓", style="green") if site.verified_at else Text("✗", style="yellow"),
                key=str(site.id),
            )

    def _today_cell(self, site: SiteOut) -> Text:
        traffic = self.traffic.get(site.id)
        return Text(format_count(traffic.today) if traffic else "…", justify="right")

    def _days_cell(self, site: SiteOut) -> Text:
        traffic = self.traffic.get(site.id)
        return Text(sparkline(traffic.days) if traffic else "", style="cyan")

    def chosen_site(self) -> SiteOut | None:
        table = self.query_one("#sites", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((site for site in self.sites if str(site.id) == key), None)

    # --- keys ------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#sites")
    def _row_chosen(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        site = self.chosen_site()
        if site is None:
            return
        from ot.tui.screens.dashboard import DashboardScreen

        today = today_in(site.timezone, app_of(self).now())
        self.app.push_screen(DashboardScreen(view_of_site(site, today)))

    def action_new_site(self) -> None:
        from ot.tui.screens.new_site import NewSiteScreen

        def added(site: SiteOut | None) -> None:
            if site is not None:
                self.load()

        self.app.push_screen(NewSiteScreen(), added)

    def action_settings(self) -> None:
        site = self.chosen_site()
        if site is None:
            self.notify("No site chosen: add one with n.", title="Settings")
            return
        from ot.tui.screens.site_settings import SiteSettingsScreen

        self.app.push_screen(SiteSettingsScreen(site.id), self._reload_after)

    def _reload_after(self, _: object) -> None:
        self.load()

    def action_profile(self) -> None:
        app_of(self).show_profile()

    def action_access(self) -> None:
        app_of(self).show_access()

    def action_billing(self) -> None:
        app_of(self).show_billing()

    def action_refresh(self) -> None:
        self.load()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("-shown")
        search.focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value or search.has_class("-shown"):
            search.value = ""
            search.remove_class("-shown")
            self.query_one("#sites", DataTable).focus()

    async def action_quit(self) -> None:
        self.app.exit()

    @on(Input.Changed, "#search")
    def _filter(self) -> None:
        self.show_rows()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#sites", DataTable).focus()
