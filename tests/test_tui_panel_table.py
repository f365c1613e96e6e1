"""A dashboard panel's rows (`PanelTable`): a header and the rows, one under the cursor, moved by
the arrows, Home and End, and picked by Enter or a click on the cursor's row; long names are cut
with an ellipsis, never the figures."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from ot.tui.widgets.panel_table import Column, PanelTable
from tests.tui_support import wait_for

COLUMNS = [Column("Page", 12), Column("Visitors", 8, "right")]
PAGES = [("/", 812), ("/pricing", 344), ("/blog/privacy-first-analytics", 221)]


def rows(pages: list[tuple[str, int]]) -> list[tuple[str, list[Text]]]:
    return [(page, [Text(page), Text(f"{visitors:,}")]) for page, visitors in pages]


class OnePanel(App[None]):
    """A panel's table and, beside it, something else to focus; the messages it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield PanelTable(id="table")
        yield Static("elsewhere", id="elsewhere")

    def on_mount(self) -> None:
        self.query_one(PanelTable).set_rows(COLUMNS, rows(PAGES))

    def on_panel_table_row_highlighted(self, event: PanelTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_key)

    def on_panel_table_row_selected(self, event: PanelTable.RowSelected) -> None:
        self.selected.append(event.row_key)


def lines(app: OnePanel) -> list[str]:
    table = app.query_one(PanelTable)
    return [str(table.render_line(y).text).rstrip() for y in range(table.size.height)]


async def test_the_header_and_the_rows_show_in_their_columns_with_long_names_cut() -> None:
    app = OnePanel()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert lines(app)[:4] == [
            " Page          Visitors",
            " /                  812",
            " /pricing           344",
            " /blog/priva…       221",  # the name cut to its column, the figure whole
        ]
        table = app.query_one(PanelTable)
        assert table.row_count == 3
        assert [str(cell) for cell in table.get_row_at(2)] == [
            "/blog/privacy-first-analytics",
            "221",
        ]


async def test_the_arrows_home_and_end_move_the_cursor_and_say_where_it_is() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        table = app.query_one(PanelTable)
        table.focus()
        for keys, row in [
            (["down"], 1),
            (["down", "down"], 2),  # past the last row: it stays on it
            (["home"], 0),
            (["end", "up"], 1),
        ]:
            await pilot.press(*keys)
            assert table.cursor_row == row, keys
            key = PAGES[row][0]
            await wait_for(pilot, lambda key=key: app.highlighted[-1:] == [key], f"{key} told")


async def test_enter_picks_the_cursors_row() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        app.query_one(PanelTable).focus()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.selected, "a row picked")
        assert app.selected == ["/pricing"]


async def test_a_click_moves_the_cursor_and_a_click_on_the_cursors_row_picks_it() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        table = app.query_one(PanelTable)
        await pilot.click(PanelTable, offset=(2, 3))  # the third row (the header is line 0)
        assert table.cursor_row == 2 and app.selected == []
        await pilot.click(PanelTable, offset=(2, 3))
        await wait_for(pilot, lambda: app.selected, "a row picked")
        assert app.selected == ["/blog/privacy-first-analytics"]
        await pilot.click(PanelTable, offset=(2, 0))  # the header picks nothing
        await pilot.pause()
        assert app.selected == ["/blog/privacy-first-analytics"] and table.cursor_row == 2


def backgrounds(table: PanelTable, y: int) -> set[object]:
    """The background colours of line `y` of the table."""
    return {segment.style.bgcolor for segment in table.render_line(y) if segment.style}


async def test_the_row_under_the_mouse_is_shaded_until_the_mouse_leaves() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        table = app.query_one(PanelTable)
        plain = backgrounds(table, 2)  # the second row, not under the cursor
        await pilot.hover(PanelTable, offset=(2, 2))
        await wait_for(pilot, lambda: table.hover_row == 1, "the second row hovered")
        shaded = backgrounds(table, 2)
        assert len(shaded) == 1 and shaded != plain  # the whole line, shaded

        await pilot.hover(PanelTable, offset=(2, 0))  # the header: no row
        await wait_for(pilot, lambda: table.hover_row == -1, "no row hovered")
        await pilot.hover(PanelTable, offset=(2, 3))
        await wait_for(pilot, lambda: table.hover_row == 2, "the third row hovered")
        await pilot.hover(Static)  # elsewhere
        await wait_for(pilot, lambda: table.hover_row == -1, "the mouse gone")


async def test_new_rows_put_the_cursor_on_the_first_unless_told_to_keep_it() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        table = app.query_one(PanelTable)
        table.move_cursor(row=2)
        table.set_rows(COLUMNS, rows(PAGES))
        assert table.cursor_row == 0
        table.move_cursor(row=2)
        table.set_rows(COLUMNS, rows(PAGES[:2]), cursor_row=table.cursor_row)
        assert table.cursor_row == 1  # the row it was on is gone: the last one
        await pilot.pause()


async def test_an_empty_table_shows_its_header_and_enter_picks_nothing() -> None:
    app = OnePanel()
    async with app.run_test() as pilot:
        table = app.query_one(PanelTable)
        table.set_rows(COLUMNS, [])
        table.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.selected == [] and table.row_count == 0
        assert lines(app)[0] == " Page          Visitors"


async def test_a_message_shows_instead_of_rows_and_rows_replace_it() -> None:
    app = OnePanel()
    async with app.run_test(size=(30, 10)) as pilot:
        table = app.query_one(PanelTable)
        table.show_message("Could not load this panel: the server is restarting")
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == [] and table.row_count == 0
        assert lines(app) == [" Could not load this panel:", " the server is restarting"]
        table.set_rows(COLUMNS, rows(PAGES))
        await pilot.pause()
        assert lines(app)[0] == " Page          Visitors"
