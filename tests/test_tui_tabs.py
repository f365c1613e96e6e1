"""Tabs: a tab chosen by a key stays chosen, even when the tab bar's own first activation (posted
from its mount, handled late on a busy machine) arrives after the key."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Label, TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTabs

from ot.tui.widgets.tabs import SteadyTabbedContent
from tests.tui_support import wait_for


class ThreeTabs(App[None]):
    """Three tabs, and the order in which they were shown."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with SteadyTabbedContent(initial="one"):
            for name in ("one", "two", "three"):
                with TabPane(name.title(), id=name):
                    yield Label(name)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.shown.append(event.pane.id or "")


def late_first_activation(app: ThreeTabs) -> None:
    """What the tab bar's mount does when it runs late: activate its first tab, in a message
    that TabbedContent handles after whatever was chosen meanwhile."""
    app.query_one(SteadyTabbedContent)._bar_activated = False  # not handled yet
    bar = app.query_one(ContentTabs)
    bar.post_message(Tabs.TabActivated(bar, bar.query_one("#--content-tab-one")))


async def test_a_tab_chosen_before_the_bar_first_activates_stays_chosen() -> None:
    app = ThreeTabs()
    async with app.run_test() as pilot:
        tabbed = app.query_one(TabbedContent)
        await wait_for(pilot, lambda: app.shown, "the first tab shown")
        tabbed.active = "two"  # a number key, in the first instant
        late_first_activation(app)

        # The bar's activation switches to the first tab, and the chosen one comes back.
        await wait_for(pilot, lambda: app.shown[-2:] == ["one", "two"], "tab two shown again")
        assert tabbed.active == "two"
        assert app.query_one(ContentTabs).active == "--content-tab-two"  # the bar agrees
        assert app.query_one("#two").display and not app.query_one("#one").display


async def test_later_activations_from_the_bar_are_followed() -> None:
    app = ThreeTabs()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.shown, "the first tab shown")
        app.query_one(ContentTabs).active = "--content-tab-three"  # a click on the bar

        await wait_for(pilot, lambda: app.shown[-1:] == ["three"], "tab three shown")
        assert app.query_one(TabbedContent).active == "three"
