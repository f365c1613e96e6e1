"""A new key (an API key, a grant's key, a share link's token) shown the one time the server
tells it: the server keeps only its hash, so this modal says so and offers to copy it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class SecretScreen(ModalScreen[None]):
    HELP = """# A new secret

Shown this once: the server keeps only its hash, so nobody can show it again. Copy it (c; l for
a second one) or select it on screen, and keep it somewhere safe.
"""
    DEFAULT_CSS = """
    SecretScreen {
        align: center middle;
    }
    SecretScreen > Vertical {
        width: 90;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $success;
        background: $surface;
        padding: 0 1;
    }
    SecretScreen .warning {
        color: $warning;
        text-style: bold;
        padding: 1 0 0 0;
    }
    SecretScreen .secret {
        background: $boost;
        padding: 0 1;
    }
    SecretScreen Label {
        padding: 1 0 0 0;
    }
    """
    BINDINGS = [
        Binding("c", "copy(0)", "Copy"),
        Binding("l", "copy(1)", "Copy 2nd", show=False),
        Binding("escape,enter", "done", "Done"),
    ]

    def __init__(self, title: str, secrets: list[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self.heading = title
        self.secrets = secrets
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.heading, classes="title")
            yield Static(
                "Copy it now: it is shown this once and never again (the server keeps only "
                "a hash of it).",
                classes="warning",
            )
            for index, (label, value) in enumerate(self.secrets):
                yield Label(label)
                yield Static(value, classes="secret", id=f"secret-{index}")
            if self.note:
                yield Static(self.note, classes="hint")
            with Horizontal(classes="buttons"):
                keys = ("c", "l")
                for index, (label, _) in enumerate(self.secrets[:2]):
                    yield Button(f"Copy {label.lower()} ({keys[index]})", id=f"copy-{index}")
                yield Button("Done (enter)", id="done", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "done":
            self.dismiss(None)
        elif event.button.id is not None and event.button.id.startswith("copy-"):
            self.action_copy(int(event.button.id.removeprefix("copy-")))

    def action_copy(self, index: int) -> None:
        if index >= len(self.secrets):
            return
        label, value = self.secrets[index]
        self.app.copy_to_clipboard(value)
        # Terminals that ignore OSC 52 copy nothing: say where else to find it.
        self.notify(
            f"{label} copied to the clipboard (if your terminal does not allow it, select "
            "the text on screen).",
            title="Copied",
        )

    def action_done(self) -> None:
        self.dismiss(None)
