"""Tabbed content whose tab bar cannot undo a tab chosen by a key in the first instant."""

from __future__ import annotations

from textual.widgets import TabbedContent, Tabs
from textual.widgets._tabbed_content import ContentTab


class SteadyTabbedContent(TabbedContent):
    """A `TabbedContent` that keeps a tab chosen in code (a number key, a screen's own switch)
    before its tab bar was ready.

    The tab bar activates its first tab once, from its own mount, and `TabbedContent` switches
    to whatever tab the bar activates when it handles that message. On a busy machine it can
    handle it after a key already chose another tab, and switches back: the person pressed 2
    and sees tab 1. This handler runs before `TabbedContent`'s own (Textual calls a subclass's
    first); when the bar's first activation names another tab than the one chosen, the chosen
    one is set again once `TabbedContent` has handled it. Later activations come from the
    person (a click, the arrow keys on the bar) and are followed as usual."""

    _bar_activated = False

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if self._bar_activated or getattr(event.tabs, "tabbed_content", None) is not self:
            return  # a later activation, or the bar of a tabbed content inside this one
        self._bar_activated = True
        chosen = self.active
        if chosen and event.tab.id != ContentTab.add_prefix(chosen):
            self.call_later(setattr, self, "active", chosen)
