"""The "Your data" tab of the profile: export everything held about the account as a zip, and
delete the account (after its grace period) or cancel a deletion that is pending."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static

from ot.api.rights import DeletionStatus
from ot.tui.calls import app_of, attempt, client_of, may_save_files
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.profile_format import day, moment


def export_name(app_now: str) -> str:
    return f"opentracker-export-{app_now}.zip"


class YourDataPane(VerticalScroll):
    DEFAULT_CSS = """
    YourDataPane {
        height: 1fr;
    }
    YourDataPane Label {
        padding: 1 0 0 0;
    }
    YourDataPane #export-row {
        height: auto;
    }
    YourDataPane #export-path {
        width: 1fr;
    }
    YourDataPane #cancel-deletion-too, YourDataPane.pending #delete-account {
        display: none;
    }
    YourDataPane.pending #cancel-deletion-too {
        display: block;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield Static("Export", classes="title")
            yield Label(
                "Everything we hold about you: your account as JSON and each site's hits as CSV, "
                "in one zip. Save it to:"
            )
            with Horizontal(id="export-row"):
                yield Input(id="export-path")
                yield Button("Export", id="export", variant="primary")
            yield Static("Delete your account", classes="title")
            yield Static("Checking…", id="deletion-state")
            with Horizontal(classes="buttons"):
                yield Button("Delete my account…", id="delete-account", variant="error")
                yield Button("Cancel deletion", id="cancel-deletion-too", variant="warning")

    def on_mount(self) -> None:
        today = app_of(self).now().date().isoformat()
        self.query_one("#export-path", Input).value = export_name(today)

    def show_deletion(self, deletion: DeletionStatus) -> None:
        self.set_class(deletion.scheduled, "pending")
        state = self.query_one("#deletion-state", Static)
        if deletion.scheduled and deletion.purge_after is not None:
            state.update(
                f"Your account is to be deleted on {day(deletion.purge_after)} "
                f"({moment(deletion.purge_after)}), asked for {moment(deletion.requested_at)}. "
                "Until then you can cancel it."
            )
        else:
            state.update(
                "Deleting your account ends every session and API key at once; its sites, "
                "statistics and personal data are purged after a grace period, during which "
                "you can log in again and cancel."
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export":
            event.stop()
            self.export()
        elif event.button.id == "delete-account":
            event.stop()
            from ot.tui.screens.account_deletion import AccountDeletionScreen

            self.app.push_screen(AccountDeletionScreen())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "export-path":
            event.stop()
            self.export()

    @work(exclusive=True, group="export")
    async def export(self) -> None:
        if not may_save_files(self):
            return
        typed = self.query_one("#export-path", Input).value.strip()
        if not typed:
            self.notify("Say where to save the export.", title="Please correct", severity="warning")
            return
        path = Path(typed).expanduser().absolute()
        if path.is_dir():
            path = path / export_name(app_of(self).now().date().isoformat())
        if not path.parent.is_dir():
            self.notify(
                f"{escape(str(path.parent))} is not a folder.",
                title="Please correct",
                severity="warning",
            )
            return
        if path.exists():
            question = f"{path} exists. Replace it?"
            if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Replace")):
                return
        archive = await attempt(
            self, client_of(self).export_account(), busy=self.query_one("#export")
        )
        if archive is None:
            return
        try:
            path.write_bytes(archive)
        except OSError as error:
            self.notify(
                f"Could not save {escape(str(path))}: {error.strerror}.",
                title="Not saved",
                severity="error",
            )
            return
        self.notify(f"Saved to {escape(str(path))}", title="Export saved", timeout=10)
