"""The breadcrumb of the dashboard's filters: `Page is /pricing / Country is Netherlands`. Focus
it (Tab) and pick a filter with ←/→; delete or backspace removes it."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ot.tui.countries import country_name
from ot.tui.view import Filter

DIMENSION_NAMES = {
    "event:page": "Page",
    "event:name": "Event",
    "event:goal": "Goal",
    "event:hostname": "Host",
    "visit:entry_page": "Entry page",
    "visit:exit_page": "Exit page",
    "visit:source": "Source",
    "visit:referrer": "Referrer",
    "visit:utm_source": "UTM source",
    "visit:utm_medium": "UTM medium",
    "visit:utm_campaign": "UTM campaign",
    "visit:utm_content": "UTM content",
    "visit:utm_term": "UTM term",
    "visit:country": "Country",
    "visit:region": "Region",
    "visit:city": "City",
    "visit:browser": "Browser",
    "visit:os": "OS",
    "visit:device": "Device",
}


def describe(active: Filter) -> str:
    """`Country is Netherlands`, `Property url is https://…`."""
    name = DIMENSION_NAMES.get(active.dimension)
    if name is None and active.dimension.startswith("event:props:"):
        name = f"Property {active.dimension.removeprefix('event:props:')}"
    value = country_name(active.value) if active.dimension == "visit:country" else active.value
    return f"{name or active.dimension} is {value}"


class FilterBar(Static, can_focus=False):
    """The active filters; hidden when there are none."""

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        padding: 0 1;
        display: none;
    }
    FilterBar.-shown { display: block; }
    FilterBar:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Previous filter", show=False),
        Binding("right", "move(1)", "Next filter", show=False),
        Binding("delete,backspace", "remove", "Remove filter", show=False),
    ]

    class Removed(Message):
        def __init__(self, bar: FilterBar, removed: Filter) -> None:
            super().__init__()
            self.bar = bar
            self.filter = removed

    chosen: reactive[int] = reactive(-1)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filters: tuple[Filter, ...] = ()

    def show(self, filters: tuple[Filter, ...]) -> None:
        self.filters = filters
        self.set_class(bool(filters), "-shown")
        self.chosen = len(filters) - 1
        self.mutate_reactive(FilterBar.chosen)
        self.can_focus = bool(filters)

    def watch_chosen(self) -> None:
        self.show_filters()

    def on_focus(self) -> None:
        self.show_filters()

    def on_blur(self) -> None:
        self.show_filters()

    def show_filters(self) -> None:
        # One line whatever it says (shown or hidden by its class): no layout of the screen.
        self.update(self.render_filters(), layout=False)

    def render_filters(self) -> Text:
        text = Text("Filters: ", style="dim")
        for index, active in enumerate(self.filters):
            if index:
                text.append(" / ", style="dim")
            chosen = self.has_focus and index == self.chosen
            text.append(f" {describe(active)} ✕ ", style="reverse bold" if chosen else "bold")
        if self.filters:
            text.append("   x: remove last · X: remove all", style="dim")
        return text

    def action_move(self, step: int) -> None:
        if self.filters:
            self.chosen = (self.chosen + step) % len(self.filters)

    def action_remove(self) -> None:
        if 0 <= self.chosen < len(self.filters):
            self.post_message(self.Removed(self, self.filters[self.chosen]))
