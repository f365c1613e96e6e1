"""One invoice as the customer reads it: the server's plain-text rendering, word for word."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ot.api.billing import InvoiceDocument


class InvoiceScreen(ModalScreen[None]):
    HELP = """# An invoice

The invoice as it was issued. Esc, q or Enter closes it; `p` on Billing pays it.
"""
    DEFAULT_CSS = """
    InvoiceScreen {
        align: center middle;
    }
    InvoiceScreen > VerticalScroll {
        width: 84;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", key_display="Esc")]

    def __init__(self, document: InvoiceDocument) -> None:
        super().__init__()
        self.document = document

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            # markup=False: the customer's name and address are text, whatever they contain.
            yield Static(self.document.rendering.rstrip(), id="rendering", markup=False)
