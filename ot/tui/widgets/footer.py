"""The footer of every screen: Textual's, recomposed only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
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

    def compose(self) -> ComposeResult:
        # Textual's footer composes no keys until the screen's bindings first change, and then
        # recomposes: mounting its keys lays the new screen out twice more as it opens. The
        # keys are known now; the recompose is skipped when they are the same then.
        self._bindings_ready = True
        self.shown = keys_shown(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        keys = keys_shown(screen)
        if keys == self.shown:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and screen is self.screen:  # recomposed: see Footer
            self.shown = keys
