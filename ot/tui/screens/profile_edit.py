"""Correcting the profile: name, company, address, phone and the hosting region. Checked here
before anything is sent, each change shown old → new for a confirmation, then saved."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ot.api.accounts import CONTACT_LIMITS, MAX_NAME_LENGTH, ProfileOut
from ot.tui.calls import attempt, client_of
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.profile_format import REGIONS, region_name, shown
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader

FIELD_LABELS = {
    "name": "Name",
    "company": "Company",
    "address": "Address",
    "phone": "Phone",
    "region": "Region",
}
LIMITS = {"name": MAX_NAME_LENGTH, **CONTACT_LIMITS}


def consent_wording(region: str) -> str:
    return f"I consent: my account's data moves to and is hosted in {region_name(region)}"


def changes_of(profile: ProfileOut, typed: dict[str, str]) -> dict[str, str]:
    """The fields whose typed value differs from the profile's (spaces around a value do not
    count as a change)."""
    current = {
        "name": profile.name,
        "company": profile.company,
        "address": profile.address,
        "phone": profile.phone,
        "region": profile.region or "",
    }
    return {
        field: value.strip()
        for field, value in typed.items()
        if value.strip() != (current[field] or "").strip()
    }


def problems_with(changes: dict[str, str], *, consent: bool) -> list[str]:
    """What the server would refuse, said before anything is sent."""
    found = []
    if "name" in changes and not changes["name"]:
        found.append("Your name cannot be empty.")
    for field, limit in LIMITS.items():
        if len(changes.get(field, "")) > limit:
            found.append(f"{FIELD_LABELS[field]} is too long: at most {limit} characters.")
    if "region" in changes and not consent:
        found.append(
            f"Moving to {region_name(changes['region'])} needs your consent: tick the box."
        )
    return found


def confirmation(profile: ProfileOut, changes: dict[str, str]) -> str:
    current = {
        "name": profile.name,
        "company": profile.company,
        "address": profile.address,
        "phone": profile.phone,
    }
    lines = ["Save these changes?", ""]
    for field, value in changes.items():
        if field == "region":
            old, new = region_name(profile.region), region_name(value)
        else:
            old, new = shown(current[field]), shown(value)
        lines.append(f"{FIELD_LABELS[field]}: {old} → {new}")
    return "\n".join(lines)


class ProfileEditScreen(Screen[ProfileOut | None]):
    HELP = """# Correct your profile

Change what needs changing and press `ctrl+s` (or Save). You see each change, old → new,
before it is saved. Your name cannot be empty. Moving your data to another region needs your
explicit consent. Your log-in e-mail and password are changed on the Security tab.
"""
    DEFAULT_CSS = """
    ProfileEditScreen .row {
        height: 3;
    }
    ProfileEditScreen .row Label {
        width: 11;
        padding: 1 1 0 1;
    }
    ProfileEditScreen .row Input, ProfileEditScreen .row Select {
        width: 1fr;
    }
    ProfileEditScreen #problems {
        padding: 0 1;
    }
    ProfileEditScreen #consent {
        display: none;
    }
    ProfileEditScreen #consent.asked {
        display: block;
    }
    """
    BINDINGS = [
        Binding("escape,q", "cancel", "Back", key_display="Esc"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, profile: ProfileOut) -> None:
        super().__init__()
        self.profile = profile

    def compose(self) -> ComposeResult:
        profile = self.profile
        yield TitleHeader()
        with VerticalScroll():
            for field, value in (
                ("name", profile.name),
                ("company", profile.company),
                ("address", profile.address),
                ("phone", profile.phone),
            ):
                with Horizontal(classes="row"):
                    yield Label(FIELD_LABELS[field])
                    # Correcting, not replacing: the cursor lands after the value.
                    yield Input(value, id=field, max_length=LIMITS[field], select_on_focus=False)
            with Horizontal(classes="row"):
                yield Label("Region")
                yield Select(
                    [(region_name(region), region) for region in REGIONS],
                    value=profile.region if profile.region in REGIONS else Select.BLANK,
                    allow_blank=profile.region not in REGIONS,
                    id="region",
                )
            yield Checkbox(consent_wording(profile.region or ""), id="consent")
            yield Static(id="problems", classes="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Correct your profile"
        self.query_one("#name", Input).focus()

    def typed(self) -> dict[str, str]:
        values = {field: self.query_one(f"#{field}", Input).value for field in LIMITS}
        region = self.query_one("#region", Select).value
        values["region"] = region if isinstance(region, str) else (self.profile.region or "")
        return values

    def on_select_changed(self, event: Select.Changed) -> None:
        consent = self.query_one("#consent", Checkbox)
        moving = isinstance(event.value, str) and event.value != self.profile.region
        consent.set_class(moving, "asked")
        if isinstance(event.value, str):
            consent.label = consent_wording(event.value)
        consent.value = False  # consent is given to one region, never carried to another
        if moving:
            self.call_after_refresh(consent.scroll_visible)  # once it is displayed

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.save()

    @work(exclusive=True, group="save-profile")
    async def save(self) -> None:
        changes = changes_of(self.profile, self.typed())
        problems_shown = self.query_one("#problems", Static)
        if not changes:
            problems_shown.update("Nothing has changed.")
            return
        consent = self.query_one("#consent", Checkbox).value
        problems = problems_with(changes, consent=consent)
        problems_shown.update("\n".join(problems))
        if problems:
            problems_shown.scroll_visible()
            self.notify(" ".join(problems), title="Please correct", severity="warning")
            return
        if not await self.app.push_screen_wait(
            ConfirmScreen(confirmation(self.profile, changes), yes="Save")
        ):
            return
        sent: dict[str, Any] = dict(changes)
        if "region" in changes:
            sent["consent"] = True
        updated = await attempt(
            self, client_of(self).update_profile(**sent), busy=self.query_one("#save")
        )
        if updated is None:
            return
        said = ", ".join(FIELD_LABELS.get(field, field).lower() for field in updated.changed)
        self.notify(f"Saved: {said or 'no change'}.", title="Profile saved")
        self.dismiss(updated.profile)
