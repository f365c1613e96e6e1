"""Every screen's header shows the app's and the screen's titles, and changing them repaints the
header alone: the whole screen is not laid out again for a line of fixed size."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

from ot.tui.widgets.header import TitleHeader
from tests.tui_support import count_layouts, wait_for


class Titled(App[None]):
    TITLE = "opentracker"

    def __init__(self, header: type[Header]) -> None:
        super().__init__()
        self.header = header

    def compose(self) -> ComposeResult:
        yield self.header()


def shown_title(app: App[None]) -> str:
    return str(app.screen.query_one(HeaderTitle).render())


async def test_the_header_shows_the_titles_and_follows_their_changes() -> None:
    app = Titled(TitleHeader)
    async with app.run_test() as pilot:
        app.screen.sub_title = "shop.example"
        await wait_for(pilot, lambda: "shop.example" in shown_title(app), "the sub-title shown")
        assert "opentracker" in shown_title(app)

        app.screen.sub_title = "blog.example"
        await wait_for(pilot, lambda: "blog.example" in shown_title(app), "the new sub-title")


@pytest.mark.parametrize(("header", "lays_out"), [(Header, True), (TitleHeader, False)])
async def test_a_new_title_lays_the_screen_out_only_with_textuals_header(
    header: type[Header], lays_out: bool
) -> None:
    app = Titled(header)
    async with app.run_test() as pilot:
        await pilot.pause()
        layouts = count_layouts(app.screen)
        app.screen.sub_title = "shop.example"
        await wait_for(pilot, lambda: "shop.example" in shown_title(app), "the sub-title")
        await pilot.pause()
        assert bool(layouts) is lays_out
