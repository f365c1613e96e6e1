"""Paying an invoice: the PayPal page where the payment is approved, as an address to open or
copy and as a QR code to pay from a phone."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ot.tui.widgets.qr_code import QrCode


class PaymentScreen(ModalScreen[None]):
    HELP = """# Pay at PayPal

Open the address in a browser (`c` copies it), or scan the QR code with your phone, and
approve the payment at PayPal. Then close this and press `r` on Billing to see the invoice
paid. Asking to pay the same invoice again shows the same page: it is never paid twice.
"""
    DEFAULT_CSS = """
    PaymentScreen {
        align: center middle;
    }
    PaymentScreen > Horizontal {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $success;
        background: $surface;
    }
    PaymentScreen #qr {
        width: auto;
        height: auto;
    }
    PaymentScreen #words {
        width: 1fr;
        height: auto;
        max-height: 100%;
        padding: 0 1;
    }
    PaymentScreen #url {
        background: $boost;
        padding: 0 1;
        margin: 1 0;
    }
    """
    BINDINGS = [
        Binding("c", "copy", "Copy address"),
        Binding("escape,q,enter", "dismiss", "Close", key_display="Esc"),
    ]

    def __init__(self, invoice: str, amount: str, approval_url: str) -> None:
        super().__init__()
        self.invoice = invoice
        self.amount = amount
        self.approval_url = approval_url

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="qr"):
                yield QrCode(self.approval_url)
            with VerticalScroll(id="words"):
                yield Static(f"Pay {self.invoice} ({self.amount})", classes="title")
                yield Static(
                    "Approve the payment at PayPal: scan the code with your phone, or open this "
                    "address in a browser (c copies it):"
                )
                yield Static(self.approval_url, id="url", markup=False)
                yield Static(
                    "Once approved, close this (Esc): Billing shows the invoice paid (r reloads).",
                    classes="hint",
                )

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.approval_url)
        # Terminals that ignore OSC 52 copy nothing: say where else to find it.
        self.notify(
            "The address is on the clipboard (if your terminal does not allow it, select the "
            "text on screen).",
            title="Copied",
        )
