"""Who sees what: the people of the team, the API keys, and the third parties with a grant,
each tab showing who may read and since when, with what they did (a grant's reads)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from ot.tui.screens.access_grants import GrantsPane
from ot.tui.screens.access_keys import KeysPane
from ot.tui.screens.access_team import TeamPane
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.tabs import SteadyTabbedContent

TABS = ("team", "keys", "grants")


class AccessScreen(Screen[None]):
    HELP = """# Who sees what

Everyone and everything that may see your statistics.

- **Team**: the members of your team and their roles (e changes one, d removes one), the
  invitations not yet accepted (i invites, w withdraws one), and the other teams you belong to
  (l leaves one). Move between the tables with tab.
- **API keys**: your keys, what each may do and when it was last used; n makes one (shown once),
  d revokes one.
- **Third parties**: the grants you gave, whether each still answers and until when; n grants
  access, d revokes, u resumes a suspended one, and enter shows every read made through it.

Switch tabs with 1, 2, 3 (or the arrow keys on the tab bar). Times are UTC.
"""
    DEFAULT_CSS = """
    AccessScreen TabbedContent {
        height: 1fr;
    }
    AccessScreen TabPane {
        padding: 0;
    }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("1", "tab('team')", "Team", show=False),
        Binding("2", "tab('keys')", "Keys", show=False),
        Binding("3", "tab('grants')", "Third parties", show=False),
    ]

    def __init__(self, tab: str = "team") -> None:
        super().__init__()
        self.first_tab = tab if tab in TABS else "team"

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with SteadyTabbedContent(initial=f"{self.first_tab}-tab"):
            with TabPane("1 Team", id="team-tab"):
                yield TeamPane()
            with TabPane("2 API keys", id="keys-tab"):
                yield KeysPane()
            with TabPane("3 Third parties", id="grants-tab"):
                yield GrantsPane()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Who sees what"
        self._focus_pane(self.first_tab)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"{tab}-tab"
        self._focus_pane(tab)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Only for the tab active now: the first tab's activation on mount can arrive after a
        # number key already chose another tab, and must not pull the focus back to the first.
        active = self.query_one(TabbedContent).active
        if event.pane.id is not None and event.pane.id == active:
            self._focus_pane(event.pane.id.removesuffix("-tab"))

    def _focus_pane(self, tab: str) -> None:
        """Into the tab's table, so its keys are in the footer and work at once: once the
        screen has been laid out with the tab's pane shown. Focused while still hidden, the
        table lost the focus again at that layout (Textual moves it off a hidden widget)."""
        self.call_after_refresh(self._focus_table, tab)

    def _focus_table(self, tab: str) -> None:
        if self.query_one(TabbedContent).active != f"{tab}-tab":
            return  # another tab was chosen meanwhile: it takes the focus
        if tab == "team":
            self.query_one(TeamPane).focus_table()
        elif tab == "keys":
            self.query_one(KeysPane).focus_table()
        else:
            self.query_one(GrantsPane).focus_table()
