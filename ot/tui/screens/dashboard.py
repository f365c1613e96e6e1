"""A site's dashboard: the headline figures, visitors and pageviews over time, and a panel per
breakdown (pages, sources, campaigns, countries, devices, goals, events and their properties,
outbound links, downloads, missing pages), with "N current visitors" kept fresh.

Every change (period, comparison, a filter added or removed) makes a new `DashboardView` and
reloads everything; each part loads in an exclusive worker of its own, so the headline figures
paint first and a change cancels what the previous view still had under way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ItemGrid, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from ot.api.stats import QueryAnswer, StatsQuery
from ot.client import ClientError
from ot.tui.calls import app_of, ask_stats, client_of, may_save_files
from ot.tui.countries import country_name
from ot.tui.export import Figure, export_view
from ot.tui.screens.period_picker import NAMED_PERIODS, PeriodPickerScreen
from ot.tui.view import (
    COMPARISON_LABELS,
    PERIOD_LABELS,
    Comparison,
    DashboardView,
    Filter,
    Period,
    next_comparison,
    period_of,
    today_in,
)
from ot.tui.widgets.breakdown import Breakdown, PanelSpec
from ot.tui.widgets.chart import VisitorsChart
from ot.tui.widgets.filter_bar import FilterBar
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.kpi import KPI_METRICS, KpiStrip

REALTIME_SECONDS = 15.0
# The parts of the screen besides its panels, and its first layout, that the panels below it
# wait for.
KPIS, CHART, LAYOUT = "kpis", "chart", "layout"
PANEL_MIN_WIDTH = 48
GUTTER = 1  # between two columns of panels
FIRST_ROW = 2  # the lines of a panel above its first row: the border and the header
STALE = "-stale"  # figures of the previous view, shown dimmed until the new ones land
PAGEVIEW = "pageview"
OUTBOUND_LINK = "Outbound Link: Click"
FILE_DOWNLOAD = "File Download"
NOT_FOUND = "404"
# Plausible's own events are shown in panels of their own, not among the custom events.
BUILT_IN_EVENTS = (PAGEVIEW, OUTBOUND_LINK, FILE_DOWNLOAD, NOT_FOUND, "engagement")
# The Stats API cannot list a site's property keys: the properties panel tries these (the
# trackers' own and the most common custom ones) and shows those an event carries.
CANDIDATE_PROP_KEYS = (
    "url", "path", "category", "label", "method", "plan", "variant", "author", "position",
    "logged_in", "amount", "currency", "form", "button",
)  # fmt: skip
NO_PROPERTY = "(none)"
PROBES_AT_ONCE = 2
NOT_SET = "(not set)"


def event_is(name: str) -> tuple[Any, ...]:
    return ("is", "event:name", [name])


PANELS = [
    PanelSpec("pages", "Top pages", "event:page", "Page"),
    PanelSpec("entry", "Entry pages", "visit:entry_page", "Page"),
    PanelSpec("exit", "Exit pages", "visit:exit_page", "Page"),
    PanelSpec("sources", "Sources", "visit:source", "Source"),
    PanelSpec("referrers", "Referrers", "visit:referrer", "Referrer"),
    PanelSpec(
        "campaigns",
        "UTM campaigns",
        "visit:utm_campaign",
        "Campaign",
        left_out=(NOT_SET,),  # only visits that carry the tag, as Plausible lists them
    ),
    PanelSpec(
        "mediums",
        "UTM mediums",
        "visit:utm_medium",
        "Medium",
        left_out=(NOT_SET,),  # only visits that carry the tag, as Plausible lists them
    ),
    PanelSpec(
        "utm-sources",
        "UTM sources",
        "visit:utm_source",
        "Source",
        left_out=(NOT_SET,),  # only visits that carry the tag, as Plausible lists them
    ),
    PanelSpec("countries", "Countries", "visit:country", "Country", names=country_name),
    PanelSpec("browsers", "Browsers", "visit:browser", "Browser"),
    PanelSpec("os", "Operating systems", "visit:os", "System"),
    PanelSpec("devices", "Devices", "visit:device", "Device"),
    PanelSpec(
        "goals", "Goals", "event:goal", "Goal", metrics=("visitors", "events", "conversion_rate")
    ),
    PanelSpec(
        "events",
        "Custom events",
        "event:name",
        "Event",
        metrics=("visitors", "events"),
        left_out=BUILT_IN_EVENTS,
    ),
    PanelSpec(
        "outbound",
        "Outbound links",
        "event:props:url",
        "URL",
        metrics=("visitors", "events"),
        extra_filters=(event_is(OUTBOUND_LINK),),
    ),
    PanelSpec(
        "downloads",
        "File downloads",
        "event:props:url",
        "File",
        metrics=("visitors", "events"),
        extra_filters=(event_is(FILE_DOWNLOAD),),
    ),
    PanelSpec(
        "not-found",
        "404 pages",
        "event:props:path",
        "Path",
        metrics=("visitors", "events"),
        extra_filters=(event_is(NOT_FOUND),),
    ),
]


def props_spec(event: str | None, key: str | None) -> PanelSpec:
    """The properties panel for one event and one of its property keys."""
    if event is None or key is None:
        title = f"Properties of {event}" if event else "Event properties"
        return PanelSpec("props", title, "event:props:", "Value", metrics=("visitors", "events"))
    return PanelSpec(
        "props",
        f"{event} · {key}",
        f"event:props:{key}",
        key,
        metrics=("visitors", "events"),
        extra_filters=(event_is(event),),
    )


class DashboardScreen(Screen[None]):
    HELP = """# Dashboard

One site's traffic over a period: `1` today, `2` yesterday, `3` 7 days, `4` 30 days, `5` this
month, `6` last month, `7` 6 months, `8` 12 months, or `d` to pick one (or two dates of your
own). The figures at the top compare with the previous period (`c`: a year ago, or none).
Every panel is a list: move with the arrows, **Enter** filters the whole
dashboard by the row (drill down), `z` opens the panel full screen with paging and search.
Filters show above the figures: `x` removes the last one, `X` all of them, or Tab to the filter
bar and remove one with Delete. The properties panel shows the custom event under the cursor
in *Custom events*; `k` shows its next property. On cookieless sites visitors over several days
are the *sum of daily visitors* (visitors cannot be linked from one day to the next).
`e` writes the figures and every panel's rows to `<domain>-<first day>-<last day>.csv` in the
folder `ot tui` was started from."""
    DEFAULT_CSS = """
    DashboardScreen #topbar {
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    DashboardScreen #body {
        height: 1fr;
    }
    DashboardScreen ItemGrid {
        grid-gutter: 0 1;  /* GUTTER */
        grid-rows: 13;  /* a panel's height (see Breakdown) */
        height: auto;
    }
    DashboardScreen .-stale {
        text-opacity: 50%;
    }
    """
    AUTO_FOCUS = "PanelTable"  # the top pages: arrows and Enter work at once
    BINDINGS = [
        Binding("escape,q", "back", "Sites"),
        Binding("d", "pick_period", "Period"),
        Binding("c", "cycle_comparison", "Compare"),
        Binding("x", "remove_last_filter", "Unfilter"),
        Binding("X", "remove_all_filters", "Unfilter all", show=False),
        Binding("e", "export", "Export", tooltip="Export the view to CSV"),
        Binding("z,shift+enter", "expand", "Full panel"),
        Binding("k", "next_property", "Next property", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("s", "settings", "Settings", show=False),
        *[
            Binding(str(number), f"period({number})", PERIOD_LABELS[kind], show=False)
            for number, kind in enumerate(NAMED_PERIODS, start=1)
        ],
    ]

    def __init__(self, view: DashboardView, *, export_folder: Path | None = None) -> None:
        super().__init__()
        self.view = view
        # Set before the header is mounted: a title changed afterwards lays the screen out again.
        self.sub_title = view.domain
        self.export_folder = export_folder  # None: the working folder
        self.realtime: int | None = None
        self.kpi_answer: QueryAnswer | None = None
        self.shown_view: DashboardView | None = None  # the view the headline figures show
        self.failure_told: DashboardView | None = None  # the view whose panels' refusal was told
        self.props_event: str | None = None
        self.props_keys: dict[str, list[str]] = {}
        self.props_key: str | None = None
        # The parts on screen the view still waits for (the first reload sets the panels).
        self.awaited: set[Breakdown | str] = {KPIS, CHART}
        self.below: list[Breakdown] = []  # panels loaded once those on screen have landed

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        yield Static(id="topbar")
        yield FilterBar(id="filters")
        yield KpiStrip(id="kpis")
        with VerticalScroll(id="body", can_focus=False):
            yield VisitorsChart(id="chart")
            with ItemGrid(min_column_width=PANEL_MIN_WIDTH, id="panels"):
                for spec in PANELS[:14]:
                    yield Breakdown(spec)
                yield Breakdown(props_spec(None, None))
                for spec in PANELS[14:]:
                    yield Breakdown(spec)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_interval(REALTIME_SECONDS, self.load_realtime)
        self.load_realtime()
        self.reload()

    def _focus_first_panel(self) -> None:
        first = self.query(Breakdown).first()
        first.table.focus(scroll_visible=False)

    # --- loading ---------------------------------------------------------------------------

    @property
    def panels(self) -> list[Breakdown]:
        return list(self.query(Breakdown))

    def set_view(self, view: DashboardView) -> None:
        self.view = view
        self.reload()

    def reload(self) -> None:
        """Load the view: the headline figures, the chart and the panels on screen first, the
        panels below them once those have landed (two cores answer eight queries sooner than
        twenty, and the user sees the screen complete that much sooner)."""
        self.show_topbar()
        self.query_one(FilterBar).show(self.view.filters)
        self.awaited = {KPIS, CHART}
        self.below = self.panels
        for panel in self.below:
            panel.mark_loading()  # what they show is the previous view's until loaded
        self.load_kpis(self.view)
        self.load_chart(self.view)
        if self.query_one("#panels").region.area:
            self._load_at_once(self.panels_on_screen())
        else:
            # Not laid out yet (the first load): the top two rows of panels are on screen at
            # any size; which others are is known once laid out, a few hundred milliseconds
            # the server spends on the first ones meanwhile.
            self._load_at_once(self.panels[: 2 * self._columns()])
            self.awaited.add(LAYOUT)
            self.call_after_refresh(self._laid_out, self.view)

    def _laid_out(self, view: DashboardView) -> None:
        if view == self.view:
            self._load_at_once(self.panels_on_screen())
            self._landed(LAYOUT, view)

    def _columns(self) -> int:
        """The panels' columns at the app's width, as the grid lays them out."""
        return max(1, (self.app.size.width + GUTTER) // (PANEL_MIN_WIDTH + GUTTER))

    def panels_on_screen(self) -> list[Breakdown]:
        """The panels of which a row of figures shows (below the border and the header)."""
        shown = self.query_one("#body").region
        return [
            panel for panel in self.panels if panel.region.intersection(shown).height > FIRST_ROW
        ]

    def _load_at_once(self, panels: list[Breakdown]) -> None:
        """Load these panels now (those not loading already), and wait for them before the
        panels below."""
        for panel in panels:
            if panel in self.below:
                self.below.remove(panel)
                self.awaited.add(panel)
                self._load_panel(panel)

    def _load_panel(self, panel: Breakdown) -> None:
        if panel.spec.key == "props":
            self.load_props(self.view)
        else:
            panel.load(self.view)

    def _landed(self, part: Breakdown | str, view: DashboardView) -> None:
        """A part of the screen shows `view` (or why it cannot): once all have, the panels
        below the screen load."""
        if view != self.view or part not in self.awaited:
            return
        self.awaited.discard(part)
        if not self.awaited:
            below, self.below = self.below, []
            for panel in below:
                self._load_panel(panel)

    @on(Breakdown.Loaded)
    def _panel_loaded(self, event: Breakdown.Loaded) -> None:
        self._landed(event.breakdown, event.view)

    @property
    def painted(self) -> bool:
        """Whether every part on screen shows the view (or why it cannot): the headline
        figures, the chart and the panels (those below the screen may still be loading)."""
        return not self.awaited

    def show_topbar(self) -> None:
        period = self.view.period
        days = f"{period.first_day.isoformat()} to {period.last_day.isoformat()}"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.view.domain, style="bold")
        if self.realtime is not None:  # before the dates: still seen at 80 columns
            text.append("  ●", style="green")
            text.append(f" {self.realtime} current visitor{'s' if self.realtime != 1 else ''}")
        text.append(f"  ·  {period.label}", style="bold")
        if period.days > 1:
            text.append(f" ({days})", style="dim")
        text.append(f"  ·  {COMPARISON_LABELS[self.view.comparison]}", style="dim")
        self.query_one("#topbar", Static).update(text, layout=False)  # one line, whatever it says

    async def ask(self, view: DashboardView, query: StatsQuery, busy: Widget) -> QueryAnswer | None:
        """The answer, or None when refused (told once per view, with the panels' refusals).
        Meanwhile `busy` shows the previous view's figures dimmed, as the panels do, not with
        Textual's loading indicator: mounting one and removing it costs two layouts of the
        whole screen each time."""
        busy.add_class(STALE)
        try:
            return await ask_stats(self, query)
        except ClientError as error:
            self.tell_once(view, error)
            return None
        finally:
            busy.remove_class(STALE)

    def tell_once(self, view: DashboardView, error: ClientError) -> None:
        # Nineteen parts refused for one reason (a comparison the server does not know, an
        # unreachable server) are one notification.
        if view == self.view and self.failure_told is not self.view and self.is_attached:
            self.failure_told = self.view
            app_of(self).report(error)

    @work(exclusive=True, group="kpis")
    async def load_kpis(self, view: DashboardView) -> None:
        try:
            await self._show_kpis(view)
        finally:  # answered, refused or cancelled by a newer view
            self._landed(KPIS, view)

    async def _show_kpis(self, view: DashboardView) -> None:
        strip = self.query_one(KpiStrip)
        answer = await self.ask(view, view.query(KPI_METRICS), strip)
        if answer is None or not answer.results or not self.is_attached:
            return
        self.kpi_answer = answer
        row = answer.results[0]
        changes = row.comparison.change if row.comparison is not None else None
        try:
            strip.show(row.metrics, changes, visitors_are_daily_sums=view.visitors_are_daily_sums)
        except NoMatches:
            return  # the dashboard closed as the answer landed: its parts are gone
        self.shown_view = view

    @work(exclusive=True, group="chart")
    async def load_chart(self, view: DashboardView) -> None:
        try:
            await self._show_chart(view)
        finally:
            self._landed(CHART, view)

    async def _show_chart(self, view: DashboardView) -> None:
        chart = self.query_one(VisitorsChart)
        time_dimension = view.period.time_dimension
        query = view.query(["visitors", "pageviews"], [time_dimension], time_labels=True)
        answer = await self.ask(view, query, chart)
        if answer is None or not self.is_attached:
            return
        labels = [str(label) for label in answer.meta.get("time_labels") or []]
        by_label = {str(row.dimensions[0]): row for row in answer.results}
        labels = labels or sorted(by_label)
        visitors, pageviews, compared = [], [], []
        for label in labels:
            row = by_label.get(label)
            visitors.append(row.metrics[0] if row else 0)
            pageviews.append(row.metrics[1] if row else 0)
            then = row.comparison if row is not None else None
            compared.append(then.metrics[0] if then is not None else 0)
        comparing = view.comparison is not Comparison.NONE
        if chart.is_attached:  # the dashboard may have closed as the answer landed
            chart.show(labels, time_dimension, visitors, pageviews, compared if comparing else None)

    @work(exclusive=True, group="realtime")
    async def load_realtime(self) -> None:
        # Quietly: a failed refresh keeps the last figure, and the next one tries again.
        try:
            self.realtime = await client_of(self).realtime_visitors(self.view.domain)
        except ClientError:  # the figure is a nicety: the panels say what failed
            return
        if self.is_attached:
            self.show_topbar()

    @work(exclusive=True, group="props")
    async def load_props(self, view: DashboardView) -> None:
        """The properties of the event under the cursor in *Custom events* (or the one the
        dashboard is filtered by): which keys it carries, then the chosen key's values."""
        panel = self.query_one("#panel-props", Breakdown)
        event = self.props_event or next(
            (f.value for f in view.filters if f.dimension == "event:name"), None
        )
        if event is None:
            panel.set_spec(props_spec(None, None))
            panel.workers.cancel_group(panel, "load")  # an older event's answer must not land
            panel.show_nothing(view, "Move to Custom events: its event's properties show here.")
            return
        if event not in self.props_keys:
            self.props_keys[event] = await self._prop_keys(view, event)
        if not self.is_attached:
            return
        keys = self.props_keys[event]
        if self.props_key not in keys:
            self.props_key = keys[0] if keys else None
        panel.set_spec(props_spec(event, self.props_key))
        if self.props_key is None:
            panel.workers.cancel_group(panel, "load")
            panel.show_nothing(view, f"{event} has no properties we know of.")
        else:
            panel.load(view)

    async def _prop_keys(self, view: DashboardView, event: str) -> list[str]:
        # Fewer at a time than the app's turns: the panels' own queries come first.
        turns = asyncio.Semaphore(PROBES_AT_ONCE)

        async def carries(key: str) -> bool:
            query = view.query(
                ["events"],
                [f"event:props:{key}"],
                extra_filters=[list(event_is(event))],
                compare=False,
                limit=2,
            )
            try:
                async with turns:
                    answer = await ask_stats(self, query)
            except ClientError:  # quietly: the properties panel's own query says what failed
                return False
            return any(row.dimensions[0] != NO_PROPERTY for row in answer.results)

        found = await asyncio.gather(*(carries(key) for key in CANDIDATE_PROP_KEYS))
        return [key for key, has in zip(CANDIDATE_PROP_KEYS, found, strict=True) if has]

    @on(Breakdown.Highlighted)
    def _follow_event(self, event: Breakdown.Highlighted) -> None:
        if event.breakdown.spec.key == "events" and event.value != self.props_event:
            self.props_event = event.value
            self.props_key = None
            self.load_props(self.view)

    @on(Breakdown.Failed)
    def _panel_failed(self, event: Breakdown.Failed) -> None:
        self.tell_once(event.view, event.error)

    @on(Breakdown.Picked)
    def _drill_down(self, event: Breakdown.Picked) -> None:
        self.set_view(self.view.with_filter(event.filter))

    @on(FilterBar.Removed)
    def _unfilter(self, event: FilterBar.Removed) -> None:
        self.set_view(self.view.without_filter(event.filter))
        if not self.view.filters:
            self._focus_first_panel()

    # --- keys ------------------------------------------------------------------------------

    def today(self) -> Any:
        return today_in(self.view.timezone, app_of(self).now())

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_period(self, number: int) -> None:
        self.set_view(self.view.with_period(period_of(NAMED_PERIODS[number - 1], self.today())))

    def action_pick_period(self) -> None:
        def chosen(period: Period | None) -> None:
            if period is not None:
                self.set_view(self.view.with_period(period))

        self.app.push_screen(PeriodPickerScreen(self.view.period, self.today()), chosen)

    def action_cycle_comparison(self) -> None:
        self.set_view(self.view.with_comparison(next_comparison(self.view.comparison)))

    def action_remove_last_filter(self) -> None:
        if self.view.filters:
            self.set_view(self.view.without_filter(self.view.filters[-1]))

    def action_remove_all_filters(self) -> None:
        if self.view.filters:
            self.set_view(self.view.without_filters())

    def action_reload(self) -> None:
        self.reload()
        self.load_realtime()

    def action_next_property(self) -> None:
        keys = self.props_keys.get(self.props_event or "", [])
        if len(keys) > 1 and self.props_key in keys:
            self.props_key = keys[(keys.index(self.props_key) + 1) % len(keys)]
            self.load_props(self.view)

    def action_expand(self) -> None:
        panel = next((p for p in self.panels if p.table.has_focus), None)
        if panel is None:
            self.notify("Move to a panel first (Tab), then press z.", title="Full panel")
            return
        from ot.tui.screens.panel import PanelScreen

        spec = panel.spec

        def picked(chosen: Filter | None) -> None:
            if chosen is not None:
                self.set_view(self.view.with_filter(chosen))

        screen = PanelScreen(
            self.view, spec.dimension, spec.title, list(spec.metrics), spec.paged_filters() or None
        )
        self.app.push_screen(screen, picked)

    def action_settings(self) -> None:
        from ot.tui.screens.site_settings import SiteSettingsScreen

        self.app.push_screen(SiteSettingsScreen(self.view.site_id))

    def action_export(self) -> None:
        if not may_save_files(self):
            return
        figures: list[Figure] = []
        for label, metric, value, change in self.query_one(KpiStrip).figures():
            figures.append(Figure("KPI", label, metric, value, change))
        for panel in self.panels:
            for name, metric, value, change in panel.figures():
                figures.append(Figure(panel.spec.title, name, metric, value, change))
        period = self.view.period
        try:
            path = export_view(
                self.view.domain,
                period.first_day.isoformat(),
                period.last_day.isoformat(),
                figures,
                folder=self.export_folder,
            )
        except OSError as problem:
            self.notify(f"Could not write the file: {problem}", title="Export", severity="error")
            return
        self.notify(str(path), title="Exported to")
