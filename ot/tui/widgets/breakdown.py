"""One panel of the dashboard (GoAccess's and Plausible's): the top values of one dimension with
their visitors, a bar, and their share (or their change against the compared period). Enter on a
row filters the whole dashboard by it; the panel loads itself in a worker of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message

from ot.api.stats import QueryAnswer, ResultRow
from ot.client import ClientError
from ot.tui.calls import ask_stats
from ot.tui.view import (
    Comparison,
    DashboardView,
    Filter,
    change_direction,
    format_change,
    format_metric,
)
from ot.tui.widgets.panel_table import Column, PanelTable

ROWS_SHOWN = 10
NOTHING = "Nothing in this period."
NARROW_BAR_WIDTH = 6
WIDE_PANEL = 56  # panels narrower than this get the narrow bar
LAST_WIDTH = 8  # "▲ 100 %"
MIN_NAME_WIDTH = 12
BAR_WIDTH = 10
EIGHTHS = " ▏▎▍▌▋▊▉"
SHORT_METRIC_NAMES = {
    "visitors": "Visitors",
    "events": "Events",
    "pageviews": "Views",
    "conversion_rate": "CR",
    "percentage": "Share",
    "visits": "Visits",
}


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of `fraction` (0 to 1) of `width` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows: `dimension`'s values by `metrics` (the first one ranks them), under
    `extra_filters` (e.g. only outbound-link clicks); `names` turns a value into what is shown.

    `left_out` are values (as answers show them) the panel does not list, such as "(not set)"
    among campaigns: the panel asks for that many rows more and drops them, since a filter
    leaving them out would be answered from the raw tables instead of the rollups (the figures
    of the other rows are the same either way; the full-screen panel, which pages, filters)."""

    key: str
    title: str
    dimension: str
    column: str = "Name"  # the header of the values' column
    metrics: tuple[str, ...] = ("visitors", "percentage")
    extra_filters: tuple[tuple[Any, ...], ...] = ()
    names: Callable[[str], str] | None = field(default=None, compare=False)
    # Filter the dashboard by this dimension when a row is picked (a prop's value, a goal, ...).
    filter_dimension: str | None = None
    left_out: tuple[str, ...] = ()

    def filters(self) -> list[list[Any]]:
        """The filters of the panel's own query (see `left_out`)."""
        return [list(extra) for extra in self.extra_filters]

    def paged_filters(self) -> list[list[Any]]:
        """The filters of a query that pages through every row: `left_out` filtered out."""
        leave_out = [["is_not", self.dimension, list(self.left_out)]] if self.left_out else []
        return self.filters() + leave_out

    def listed(self, rows: list[ResultRow], limit: int) -> list[ResultRow]:
        """The first `limit` rows that are not left out."""
        return [row for row in rows if str(row.dimensions[0]) not in self.left_out][:limit]

    def shown(self, value: str) -> str:
        return self.names(value) if self.names is not None else value


class Breakdown(Vertical, can_focus=False):
    """A dashboard panel; `load(view)` fills it (and cancels a load still under way)."""

    DEFAULT_CSS = """
    Breakdown {
        /* As tall as its ten rows, loaded or not (the dashboard's grid rows are this tall
           too): the dashboard does not jump as answers land, and which panels are on screen
           is known before they load. */
        height: 13;
        border: round $panel;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
    }
    Breakdown:focus-within {
        border: round $accent;
        border-title-color: $text;
    }
    Breakdown PanelTable {
        overflow-x: hidden;
        height: 1fr;
        background: $surface;
    }
    """

    class Picked(Message):
        """A row was chosen: filter the dashboard by it."""

        def __init__(self, breakdown: Breakdown, picked: Filter) -> None:
            super().__init__()
            self.breakdown = breakdown
            self.filter = picked

    class Highlighted(Message):
        """The cursor moved to a row (the event-properties panel follows the events')."""

        def __init__(self, breakdown: Breakdown, value: str) -> None:
            super().__init__()
            self.breakdown = breakdown
            self.value = value

    class Loaded(Message):
        """The panel shows `view`'s rows (or why it has none)."""

        def __init__(self, breakdown: Breakdown, view: DashboardView) -> None:
            super().__init__()
            self.breakdown = breakdown
            self.view = view

    def __init__(self, spec: PanelSpec) -> None:
        super().__init__(id=f"panel-{spec.key}")
        self.spec = spec
        self.border_title = spec.title
        self.rows: list[ResultRow] = []
        self.answer: QueryAnswer | None = None
        self.laid_out_width = -1  # the width the rows were last laid out for
        self.loaded_view: DashboardView | None = None

    def compose(self) -> ComposeResult:
        yield PanelTable()

    @property
    def table(self) -> PanelTable:
        return self.query_one(PanelTable)

    @property
    def standing(self) -> bool:
        """Whether the panel and its parts are still there for an answer to land in: a closing
        dashboard removes its panels' parts before the panels themselves."""
        return self.is_attached and bool(self.query(PanelTable))

    def set_spec(self, spec: PanelSpec) -> None:
        self.spec = spec
        self.border_title = spec.title

    def query_for(self, view: DashboardView, *, limit: int = ROWS_SHOWN) -> Any:
        return view.query(
            list(self.spec.metrics),
            [self.spec.dimension],
            extra_filters=self.spec.filters(),
            order_by=[[self.spec.metrics[0], "desc"]],
            limit=limit + len(self.spec.left_out),
        )

    class Failed(Message):
        """The panel's query was refused: the dashboard tells the user once, not per panel."""

        def __init__(self, breakdown: Breakdown, view: DashboardView, error: ClientError) -> None:
            super().__init__()
            self.breakdown = breakdown
            self.view = view
            self.error = error

    def mark_loading(self) -> None:
        """Say that the rows shown are about to change: in the border, not with Textual's
        loading indicator (mounting one in each of nineteen panels, and removing it, took a
        good part of the dashboard's paint)."""
        self.border_subtitle = "loading…"

    @work(exclusive=True, group="load")
    async def load(self, view: DashboardView) -> None:
        self.mark_loading()
        try:
            answer = await ask_stats(self, self.query_for(view))
        except ClientError as error:
            if self.standing:
                self.show_nothing(view, f"Could not load this panel: {error.message}")
                self.post_message(self.Failed(self, view, error))
            return
        if self.standing:  # the dashboard may have closed meanwhile
            self.show(view, answer)

    def show_nothing(self, view: DashboardView, why: str) -> None:
        """No query to make (an event without properties, say): say why instead of rows."""
        self.rows, self.answer = [], None
        self.loaded_view = view
        self.table.show_message(why)
        self.border_subtitle = ""
        self.post_message(self.Loaded(self, view))

    def on_resize(self) -> None:
        # The name column takes the panel's width: lay the rows out again for a new width
        # (only: filling the table changes the panel's height, which is a resize too).
        if self.size.width == self.laid_out_width:
            return
        if self.answer is not None and self.loaded_view is not None:
            self.show(self.loaded_view, self.answer, announce=False, keep_cursor=True)

    def show(
        self,
        view: DashboardView,
        answer: QueryAnswer,
        *,
        announce: bool = True,
        keep_cursor: bool = False,
    ) -> None:
        self.answer = answer
        self.rows = self.spec.listed(answer.results, ROWS_SHOWN)
        self.loaded_view = view
        comparing = view.comparison is not Comparison.NONE
        self.laid_out_width = self.size.width
        numbers = [metric for metric in self.spec.metrics if metric != "percentage"]
        widths = [max(len(SHORT_METRIC_NAMES.get(metric, metric)), 6) for metric in numbers]
        # The name takes what the figures leave: long URLs are cut, never the figures.
        bar_width = BAR_WIDTH if self.size.width >= WIDE_PANEL else NARROW_BAR_WIDTH
        # Each column is padded by one cell each side; the border and a spare column besides.
        fixed = sum(widths) + bar_width + LAST_WIDTH + 2 * (len(widths) + 3) + 3
        columns = [Column(self.spec.column, max(MIN_NAME_WIDTH, self.size.width - fixed))]
        for metric, width in zip(numbers, widths, strict=True):
            columns.append(Column(SHORT_METRIC_NAMES.get(metric, metric), width, "right"))
        columns.append(Column("", bar_width))
        columns.append(Column("Change" if comparing else "Share", LAST_WIDTH, "right"))
        ranked = self.spec.metrics[0]
        top = max((_number(row.metrics[0]) for row in self.rows), default=0) or 1
        rows = []
        for row in self.rows:
            value = str(row.dimensions[0])
            metrics = dict(zip(self.spec.metrics, row.metrics, strict=False))
            cells = [Text(self.spec.shown(value))]
            for metric in self.spec.metrics:
                if metric != "percentage":
                    cells.append(Text(format_metric(metric, metrics[metric])))
            cells.append(Text(bar(_number(row.metrics[0]) / top, bar_width), style="cyan"))
            cells.append(self._last_cell(ranked, row, metrics, comparing))
            rows.append((value, cells))
        table = self.table
        if rows:
            table.set_rows(columns, rows, cursor_row=table.cursor_row if keep_cursor else 0)
        else:
            self.table.show_message(NOTHING)
        self.border_subtitle = f"{len(self.rows)} shown" if self.rows else ""
        if announce:
            self.post_message(self.Loaded(self, view))

    def _last_cell(
        self, ranked: str, row: ResultRow, metrics: dict[str, Any], comparing: bool
    ) -> Text:
        if comparing:
            change = row.comparison.change[0] if row.comparison is not None else None
            direction = change_direction(ranked, change)
            style = "green" if direction > 0 else "red" if direction < 0 else "dim"
            return Text(format_change(ranked, change), style=style)
        share = metrics.get("percentage")
        return Text(format_metric("percentage", share) if share is not None else "")

    def figures(self) -> list[tuple[str, str, object, object]]:
        """(name, metric, value, change) of every row shown, for the export."""
        out = []
        for row in self.rows:
            changes = row.comparison.change if row.comparison is not None else []
            for index, metric in enumerate(self.spec.metrics):
                change = changes[index] if index < len(changes) else None
                out.append((str(row.dimensions[0]), metric, row.metrics[index], change))
        return out

    def highlighted_value(self) -> str | None:
        table = self.table
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return str(self.rows[table.cursor_row].dimensions[0])

    @on(PanelTable.RowSelected)
    def _picked(self, event: PanelTable.RowSelected) -> None:
        event.stop()
        dimension = self.spec.filter_dimension or self.spec.dimension
        self.post_message(self.Picked(self, Filter(dimension, event.row_key)))

    @on(PanelTable.RowHighlighted)
    def _highlighted(self, event: PanelTable.RowHighlighted) -> None:
        # Only the user's cursor counts: a table highlights its first row by itself when it
        # fills, and following that would send queries nobody asked for.
        event.stop()
        if self.table.has_focus:
            self.post_message(self.Highlighted(self, event.row_key))

    @on(events.DescendantFocus)
    def _focused(self, _: events.DescendantFocus) -> None:
        value = self.highlighted_value()
        if value is not None:
            self.post_message(self.Highlighted(self, value))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
