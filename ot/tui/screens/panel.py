"""One dashboard panel full-screen: the whole breakdown of one dimension, 50 rows a page, searched
on the server (so a search finds rows on every page), exported whole to CSV; picking a row
answers the filter it sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from ot.api.stats import QueryAnswer, StatsQuery
from ot.tui.calls import ask_stats, attempt, may_save_files
from ot.tui.export import save_csv
from ot.tui.view import DashboardView, Filter
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.panel_cells import bar, formatted, metric_label

PAGE_SIZE = 50
# The API's largest page: an export reads the breakdown in as few calls as it can.
EXPORT_PAGE_SIZE = 10_000


@dataclass(frozen=True)
class Page:
    offset: int
    values: list[str]
    metrics: list[list[Any]]
    total_rows: int


class PanelScreen(Screen[Filter | None]):
    """Dismissed with the filter of the row picked (enter), or None (esc)."""

    HELP = """# A panel, full-screen

Every row of one breakdown of the dashboard's period and filters, 50 to a page.

- **enter** filters the dashboard on the row under the cursor and goes back to it.
- **n** / **PgDn** and **p** / **PgUp** turn the pages.
- **/** searches the whole breakdown (not only this page) for rows containing the text, in any
  case; an empty search shows every row again.
- **e** writes every row (all pages) to a CSV file in the folder `ot tui` runs in.
"""
    AUTO_FOCUS = "#panel-rows"  # not the search field, hidden until `/`
    DEFAULT_CSS = """
    PanelScreen #panel-heading {
        height: 1;
    }
    PanelScreen #panel-search {
        display: none;
    }
    PanelScreen #panel-search.searching {
        display: block;
    }
    PanelScreen #panel-rows {
        height: 1fr;
    }
    PanelScreen #panel-status {
        height: 1;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("n", "next_page", "Next page"),
        Binding("p", "previous_page", "Previous page"),
        # Over the table's own PgDn/PgUp (which scroll within the page): here they turn pages.
        Binding("pagedown", "next_page", "Next page", show=False, priority=True),
        Binding("pageup", "previous_page", "Previous page", show=False, priority=True),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("e", "export", "Export"),
    ]

    class Loaded(Message):
        """A page of rows came in."""

        def __init__(self, page: Page) -> None:
            super().__init__()
            self.page = page

    def __init__(
        self,
        view: DashboardView,
        dimension: str,
        title: str,
        metrics: list[str],
        extra_filters: list[list[Any]] | None = None,
        *,
        export_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        self.dimension = dimension
        self.panel_title = title
        self.metrics = metrics
        self.extra_filters = extra_filters or []
        self.export_folder = export_folder
        self.search_text = ""
        self.row_offset = 0
        self.page: Page | None = None
        # The first row's figure (the largest, rows coming most first): every page's bars are
        # drawn against it, so a bar is as long on page 3 as it would be on page 1.
        self.largest: float = 0

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        yield Static(self._heading(), id="panel-heading", classes="title")
        yield Input(placeholder=f"Search {self.panel_title.lower()} (enter)", id="panel-search")
        yield DataTable(id="panel-rows", cursor_type="row", zebra_stripes=True)
        yield Static("", id="panel-status", classes="hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"{self.view.domain} · {self.panel_title}"
        table = self.query_one(DataTable)
        table.add_column(self.panel_title, key="value")
        for metric in self.metrics:
            table.add_column(Text(metric_label(metric), justify="right"), key=metric)
        table.add_column("", key="bar")
        self.load()

    # --- what it shows --------------------------------------------------------------------

    def _heading(self) -> str:
        filters = ", ".join(f"{f.dimension.split(':')[-1]} is {f.value}" for f in self.view.filters)
        parts = [self.panel_title, self.view.period.label]
        if filters:
            parts.append(filters)
        if self.search_text:
            parts.append(f"containing “{self.search_text}”")
        return " · ".join(parts)

    def _query(self, offset: int, limit: int) -> StatsQuery:
        filters = list(self.extra_filters)
        if self.search_text:
            filters.append(
                ["contains", self.dimension, [self.search_text], {"case_sensitive": False}]
            )
        query = self.view.query(
            self.metrics, [self.dimension], extra_filters=filters, limit=limit, offset=offset,
            compare=False,
        )  # fmt: skip
        # How many rows there are in all, for "rows 51 to 100 of 1,234".
        return query.model_copy(update={"include": {**(query.include or {}), "total_rows": True}})

    @work(exclusive=True, group="panel")
    async def load(self) -> None:
        table = self.query_one(DataTable)
        answer = await attempt(
            self, ask_stats(self, self._query(self.row_offset, PAGE_SIZE)), busy=table
        )
        if answer is not None:
            self.post_message(self.Loaded(_page_of(answer, self.row_offset)))

    def on_panel_screen_loaded(self, message: Loaded) -> None:
        self.page = message.page
        table = self.query_one(DataTable)
        table.clear()
        first = [row[0] for row in message.page.metrics]
        page_largest = max((v for v in first if isinstance(v, int | float)), default=0)
        if message.page.offset == 0 or page_largest > self.largest:
            self.largest = page_largest
        largest = self.largest
        for index, (value, metrics) in enumerate(
            zip(message.page.values, message.page.metrics, strict=True)
        ):
            cells = [
                Text(formatted(name, v), justify="right")
                for name, v in zip(self.metrics, metrics, strict=True)
            ]
            table.add_row(value, *cells, bar(metrics[0], largest), key=str(index))
        self.query_one("#panel-heading", Static).update(self._heading())
        self.query_one("#panel-status", Static).update(self._status())
        if not self.query_one(Input).has_focus:
            table.focus()

    def _status(self) -> str:
        page = self.page
        if page is None:
            return ""
        if not page.values:
            if self.search_text:
                return f"No rows contain “{self.search_text}”. / changes the search."
            return "No rows in this period." if page.offset == 0 else "No rows on this page."
        first, last = page.offset + 1, page.offset + len(page.values)
        return f"rows {first:,}\N{EN DASH}{last:,} of {page.total_rows:,}"

    # --- keys -----------------------------------------------------------------------------

    def action_back(self) -> None:
        search = self.query_one(Input)
        if search.has_focus:  # esc leaves the search field first
            search.remove_class("searching")
            self.query_one(DataTable).focus()
            return
        self.dismiss(None)

    def action_next_page(self) -> None:
        if self.page is not None and self.row_offset + PAGE_SIZE < self.page.total_rows:
            self.row_offset += PAGE_SIZE
            self.load()

    def action_previous_page(self) -> None:
        if self.row_offset > 0:
            self.row_offset = max(0, self.row_offset - PAGE_SIZE)
            self.load()

    def action_search(self) -> None:
        search = self.query_one(Input)
        search.add_class("searching")
        search.focus()

    @on(Input.Submitted, "#panel-search")
    def searched(self, event: Input.Submitted) -> None:
        self.search_text = event.value.strip()
        if not self.search_text:
            event.input.remove_class("searching")
        self.row_offset = 0
        self.query_one(DataTable).focus()
        self.load()

    @on(DataTable.RowSelected, "#panel-rows")
    def picked(self, event: DataTable.RowSelected) -> None:
        if self.page is None or event.row_key.value is None:
            return
        self.dismiss(Filter(self.dimension, self.page.values[int(event.row_key.value)]))

    def action_export(self) -> None:
        if may_save_files(self):
            self.export()

    @work(exclusive=True, group="panel-export")
    async def export(self) -> None:
        """Every row of the breakdown, page after page, into one CSV file."""
        rows: list[list[object]] = []
        offset = 0
        while True:
            query = self._query(offset, EXPORT_PAGE_SIZE)
            answer = await attempt(self, ask_stats(self, query))
            if answer is None:
                return
            page = _page_of(answer, offset)
            rows.extend(
                [value, *metrics] for value, metrics in zip(page.values, page.metrics, strict=True)
            )
            offset += EXPORT_PAGE_SIZE
            if len(page.values) < EXPORT_PAGE_SIZE or offset >= page.total_rows:
                break
        header = [self.dimension, *self.metrics]
        name = f"{self.view.domain}-{self.dimension.replace(':', '-')}-" + "-".join(
            self.view.period.date_range()
        )
        try:
            path = save_csv(header, rows, name=name, folder=self.export_folder)
        except OSError as error:
            self.notify(
                f"Could not write the file: {error}", title="Export failed", severity="error"
            )
            return
        self.notify(f"{len(rows):,} rows written to {path}", title="Exported")


def _page_of(answer: QueryAnswer, offset: int) -> Page:
    values = [str(row.dimensions[0]) for row in answer.results]
    total = answer.meta.get("total_rows")
    return Page(
        offset=offset,
        values=values,
        metrics=[row.metrics for row in answer.results],
        total_rows=total if isinstance(total, int) else offset + len(values),
    )
