"""Every screen's footer shows the keys that work there, from its first frame; it is rebuilt only
when the keys it shows change (rebuilding it lays the whole screen out, twice)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from ot.tui.widgets.footer import KeyFooter
from tests.tui_support import wait_for


class Quiet(Widget, can_focus=True):
    """Focusable, with keys of its own that the footer does not show (as a dashboard panel)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("up", "noop", "Up", show=False)]


class Loud(Static, can_focus=True):
    """Focusable, with a key of its own that the footer shows."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("z", "noop", "Zoom")]


class Keys(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "noop", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Quiet(id="quiet")  # takes the focus as the screen opens (AUTO_FOCUS)
        yield Loud("loud", id="loud")
        yield KeyFooter()


def keys_in_footer(app: App[None]) -> list[str]:
    return [key.key for key in app.screen.query(FooterKey)]


@pytest.fixture
def recomposes(monkeypatch: pytest.MonkeyPatch) -> list[Footer]:
    """The footers rebuilt, one element each time."""
    rebuilt: list[Footer] = []
    recompose = Footer.recompose

    async def counted(self: Footer) -> None:
        rebuilt.append(self)
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counted)
    return rebuilt


async def test_the_footer_shows_the_screens_keys_without_being_rebuilt(
    recomposes: list[Footer],
) -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.focused is app.query_one(Quiet), "the focus placed")
        await pilot.pause()
        assert keys_in_footer(app)[:2] == ["q", "r"]
        assert recomposes == []  # the focus moved, the keys shown did not


async def test_the_footer_is_rebuilt_when_the_keys_it_shows_change(
    recomposes: list[Footer],
) -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        app.query_one(Loud).focus()
        await wait_for(pilot, lambda: "z" in keys_in_footer(app), "the focused widget's key")
        assert len(recomposes) == 1
        app.query_one(Quiet).focus()
        await wait_for(pilot, lambda: "z" not in keys_in_footer(app), "its key gone")
