"""The rows of a dashboard panel: a header and at most a screenful of rows, one under the cursor.

Textual's DataTable did this job, but a dashboard opens nineteen of them at once and each comes
with nine component classes to style, caches per cell and a scrolling canvas: styling and
rendering them was most of the dashboard's first paint (0.65 to 0.75 s of pure UI work per open).
A panel needs none of that: a few fixed-width columns, ten rows, a cursor, Enter."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import RenderableType
from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

CELL_PADDING = 1  # a blank cell each side of a column, as DataTable pads its cells


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    width: int
    justify: str = "left"  # "left" or "right"


class PanelTable(Widget, can_focus=True):
    """A header and rows of cells (`Text`), each row with a key; `RowHighlighted` when the
    cursor moves, `RowSelected` on Enter or a click on the cursor's row. Left and right move to
    the neighbouring panels. The row under the mouse is shaded, as DataTable's: it can be
    clicked."""

    COMPONENT_CLASSES = {
        "panel-table--header",
        "panel-table--cursor",
        "panel-table--hover",
        "panel-table--message",
    }

    DEFAULT_CSS = """
    PanelTable {
        background: $surface;
        color: $foreground;
        height: auto;
        & > .panel-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .panel-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .panel-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .panel-table--hover {
            background: $block-hover-background;
        }
        & > .panel-table--message {
            color: $text-muted;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .panel-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("home,pageup", "first_row", "First row", show=False),
        Binding("end,pagedown", "last_row", "Last row", show=False),
        Binding("right", "app.focus_next", "Next panel", show=False),
        Binding("left", "app.focus_previous", "Previous panel", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, init=False, always_update=False)
    hover_row: reactive[int] = reactive(-1, init=False, always_update=False)  # -1: none

    class _RowMessage(Message):
        def __init__(self, table: PanelTable, cursor_row: int, row_key: str) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key

        @property
        def control(self) -> PanelTable:
            return self.table

    class RowHighlighted(_RowMessage):
        """The cursor is on the row of `row_key`."""

    class RowSelected(_RowMessage):
        """The row of `row_key` was chosen (Enter, or a click on the cursor's row)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: list[Column] = []
        self._rows: list[tuple[str, list[Text]]] = []
        self.message = ""  # shown instead of the header and rows, when there are none

    # --- content ---------------------------------------------------------------------------

    def set_rows(
        self, columns: list[Column], rows: list[tuple[str, list[Text]]], *, cursor_row: int = 0
    ) -> None:
        """Show these columns and rows (each a key and its cells), the cursor on `cursor_row`
        (or the last row)."""
        self.columns = columns
        self._rows = rows
        self.message = ""
        self.set_reactive(PanelTable.cursor_row, self._clamped(cursor_row))
        # A panel's table fills a fixed height: only a table sized by its rows lays out again.
        self.refresh(layout=self.styles.height is None or self.styles.height.is_auto)
        if rows:
            self._highlighted()

    def show_message(self, message: str) -> None:
        """No rows: say why instead (there is nothing in the period, the query failed)."""
        self.columns, self._rows, self.message = [], [], message
        self.set_reactive(PanelTable.cursor_row, 0)
        self.refresh(layout=self.styles.height is None or self.styles.height.is_auto)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def get_row_at(self, row: int) -> list[Text]:
        return self._rows[row][1]

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = self._clamped(row)

    def _clamped(self, row: int) -> int:
        return max(0, min(row, len(self._rows) - 1))

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        if self.message:
            wrapped = Text(self.message).wrap(self.app.console, max(1, width - 2 * CELL_PADDING))
            return len(wrapped)
        return 1 + len(self._rows)

    # --- the user --------------------------------------------------------------------------

    def watch_cursor_row(self) -> None:
        self.refresh()
        if self._rows:
            self._highlighted()

    def _highlighted(self) -> None:
        row = self.cursor_row
        self.post_message(self.RowHighlighted(self, row, self._rows[row][0]))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if self._rows:
            row = self.cursor_row
            self.post_message(self.RowSelected(self, row, self._rows[row][0]))

    def watch_hover_row(self) -> None:
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.hover_row = self._row_at(event.y)

    def on_leave(self, _: events.Leave) -> None:
        self.hover_row = -1

    def _row_at(self, y: int) -> int:
        """The row on line `y` of the table (the header is line 0), or -1."""
        row = y - 1
        return row if 0 <= row < len(self._rows) else -1

    def on_click(self, event: events.Click) -> None:
        # As DataTable: a click moves the cursor to a row, a click on the cursor's row picks it.
        row = self._row_at(event.y)
        if row < 0:
            return
        event.stop()
        if row == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row=row)

    # --- drawing ---------------------------------------------------------------------------

    def render(self) -> RenderableType:
        if self.message:
            muted = self.get_component_rich_style("panel-table--message")
            return Padding(Text(self.message, style=muted), (0, CELL_PADDING))
        header = self.get_component_rich_style("panel-table--header")
        cursor = self.get_component_rich_style("panel-table--cursor")
        hover = self.get_component_rich_style("panel-table--hover")
        lines = [self._line([Text(column.label) for column in self.columns], header)]
        for index, (_, cells) in enumerate(self._rows):
            style = (
                cursor if index == self.cursor_row else hover if index == self.hover_row else None
            )
            lines.append(self._line(cells, style))
        return Text("\n", no_wrap=True, overflow="crop").join(lines)

    def _line(self, cells: list[Text], style: Style | None) -> Text:
        line = Text(no_wrap=True, overflow="crop", end="")
        pad = " " * CELL_PADDING
        for column, cell in zip(self.columns, cells, strict=False):
            shown = cell.copy()
            shown.truncate(column.width, overflow="ellipsis")
            shown.align("right" if column.justify == "right" else "left", column.width)
            line.append(pad)
            line.append_text(shown)
            line.append(pad)
        if style is not None:
            line.pad_right(max(0, self.size.width - line.cell_len))
            line.stylize(style)
        return line
