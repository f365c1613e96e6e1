"""The footer of every screen: Textual's, recomposed only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable

from textual.screen import Screen
from textual.widgets import Footer


def keys_shown(screen: Screen[object]) -> Hashable:
    """What a footer shows of the screen's bindings: the keys, their labels, and which work."""
    return tuple(
        (binding.key, binding.description, enabled)
        for _, binding, enabled, _ in screen.active_bindings.values()
        if binding.show
    )


class KeyFooter(Footer):
    """Textual's footer recomposes its keys whenever the focus moves; on the dashboard, whose
    nineteen tables share their keys, that was a fifth of the time it took to open, and
    work on every Tab."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: Hashable | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        keys = keys_shown(screen)
        if keys == self.shown:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and screen is self.screen:  # recomposed: see Footer
            self.shown = keys
