"""The focus goes where a screen asks for it even when the widget is still loading (Textual
ignores focusing a loading widget): it takes the focus once its call is answered."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from ot.tui.calls import attempt, focus_once_loaded
from tests.tui_support import wait_for


class TwoWidgets(App[None]):
    def compose(self) -> ComposeResult:
        yield Input(id="search")
        yield DataTable(id="table")
        yield DataTable(id="other")


async def test_a_table_asked_for_the_focus_while_loading_takes_it_when_loaded() -> None:
    app = TwoWidgets()
    async with app.run_test() as pilot:
        table = app.query_one("#table", DataTable)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        call = asyncio.ensure_future(attempt(app, answer, busy=table))
        await wait_for(pilot, lambda: table.loading, "the table loading")

        focus_once_loaded(table)
        await pilot.pause()
        assert app.focused is not table  # Textual cannot focus it yet

        answer.set_result("rows")
        assert await call == "rows"
        await wait_for(pilot, lambda: app.focused is table, "the focus in the table")


async def test_a_later_request_of_the_screen_wins() -> None:
    app = TwoWidgets()
    async with app.run_test() as pilot:
        table, other = app.query_one("#table", DataTable), app.query_one("#other", DataTable)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        call = asyncio.ensure_future(attempt(app, answer, busy=table))
        await wait_for(pilot, lambda: table.loading, "the table loading")

        focus_once_loaded(table)
        focus_once_loaded(other)  # another tab chosen meanwhile
        answer.set_result("rows")
        await call
        await pilot.pause()

        assert app.focused is other


async def test_a_table_asked_for_the_focus_just_before_its_load_takes_it_when_loaded() -> None:
    # A pane just mounted asks for the focus, and its first load starts before Textual gives it.
    app = TwoWidgets()
    async with app.run_test() as pilot:
        table = app.query_one("#table", DataTable)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        focus_once_loaded(table)
        table.loading = True  # what `attempt` does first, here before the focus is given
        call = asyncio.ensure_future(attempt(app, answer, busy=table))
        await pilot.pause()
        assert app.focused is not table

        answer.set_result("rows")
        assert await call == "rows"
        await wait_for(pilot, lambda: app.focused is table, "the focus in the table")
