"""`?`: the keys of the screen below and what it is for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 80%;
        max-width: 90;
        height: 80%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", key_display="Esc"),
    ]

    def __init__(self, shown_over: Screen[object]) -> None:
        super().__init__()
        self.shown_over = shown_over

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(help_text(self.shown_over))


def help_text(screen: Screen[object]) -> str:
    """The screen's own help, then every key it and the app answer to."""
    about = getattr(screen, "HELP", None) or ""
    rows = ["| Key | Does |", "|---|---|"]
    seen: set[str] = set()
    for node, binding, enabled, tooltip in screen.active_bindings.values():
        if not binding.description or binding.description in seen or not enabled:
            continue
        if not type(node).__module__.startswith("ot.tui"):
            continue  # a table's cursor keys and the like: the same in every program
        seen.add(binding.description)
        key = binding.key_display or screen.app.get_key_display(binding)
        rows.append(f"| `{key}` | {tooltip or binding.description} |")
    rows.append("| `ctrl+p` | Command palette: every command, searchable |")
    return f"*Esc closes this help.*\n\n{about}\n\n## Keys\n\n" + "\n".join(rows) + "\n"
