"""A site's dashboard in `ot tui`, on real stored hits: its headline figures equal the Stats API's
answer, its panels show pages, sources, campaigns, countries, goals, events with their
properties, outbound links, downloads and missing pages; the period and the comparison change;
a row drills down into a filter shown as a breadcrumb and removed again; the view exports to CSV;
the realtime figure shows; bad dates are refused in words; it works at 80x24."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from textual.pilot import Pilot
from textual.widgets import DataTable

from ot.api.stats import QueryAnswer, StatsQuery
from ot.client import ClientError, CredentialStore
from ot.clock import ManualClock
from ot.config import Settings
from ot.csv_cells import FORMULA_STARTS
from ot.tui.app import OtApp
from ot.tui.export import FORMULA_STARTS as TUI_FORMULA_STARTS
from ot.tui.export import save_csv
from ot.tui.screens.dashboard import STALE, DashboardScreen
from ot.tui.screens.panel import PanelScreen
from ot.tui.screens.period_picker import PeriodPickerScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.view import (
    Comparison,
    DashboardView,
    Filter,
    PeriodKind,
    format_change,
    format_duration,
    format_metric,
)
from ot.tui.widgets.breakdown import Breakdown
from ot.tui.widgets.chart import VisitorsChart
from ot.tui.widgets.kpi import KPI_METRICS, KpiStrip
from tests.tui_dashboard_support import DOMAIN, logged_in_client, open_shop
from tests.tui_support import (
    LARGE,
    SMALL,
    TUI,
    count_layouts,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI


def dashboard_of(app: OtApp) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


def settled(screen: DashboardScreen) -> bool:
    """Every part of the dashboard shows the screen's current view."""
    return (
        screen.kpi_answer is not None
        and screen.shown_view == screen.view
        and all(panel.loaded_view == screen.view for panel in screen.panels)
    )


async def open_dashboard(pilot: Pilot[None], app: OtApp) -> DashboardScreen:
    await wait_for_screen(pilot, SitesScreen)
    await wait_for(pilot, lambda: DOMAIN in screen_text(app), "the site in the list")
    await pilot.press("enter")
    await wait_for_screen(pilot, DashboardScreen)
    screen = dashboard_of(app)
    await wait_for(pilot, lambda: settled(screen), "the dashboard's figures and panels")
    return screen


async def kpis_of(
    client: TestClient, credentials: CredentialStore, view: DashboardView
) -> list[object]:
    """What the Stats API answers for the view's headline figures."""
    async with await logged_in_client(client, credentials) as ada:
        answer = await ada.query(view.query(KPI_METRICS))
    return answer.results[0].metrics


def panel(screen: DashboardScreen, key: str) -> Breakdown:
    return screen.query_one(f"#panel-{key}", Breakdown)


def values(screen: DashboardScreen, key: str) -> list[str]:
    return [str(row.dimensions[0]) for row in panel(screen, key).rows]


@pytest.fixture
async def shop_id(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> int:
    """Ada's shop.example (cookie visitors) with yesterday's and today's traffic."""
    return await open_shop(client, settings, tui_credentials, clock, ada)


# --- figures -----------------------------------------------------------------------------------


def test_figures_read_with_their_units_and_changes_read_without_colour() -> None:
    assert format_metric("visitors", 1234) == "1.2k"
    assert format_metric("visitors", 42) == "42"
    assert format_metric("bounce_rate", 42) == "42 %"
    assert format_metric("visit_duration", 125) == "2m 05s"
    assert format_duration(3725) == "1h 02m"
    assert format_metric("views_per_visit", 1.5) == "1.5"
    assert format_change("visitors", 12) == "▲ 12 %"
    assert format_change("visitors", -3) == "▼ 3 %"
    assert format_change("bounce_rate", 5) == "▲ 5 pt"
    assert format_change("visitors", None) == ""


def test_the_csv_cells_follow_the_cores_rule_against_formulas(tmp_path: Path) -> None:
    assert TUI_FORMULA_STARTS == FORMULA_STARTS
    path = save_csv(
        ["name", "visitors"],
        [["=HYPERLINK(1)", 3], ["-5", -5], ["/pricing", 2]],
        name="shop.example pages",
        folder=tmp_path,
    )
    assert path == tmp_path / "shop.example_pages.csv"
    with path.open() as written:
        assert list(csv.reader(written)) == [
            ["name", "visitors"],
            ["'=HYPERLINK(1)", "3"],
            ["'-5", "-5"],
            ["/pricing", "2"],
        ]


# --- the dashboard -----------------------------------------------------------------------------


async def test_the_dashboard_shows_the_stats_apis_figures_and_every_panel(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        assert screen.view.period.kind is PeriodKind.LAST_30_DAYS
        assert screen.kpi_answer is not None
        expected = await kpis_of(client, tui_credentials, screen.view)
        assert screen.kpi_answer.results[0].metrics == expected
        assert expected[0] == 4  # Alice and Bob yesterday, Carol and Dan today
        text = screen_text(app)
        assert "Unique visitors" in text and "Bounce rate" in text
        assert format_metric("visit_duration", expected[5]) in text

        assert values(screen, "pages")[:2] == ["/pricing", "/"] or "/pricing" in values(
            screen, "pages"
        )
        assert {"Google", "Direct / None"} <= set(values(screen, "sources"))
        assert values(screen, "campaigns") == ["spring"]
        countries = panel(screen, "countries").table
        shown = [str(countries.get_row_at(row)[0]) for row in range(countries.row_count)]
        assert "United States" in shown
        assert values(screen, "goals") == ["Signup"]
        assert values(screen, "events") == ["Signup"]
        assert values(screen, "outbound") == ["https://partner.example/deal"]
        assert values(screen, "downloads") == ["https://shop.example/a.pdf"]
        assert values(screen, "not-found") == ["/missing"]
        # The properties panel follows the custom event under the user's cursor: Signup's plans.
        assert values(screen, "props") == []  # nothing asked before the user goes there
        panel(screen, "events").table.focus()
        await wait_for(
            pilot,
            lambda: sorted(values(screen, "props")) == ["free", "pro"],
            "Signup's properties",
        )
        assert panel(screen, "props").spec.dimension == "event:props:plan"
        assert not [told for told in notifications(app) if "rror" in told]


async def test_the_panels_on_screen_load_first_and_those_below_once_they_have_landed(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    calls: list[tuple[str, str]] = []  # ("asked" or "answered", the panel's dimension)
    send = app.client.query_many

    async def recorded(
        queries: Sequence[StatsQuery],
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        dimensions = [query.dimensions[0] if query.dimensions else "" for query in queries]
        calls.extend(("asked", dimension) for dimension in dimensions)
        async for index, outcome in send(queries):
            calls.append(("answered", dimensions[index]))
            yield index, outcome

    app.client.query_many = recorded  # type: ignore[method-assign]
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        on_screen = {panel.spec.dimension for panel in screen.panels_on_screen()}
        below = {panel.spec.dimension for panel in screen.panels} - on_screen
        # 160x48: three rows of three panels under the figures and the chart.
        assert len(on_screen) == 9 and "event:page" in on_screen and "event:goal" in below
        assert screen.painted
    last_on_screen = max(
        i for i, (what, dim) in enumerate(calls) if what == "answered" and dim in on_screen
    )
    first_below = min(i for i, (what, dim) in enumerate(calls) if what == "asked" and dim in below)
    assert last_on_screen < first_below
    # Every panel loaded (the properties panel asks nothing until the user picks an event).
    assert {dim for what, dim in calls if what == "answered"} >= on_screen | below - {
        "event:props:"
    }


async def test_a_views_queries_go_to_the_server_together_and_none_is_refused(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    # A request per panel cost the server an authentication and a site look-up each, and the
    # app round trips in waves; the server runs a request's queries a few at a time, so a large
    # site's heavy ones never wait past its budget (tests/test_stats_batch_api.py).
    app = tui_app(client, tui_credentials, clock)
    requests: list[int] = []  # the queries of each request
    refused: list[ClientError] = []
    send = app.client.query_many

    async def counted(
        queries: Sequence[StatsQuery],
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        requests.append(len(queries))
        async for index, outcome in send(queries):
            if isinstance(outcome, ClientError):
                refused.append(outcome)
            yield index, outcome

    app.client.query_many = counted  # type: ignore[method-assign]
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        requests.clear()
        await pilot.press("enter")  # a filter: every panel again
        await wait_for(pilot, lambda: settled(screen) and screen.view.filters, "the filter")
    # The panels on screen together, then those below them together (each once the ones
    # above have landed: see the test before).
    assert len(requests) == 2 and sum(requests) >= 15, requests
    assert not refused


async def test_while_a_new_view_loads_the_previous_figures_show_dimmed_and_panels_say_so(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    held = asyncio.Event()
    held.set()
    send = app.client.query_many

    async def slow(
        queries: Sequence[StatsQuery],
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        await held.wait()  # a server slow to answer
        async for item in send(queries):
            yield item

    app.client.query_many = slow  # type: ignore[method-assign]
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        strip, chart = screen.query_one(KpiStrip), screen.query_one(VisitorsChart)
        assert not strip.has_class(STALE) and not chart.has_class(STALE)
        held.clear()
        await pilot.press("3")  # the last 7 days

        def loading() -> bool:
            return strip.has_class(STALE) and chart.has_class(STALE)

        await wait_for(pilot, loading, "the figures and the chart dimmed")
        assert panel(screen, "pages").border_subtitle == "loading…"
        assert strip.styles.text_opacity < 1 and chart.styles.text_opacity < 1  # dimmed
        held.set()
        await wait_for(pilot, lambda: settled(screen), "the new view")
        assert not strip.has_class(STALE) and not chart.has_class(STALE)
        assert strip.styles.text_opacity == 1 and chart.styles.text_opacity == 1
        assert panel(screen, "pages").border_subtitle != "loading…"


async def test_the_realtime_figure_counts_todays_visitors_of_the_last_minutes(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        await wait_for(pilot, lambda: screen.realtime is not None, "the realtime figure")
        assert screen.realtime == 2
        assert "2 current visitors" in screen_text(app)


async def test_a_number_key_changes_the_period_and_c_cycles_the_comparison(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        await pilot.press("1")
        await wait_for(pilot, lambda: settled(screen), "today's figures")
        assert screen.view.period.kind is PeriodKind.TODAY
        assert screen.kpi_answer is not None
        today = screen.kpi_answer.results[0].metrics
        assert today == await kpis_of(client, tui_credentials, screen.view)
        assert today[0] == 2
        assert "Today" in screen_text(app)
        # Against yesterday's 2 visitors: no change, said with "=" as well as colour.
        assert "vs previous period" in screen_text(app)
        assert "= 0 %" in screen_text(app)

        await pilot.press("c")  # a year ago
        assert screen.view.comparison is Comparison.YEAR_OVER_YEAR
        await wait_for(
            pilot,
            lambda: all(part.loaded_view == screen.view for part in screen.panels),
            "the panels compared with a year ago",
        )
        # Whether the server compares with a year ago or refuses to, it is said at most once.
        assert len(notifications(app)) <= 1
        await pilot.press("c")  # none
        await wait_for(pilot, lambda: settled(screen), "the figures without comparison")
        assert screen.view.comparison is Comparison.NONE
        assert "no comparison" in screen_text(app)
        assert "= 0 %" not in screen_text(app)


async def test_a_new_period_repaints_the_figures_without_laying_the_screen_out(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        await pilot.pause()
        layouts = count_layouts(screen)
        for key in "132":  # today, last 7 days, yesterday: each a new view with new figures
            await pilot.press(key)
            await wait_for(pilot, lambda: settled(screen), "the new period's figures")
            await pilot.pause()
        assert layouts == []  # every part keeps its size: nothing to lay out


async def test_enter_on_a_page_filters_the_dashboard_and_x_removes_the_filter(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        pages = panel(screen, "pages")
        pages.table.focus()
        row = values(screen, "pages").index("/pricing")
        pages.table.move_cursor(row=row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: settled(screen), "the filtered dashboard")
        assert screen.view.filters == (Filter("event:page", "/pricing"),)
        assert "Page is /pricing" in screen_text(app)
        assert screen.kpi_answer is not None
        filtered = screen.kpi_answer.results[0].metrics
        assert filtered == await kpis_of(client, tui_credentials, screen.view)
        assert filtered[0] == 2  # Carol and Dan saw /pricing
        assert values(screen, "pages") == ["/pricing"] or "/pricing" in values(screen, "pages")

        await pilot.press("x")
        await wait_for(pilot, lambda: settled(screen), "the unfiltered dashboard")
        assert screen.view.filters == ()
        assert "Page is /pricing" not in screen_text(app)
        assert screen.kpi_answer.results[0].metrics[0] == 4


async def test_a_filter_is_removed_from_the_breadcrumb_with_delete(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        screen.set_view(
            screen.view.with_filter(Filter("visit:country", "US")).with_filter(
                Filter("event:page", "/pricing")
            )
        )
        await wait_for(pilot, lambda: settled(screen), "the filtered dashboard")
        shown = screen_text(app)
        assert "Country is United States" in shown and "Page is /pricing" in shown
        screen.query_one("#filters").focus()
        await pilot.press("left", "delete")
        await wait_for(
            pilot,
            lambda: screen.view.filters == (Filter("event:page", "/pricing"),),
            "one filter left",
        )
        await pilot.press("X")
        await wait_for(pilot, lambda: screen.view.filters == (), "no filter left")


async def test_e_exports_the_figures_and_every_panels_rows_to_csv(
    client: TestClient,
    shop_id: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        await pilot.press("e")
        period = screen.view.period
        path = tmp_path / f"{DOMAIN}-{period.first_day}-{period.last_day}.csv"
        await wait_for(pilot, path.exists, "the CSV file")
        assert any(str(path) in told for told in notifications(app))
    with path.open() as written:
        rows = list(csv.reader(written))
    assert rows[0] == ["section", "name", "metric", "value", "change"]
    assert rows[1][:4] == ["KPI", "Unique visitors", "visitors", "4"]
    assert [row[0] for row in rows[1:7]] == ["KPI"] * 6
    sections = {row[0] for row in rows}
    assert {"Top pages", "Countries", "Goals", "Outbound links", "404 pages"} <= sections
    assert ["Top pages", "/pricing", "visitors", "2"] in [row[:4] for row in rows]


async def test_a_custom_period_takes_two_dates_and_refuses_anything_else(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        before = screen.view
        await pilot.press("d")
        await wait_for_screen(pilot, PeriodPickerScreen)
        picker = app.screen
        first = picker.query_one("#first")
        first.focus()
        first.value = "2026-13-01"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: "is not a date" in screen_text(app), "the refusal")
        assert "write it as 2026-05-31" in screen_text(app)
        last = picker.query_one("#last")
        first.value = "2026-05-10"  # type: ignore[attr-defined]
        last.value = "2026-05-01"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: "ends" in screen_text(app), "the second refusal")
        assert "before it starts" in screen_text(app)
        await pilot.press("escape")
        await wait_for_screen(pilot, DashboardScreen)
        assert screen.view == before  # nothing changed

        day = clock.now().date().isoformat()
        await pilot.press("d")
        await wait_for_screen(pilot, PeriodPickerScreen)
        app.screen.query_one("#first").value = day  # type: ignore[attr-defined]
        app.screen.query_one("#last").value = day  # type: ignore[attr-defined]
        app.screen.query_one("#last").focus()
        await pilot.press("enter")
        await wait_for_screen(pilot, DashboardScreen)
        await wait_for(pilot, lambda: settled(screen), "the custom period's figures")
        assert screen.view.period.kind is PeriodKind.CUSTOM
        assert screen.kpi_answer is not None
        assert screen.kpi_answer.results[0].metrics[0] == 2


async def test_at_80_by_24_the_figures_show_and_tab_walks_the_panels(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_dashboard(pilot, app)
        text = screen_text(app)
        assert "Visitors" in text and "Pageviews" in text and "Duration" in text
        assert "Top pages" in text
        await pilot.press("tab", "tab", "tab", "right", "down", "left")
        assert app.is_running
        focused = app.focused
        assert focused is not None and isinstance(focused.parent, Breakdown)
        # The focused panel is scrolled into view.
        assert focused.parent.border_title in screen_text(app)


async def test_a_cookieless_site_labels_its_visitors_a_sum_of_daily_visitors(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    await open_shop(client, settings, tui_credentials, clock, ada, visitor_mode="cookieless")
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        assert screen.view.visitors_are_daily_sums
        assert "sum of daily visitors" in screen_text(app)
        await pilot.press("1")  # one day: unique visitors again
        await wait_for(pilot, lambda: settled(screen), "today's figures")
        assert "Unique visitors" in screen_text(app)


async def test_z_opens_the_focused_panel_full_screen(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_dashboard(pilot, app)
        panel(screen, "pages").table.focus()
        await pilot.press("z")
        await wait_for_screen(pilot, PanelScreen)
        # Its rows, not any "/" on screen: the subtitle's server address has one from the start.
        rows = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: rows.row_count > 0 and rows.has_focus, "the pages listed")
        await pilot.press("enter")  # the first page picked: the dashboard is filtered by it
        await wait_for_screen(pilot, DashboardScreen)
        assert app.screen is screen
        assert [active.dimension for active in screen.view.filters] == ["event:page"]


async def test_the_full_campaigns_panel_lists_tagged_visits_alone_as_the_dashboards_does(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        assert values(screen, "campaigns") == ["spring"]  # "(not set)" left out of the rows
        panel(screen, "campaigns").table.focus()
        await pilot.press("z")
        await wait_for_screen(pilot, PanelScreen)
        full = app.screen
        assert isinstance(full, PanelScreen)
        await wait_for(pilot, lambda: full.page is not None, "the campaigns")
        assert full.page is not None
        assert full.page.values == ["spring"] and full.page.total_rows == 1


async def test_a_goal_an_event_a_property_a_link_and_a_country_drill_down_without_a_refusal(
    client: TestClient, shop_id: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app = tui_app(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_dashboard(pilot, app)
        unfiltered = screen.view
        # The filters a page row's test does not cover: event-level ones and a visit's country.
        for key in ("goals", "events", "props", "outbound", "countries"):
            breakdown = panel(screen, key)
            assert breakdown.rows, key
            breakdown.table.focus()
            breakdown.table.move_cursor(row=0)
            await pilot.press("enter")
            await wait_for(pilot, lambda: settled(screen), f"{breakdown.spec.title} drilled into")
            assert len(screen.view.filters) == 1, breakdown.spec.title
            assert not notifications(app), (breakdown.spec.title, notifications(app))
            screen.set_view(unfiltered)
            await wait_for(pilot, lambda: settled(screen), "the unfiltered dashboard")
