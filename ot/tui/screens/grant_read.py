"""One read through a grant in full: the whole query as the third party sent it, and what came
of it."""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ot.api.grants import GrantReadOut
from ot.tui.screens.access_words import moment, names
from ot.tui.screens.grant_reads import reason_words


def read_words(read: GrantReadOut, domains: dict[int, str]) -> str:
    outcome = read.outcome + (
        f" — {reason_words(read.reason)} [{read.reason}]" if read.reason else ""
    )
    return "\n".join(
        [
            f"When:         {moment(read.at)} UTC",
            f"Via:          {read.via}",
            f"Outcome:      {outcome}",
            f"Site:         {_site(read.site_id, domains)}",
            f"Metrics:      {names(read.metrics)}",
            f"Dimensions:   {names(read.dimensions)}",
            f"Filtered on:  {names(read.filtered_dimensions)}",
            f"Days:         {read.first_day or '—'} to {read.last_day or '—'}",
            f"Rows:         {read.rows_returned} answered, {read.rows_hidden} hidden",
        ]
    )


class GrantReadScreen(ModalScreen[None]):
    HELP = """# One read

What the third party asked for, word for word, and what came of it.
"""
    DEFAULT_CSS = """
    GrantReadScreen {
        align: center middle;
    }
    GrantReadScreen > VerticalScroll {
        width: 100;
        max-width: 98%;
        height: auto;
        max-height: 98%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    GrantReadScreen #query {
        background: $boost;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", key_display="Esc")]

    def __init__(self, read: GrantReadOut, domains: dict[int, str]) -> None:
        super().__init__()
        self.read = read
        self.domains = domains

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(f"Read {self.read.id}", classes="title")
            yield Static(read_words(self.read, self.domains), markup=False)
            yield Static("The query, as sent:", classes="title")
            query = (
                json.dumps(self.read.query, indent=2, ensure_ascii=False)
                if self.read.query is not None
                else "(not kept: the body was not a query)"
            )
            yield Static(query, id="query", markup=False)


def _site(site_id: int | None, domains: dict[int, str]) -> str:
    if site_id is None:
        return "— (none of the granted sites)"
    return domains.get(site_id, f"site {site_id}")
