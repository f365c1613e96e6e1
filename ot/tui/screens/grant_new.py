"""A new third-party grant: who, what for, which sites, metrics and dimensions, which days it may
read, until when, the smallest count it may see, and an optional share link. The form is
checked before it is sent (each problem under its field, nothing sent); a refusal of the server
is shown at the field it names too. Dismissed with the issued grant (its key and link token in
it, shown next and never again) or None."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    SelectionList,
    Static,
)

from ot.api.grants import LINK_PASSWORD_MAX_LENGTH, MAX_GRANT_DAYS, IssuedGrantOut
from ot.client import Invalid
from ot.tui.calls import app_of, attempt, client_of
from ot.tui.screens.access_words import attempt_form, error_label, field_of, show_field_errors
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

FIELDS = (
    "grantee",
    "purpose",
    "site_ids",
    "metrics",
    "dimensions",
    "date_from",
    "date_to",
    "expires_at",
    "min_visitors",
    "share_link",
    "link_password",
)
# Kept equal to the server's (`ot.accounts.passwords.LINK_PASSWORD_MIN_LENGTH`,
# `ot.grants.store.MAX_MIN_VISITORS`); the server checks again and the form shows its refusal.
LINK_PASSWORD_MIN_LENGTH = 8
MAX_MIN_VISITORS = 1_000_000
MAX_NAMES = 100
DEFAULT_DAYS = 30
# Examples only: the names are the Stats API's, and the server says which one it does not know.
METRIC_EXAMPLES = (
    "visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration, events"
)
DIMENSION_EXAMPLES = "event:page, visit:source, visit:country, visit:device, time:day, time:month"


@dataclass
class GrantForm:
    """What the form holds, as typed."""

    grantee: str = ""
    purpose: str = ""
    site_ids: list[int] = field(default_factory=list)
    metrics: str = ""
    dimensions: str = ""
    date_from: str = ""
    date_to: str = ""
    expires_on: str = ""
    min_visitors: str = ""
    share_link: bool = False
    link_password: str = ""


def split_names(text: str) -> list[str]:
    return [name for name in re.split(r"[,\s]+", text) if name]


def _day(text: str, errors: dict[str, str], field_name: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field_name] = f"“{text}” is not a day: write it as YYYY-MM-DD."
        return None


def check_grant_form(form: GrantForm, today: date) -> tuple[dict[str, str], dict[str, Any]]:
    """The form's problems by field and, when there are none, `create_grant`'s arguments."""
    errors: dict[str, str] = {}
    grantee, purpose = form.grantee.strip(), form.purpose.strip()
    if not grantee:
        errors["grantee"] = "Name the third party who may read."
    elif len(grantee) > 200:
        errors["grantee"] = "At most 200 characters."
    if not purpose:
        errors["purpose"] = "Say what they may read it for."
    elif len(purpose) > 2000:
        errors["purpose"] = "At most 2000 characters."
    if not form.site_ids:
        errors["site_ids"] = "Tick at least one site (space ticks)."
    elif len(form.site_ids) > MAX_NAMES:
        errors["site_ids"] = f"At most {MAX_NAMES} sites."
    metrics, dimensions = split_names(form.metrics), split_names(form.dimensions)
    for name, values in (("metrics", metrics), ("dimensions", dimensions)):
        if len(values) > MAX_NAMES:
            errors[name] = f"At most {MAX_NAMES}."
        elif len(set(values)) != len(values):
            errors[name] = "Name each one once."
        elif any(len(value) > 200 for value in values):
            errors[name] = "A name is at most 200 characters."
    if not metrics and "metrics" not in errors:
        errors["metrics"] = "Name at least one metric, such as visitors."
    date_from = _day(form.date_from, errors, "date_from")
    date_to = _day(form.date_to, errors, "date_to")
    if date_from and date_to and date_from > date_to:
        errors["date_from"] = "The first day comes after the last."
    expires_on = _day(form.expires_on, errors, "expires_at")
    last_expiry = today + timedelta(days=MAX_GRANT_DAYS)
    if "expires_at" in errors:
        pass
    elif expires_on is None:
        errors["expires_at"] = "Say until when: a grant always ends."
    elif expires_on <= today:
        errors["expires_at"] = f"{expires_on} is not in the future: choose a later day."
    elif expires_on > last_expiry:
        errors["expires_at"] = (
            f"A grant may run for at most {MAX_GRANT_DAYS} days: until {last_expiry} at most."
        )
    min_visitors: int | None = None
    if form.min_visitors.strip():
        try:
            min_visitors = int(form.min_visitors.strip())
        except ValueError:
            errors["min_visitors"] = "A whole number, such as 5 (empty: no minimum)."
        else:
            if not 0 <= min_visitors <= MAX_MIN_VISITORS:
                errors["min_visitors"] = f"From 0 to {MAX_MIN_VISITORS}."
    password = form.link_password
    if password and not form.share_link:
        errors["link_password"] = "A password protects a share link: tick “Share link” too."
    elif password and not LINK_PASSWORD_MIN_LENGTH <= len(password) <= LINK_PASSWORD_MAX_LENGTH:
        errors["link_password"] = (
            f"{LINK_PASSWORD_MIN_LENGTH} to {LINK_PASSWORD_MAX_LENGTH} characters."
        )
    if errors:
        return errors, {}
    assert expires_on is not None
    terms: dict[str, Any] = {
        "grantee": grantee,
        "purpose": purpose,
        "site_ids": form.site_ids,
        "metrics": metrics,
        "dimensions": dimensions,
        # The start of that day, UTC: "until 2027-01-01" means it no longer works on that day.
        "expires_at": datetime.combine(expires_on, time(0), tzinfo=UTC),
        "share_link": form.share_link,
    }
    if date_from is not None:
        terms["date_from"] = date_from
    if date_to is not None:
        terms["date_to"] = date_to
    if min_visitors is not None:
        terms["min_visitors"] = min_visitors
    if password:
        terms["link_password"] = password
    return {}, terms


class NewGrantScreen(Screen[IssuedGrantOut | None]):
    HELP = """# New grant

Let a third party read some of your statistics through a key of their own (and, if you want,
a share link): only the sites, metrics and dimensions you name, only the days of the window,
until the grant expires or you revoke it. Every read they make is logged for you to see.

- **Metrics** and **dimensions**: the Stats API's names, separated by commas.
- **Window**: the first and last day they may read (empty: no limit).
- **Minimum visitors per row (k)**: rows with fewer visitors are hidden (empty or 0: none).
- **Expires on**: the grant stops working at the start of that day (UTC).
"""
    DEFAULT_CSS = """
    NewGrantScreen VerticalScroll {
        padding: 0 2;
    }
    NewGrantScreen Label {
        padding: 1 0 0 0;
    }
    NewGrantScreen SelectionList {
        height: auto;
        max-height: 8;
    }
    NewGrantScreen .row {
        height: auto;
    }
    NewGrantScreen .row > Input {
        width: 1fr;
    }
    """
    AUTO_FOCUS = "#grantee"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create grant"),
    ]

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with VerticalScroll():
            yield Label("Third party (who may read)")
            yield Input(id="grantee", max_length=200, placeholder="e.g. Example Research Ltd")
            yield error_label("grantee")
            yield Label("Purpose (what for)")
            yield Input(id="purpose", max_length=2000, placeholder="e.g. yearly benchmark")
            yield error_label("purpose")
            yield Label("Sites (space ticks)")
            yield SelectionList[int](id="site_ids")
            yield error_label("site_ids")
            yield Label("Metrics (separated by commas)")
            yield Input("visitors, pageviews", id="metrics")
            yield Static(METRIC_EXAMPLES, classes="hint")
            yield error_label("metrics")
            yield Label("Dimensions to break down by (optional)")
            yield Input(id="dimensions", placeholder="e.g. event:page, time:day")
            yield Static(DIMENSION_EXAMPLES, classes="hint")
            yield error_label("dimensions")
            yield Label("Window: first and last day it may read (YYYY-MM-DD, optional)")
            with Horizontal(classes="row"):
                yield Input(id="date_from", placeholder="first day")
                yield Input(id="date_to", placeholder="last day")
            yield error_label("date_from")
            yield error_label("date_to")
            yield Label("Expires on (YYYY-MM-DD, at 00:00 UTC)")
            yield Input(id="expires_at")
            yield error_label("expires_at")
            yield Label("Minimum visitors per row, k (optional)")
            yield Input(id="min_visitors", placeholder="e.g. 5", type="integer")
            yield error_label("min_visitors")
            yield Checkbox("Share link too (read with a link token instead of the key)", id="share")
            yield error_label("share_link")
            yield Label("Share link password (optional, 8 characters or more)")
            yield Input(id="link_password", password=True)
            yield error_label("link_password")
            yield error_label("form")
            with Horizontal(classes="buttons"):
                yield Button("Create grant (ctrl+s)", id="create", variant="primary")
                yield Button("Cancel (esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "New third-party grant"
        today = app_of(self).now().date()
        self.query_one("#expires_at", Input).value = (
            today + timedelta(days=DEFAULT_DAYS)
        ).isoformat()
        self.load_sites()
        # Focusing the first field scrolls the form past its label; back to the top.
        self.call_after_refresh(self.query_one(VerticalScroll).scroll_home, animate=False)

    @work(exclusive=True, group="grant-sites")
    async def load_sites(self) -> None:
        chooser: SelectionList[int] = self.query_one("#site_ids", SelectionList)
        sites = await attempt(self, client_of(self).list_sites(), busy=chooser)
        if sites is None:
            return
        chooser.clear_options()
        chooser.add_options([(site.domain, site.id) for site in sites.sites])
        if sites.sites:
            chooser.highlighted = 0  # so space ticks the first at once
        if not sites.sites:
            show_field_errors(self, {"site_ids": "You have no sites yet: add one first."}, FIELDS)

    def form(self) -> GrantForm:
        def text(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value

        chooser: SelectionList[int] = self.query_one("#site_ids", SelectionList)
        return GrantForm(
            grantee=text("grantee"),
            purpose=text("purpose"),
            site_ids=list(chooser.selected),
            metrics=text("metrics"),
            dimensions=text("dimensions"),
            date_from=text("date_from"),
            date_to=text("date_to"),
            expires_on=text("expires_at"),
            min_visitors=text("min_visitors"),
            share_link=self.query_one("#share", Checkbox).value,
            link_password=text("link_password"),
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self.action_create()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_create(self) -> None:
        errors, terms = check_grant_form(self.form(), app_of(self).now().date())
        self._show(errors)
        if not errors:
            self.create(terms)

    def _show(self, errors: dict[str, str]) -> None:
        show_field_errors(self, errors, FIELDS)
        if errors:
            first = next((name for name in FIELDS if name in errors), "form")
            shown = self.query(f"#error-{first}")
            if shown:
                shown.first().scroll_visible()
            self.notify(
                "Please correct the fields marked in red.", title="Not sent", severity="warning"
            )

    def _refused(self, error: Invalid) -> None:
        self._show({field_of(error) or "form": error.message})

    @work(exclusive=True, group="grant-new")
    async def create(self, terms: dict[str, Any]) -> None:
        call = client_of(self).create_grant(**terms)
        issued = await attempt_form(self, call, self._refused)
        if issued is not None:
            self.dismiss(issued)
