"""The header of every screen: Textual's, with a title that changes without laying the screen out.

Textual's header sets its title from four watchers (the app's and the screen's title and
sub-title), each run once as the screen opens; its title widget asks for a layout of the whole
screen every time (a twentieth of a second for the dashboard), though its size never changes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.visual import VisualType
from textual.widgets import Header

# Not exported by textual.widgets: the parts Header composes.
from textual.widgets._header import HeaderClockSpace, HeaderIcon, HeaderTitle


class OneLineTitle(HeaderTitle):
    """The header's title: one line of fixed size, whatever it says."""

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        super().update(content, layout=False)


class TitleHeader(Header):
    """`Header` without a clock, whose title never lays the screen out."""

    def compose(self) -> ComposeResult:
        yield HeaderIcon().data_bind(Header.icon)
        yield OneLineTitle()
        yield HeaderClockSpace()
