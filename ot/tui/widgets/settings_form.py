"""A site's settings as a form (`SiteSettingsIn`'s fields): filled from a `SiteOut`, read back
as the changes the user made, checked here first (an IANA time zone, whole days) so the common
mistakes are said at their field before anything is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ot.api.sites import MAX_RETENTION_DAYS, SiteOut

VISITOR_MODES = [
    ("Cookie: the tracker keeps a random id, uniques exact across days", "cookie"),
    ("Cookieless: a daily hash, nothing stored on the device", "cookieless"),
]
IP_POLICIES = [
    ("Truncated: the network only (IPv4 /24, IPv6 /48)", "truncated"),
    ("Not kept", "none"),
    ("Kept whole", "full"),
]
FIELD_LABELS = {
    "timezone": "Time zone",
    "visitor_mode": "Visitors",
    "ip_policy": "IP addresses",
    "excluded_ips": "Excluded IPs",
    "excluded_paths": "Excluded paths",
    "hash_routing": "Hash routing",
    "respect_do_not_track": "Respect Do-Not-Track",
    "retention_days": "Raw hits kept",
}
FIELDS = tuple(FIELD_LABELS)


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone the server knows, in words; None when it is one."""
    if not name:
        return "give a time zone, such as Europe/Amsterdam or UTC"
    if name in known_time_zones():
        return None
    close = sorted(zone for zone in known_time_zones() if zone.lower() == name.lower())
    hint = f" (did you mean {close[0]}?)" if close else ", such as Europe/Amsterdam or UTC"
    return f"“{name}” is not an IANA time zone name{hint}"


def shown_value(field: str, value: Any) -> str:
    """A setting's value as the confirmation step says it."""
    if field in ("excluded_ips", "excluded_paths"):
        return ", ".join(value) if value else "none"
    if field in ("hash_routing", "respect_do_not_track"):
        return "yes" if value else "no"
    if field == "retention_days":
        return "until the site is removed" if value is None else f"{value} days"
    choices = dict((v, label.split(":")[0]) for label, v in VISITOR_MODES + IP_POLICIES)
    return choices.get(str(value), str(value))


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        before, after = shown_value(self.field, self.before), shown_value(self.field, self.after)
        return f"{FIELD_LABELS[self.field]}: {before} → {after}"


def _items(text: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", text) if item]


class SettingsForm(VerticalScroll):
    """The form; `changes()` answers what differs from the site shown, or marks the fields
    that are wrong and answers None."""

    DEFAULT_CSS = """
    SettingsForm {
        padding: 0 1;
    }
    SettingsForm Label {
        padding: 1 0 0 0;
    }
    SettingsForm .field-error {
        color: $error;
        height: auto;
        display: none;
    }
    SettingsForm Checkbox {
        margin: 1 0 0 0;
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("Time zone (an IANA name; days are counted in it)")
        yield Input(id="timezone", placeholder="Europe/Amsterdam")
        yield Static("", id="timezone-error", classes="field-error")
        yield Label("Visitors are told apart by")
        yield Select(VISITOR_MODES, id="visitor_mode", allow_blank=False)
        yield Static("", id="visitor_mode-error", classes="field-error")
        yield Label("Visitors' IP addresses")
        yield Select(IP_POLICIES, id="ip_policy", allow_blank=False)
        yield Static("", id="ip_policy-error", classes="field-error")
        yield Label("Excluded IPs or networks (hits from them are not counted)")
        yield Input(id="excluded_ips", placeholder="203.0.113.7, 198.51.100.0/24")
        yield Static("", id="excluded_ips-error", classes="field-error")
        yield Label("Excluded paths (* one segment, ** any depth)")
        yield Input(id="excluded_paths", placeholder="/admin/**, /preview/*")
        yield Static("", id="excluded_paths-error", classes="field-error")
        yield Checkbox("Hash routing: the part after # names the page", id="hash_routing")
        yield Checkbox(
            "Respect Do-Not-Track: such browsers are not counted", id="respect_do_not_track"
        )
        yield Label(f"Keep raw hits for (days, 1 to {MAX_RETENTION_DAYS:,}; empty: until removal)")
        yield Input(id="retention_days", type="integer")
        yield Static("", id="retention_days-error", classes="field-error")
        yield Static("", id="hash_routing-error", classes="field-error")
        yield Static("", id="respect_do_not_track-error", classes="field-error")
        yield Button("Review and save (ctrl+s)", id="review", variant="primary")

    def show(self, site: SiteOut) -> None:
        """Fill the form with the site's settings, clearing any error shown."""
        self.query_one("#timezone", Input).value = site.timezone
        self.query_one("#visitor_mode", Select).value = str(site.visitor_mode)
        self.query_one("#ip_policy", Select).value = str(site.ip_policy)
        self.query_one("#excluded_ips", Input).value = ", ".join(site.excluded_ips)
        self.query_one("#excluded_paths", Input).value = ", ".join(site.excluded_paths)
        self.query_one("#hash_routing", Checkbox).value = site.hash_routing
        self.query_one("#respect_do_not_track", Checkbox).value = site.respect_do_not_track
        retention = site.retention_days
        self.query_one("#retention_days", Input).value = "" if retention is None else str(retention)
        self.clear_errors()

    def clear_errors(self) -> None:
        for field in FIELDS:
            error = self.query_one(f"#{field}-error", Static)
            error.update("")
            error.display = False  # no empty line under every field

    def show_error(self, field: str | None, message: str) -> bool:
        """Say `message` at `field`'s place; False when the form has no such field."""
        if field not in FIELDS:
            return False
        error = self.query_one(f"#{field}-error", Static)
        error.update(message)
        error.display = True
        return True

    def changes(self, site: SiteOut) -> list[Change] | None:
        """What the user changed; None (the problems shown at their fields) when a value is
        wrong."""
        self.clear_errors()
        wanted: dict[str, Any] = {
            "timezone": self.query_one("#timezone", Input).value.strip(),
            "visitor_mode": self.query_one("#visitor_mode", Select).value,
            "ip_policy": self.query_one("#ip_policy", Select).value,
            "excluded_ips": _items(self.query_one("#excluded_ips", Input).value),
            "excluded_paths": _items(self.query_one("#excluded_paths", Input).value),
            "hash_routing": self.query_one("#hash_routing", Checkbox).value,
            "respect_do_not_track": self.query_one("#respect_do_not_track", Checkbox).value,
        }
        problems = False
        zone_problem = time_zone_problem(wanted["timezone"])
        if zone_problem:
            problems = self.show_error("timezone", zone_problem)
        retention = self.query_one("#retention_days", Input).value.strip()
        if not retention:
            wanted["retention_days"] = None
        elif retention.isdigit() and 1 <= int(retention) <= MAX_RETENTION_DAYS:
            wanted["retention_days"] = int(retention)
        else:
            problems = self.show_error(
                "retention_days",
                f"a whole number of days from 1 to {MAX_RETENTION_DAYS:,}, or empty to keep raw "
                "hits until the site is removed",
            )
        if problems:
            return None
        current = {
            "timezone": site.timezone,
            "visitor_mode": str(site.visitor_mode),
            "ip_policy": str(site.ip_policy),
            "excluded_ips": site.excluded_ips,
            "excluded_paths": site.excluded_paths,
            "hash_routing": site.hash_routing,
            "respect_do_not_track": site.respect_do_not_track,
            "retention_days": site.retention_days,
        }
        return [
            Change(field, current[field], wanted[field])
            for field in FIELDS
            if wanted[field] != current[field]
        ]
