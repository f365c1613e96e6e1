"""Add a site: its domain, the time zone its days are counted in and how visitors are told
apart. A refusal (a malformed domain, one another site holds) is said at its field, with
everything typed kept."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ot.api.sites import SiteOut
from ot.client import ClientError, Conflict, Invalid
from ot.tui.calls import app_of, client_of
from ot.tui.widgets.settings_form import VISITOR_MODES, time_zone_problem


class NewSiteScreen(ModalScreen[SiteOut | None]):
    """Dismissed with the new site, or None when cancelled."""

    HELP = """# Add a site

The **domain** is the site's name without `https://` or a path, such as `shop.example`
(`www.` is the same site). Its **time zone** is where its days start and end. **Visitors** are
told apart by a first-party cookie (exact across days) or without one (a daily hash: nothing is
stored on the visitor's device). All of these but the domain can be changed later.
"""
    DEFAULT_CSS = """
    NewSiteScreen {
        align: center middle;
    }
    NewSiteScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 2;
    }
    NewSiteScreen Label {
        padding: 1 0 0 0;
    }
    NewSiteScreen .field-error {
        color: $error;
        height: auto;
        display: none;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Add a site", classes="title")
            yield Label("Domain")
            yield Input(id="domain", placeholder="shop.example")
            yield Static("", id="domain-error", classes="field-error")
            yield Label("Time zone (an IANA name; days are counted in it)")
            yield Input("UTC", id="timezone", placeholder="Europe/Amsterdam")
            yield Static("", id="timezone-error", classes="field-error")
            yield Label("Visitors are told apart by")
            yield Select(VISITOR_MODES, id="visitor_mode", allow_blank=False, value="cookieless")
            yield Static("", id="visitor_mode-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Add site", id="add", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#add")
    @on(Input.Submitted)
    def add_pressed(self) -> None:
        self.add()

    def _error(self, field: str, message: str) -> None:
        error = self.query_one(f"#{field}-error", Static)
        error.update(message)
        error.display = bool(message)  # no empty line under every field

    @work(exclusive=True, group="new-site")
    async def add(self) -> None:
        for field in ("domain", "timezone", "visitor_mode"):
            self._error(field, "")
        domain = self.query_one("#domain", Input).value.strip()
        timezone = self.query_one("#timezone", Input).value.strip()
        if not domain:
            self._error("domain", "Give the site's domain, such as shop.example.")
            self.query_one("#domain", Input).focus()
            return
        zone_problem = time_zone_problem(timezone)
        if zone_problem:
            self._error("timezone", zone_problem)
            self.query_one("#timezone", Input).focus()
            return
        mode = self.query_one("#visitor_mode", Select).value
        button = self.query_one("#add", Button)
        button.disabled = True
        try:
            site = await client_of(self).add_site(domain, timezone=timezone, visitor_mode=mode)
        except Conflict as error:
            self._error(
                "domain",
                f"{error.message}. If it is one of your sites, it is in your list already; if "
                "it is someone else's, ask them to share it with you.",
            )
            return
        except Invalid as error:
            if error.field in ("domain", "timezone", "visitor_mode"):
                self._error(str(error.field), error.message)
            else:
                app_of(self).report(error)
            return
        except ClientError as error:
            app_of(self).report(error)
            return
        finally:
            button.disabled = False
        self.notify(f"{site.domain} added: put its tracking snippet on every page.", title="Added")
        self.dismiss(site)
