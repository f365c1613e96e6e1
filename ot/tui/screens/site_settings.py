"""One site's settings: what it is and its tracking snippet (copied with c), verifying the
domain, editing its settings with a confirmation of what changes, its goals, and removing it
(typing the domain to confirm)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from ot.api.dashboard import Snippet
from ot.api.goals import GoalList, GoalOut
from ot.api.sites import SiteOut, VerifyOut
from ot.client import ClientError, Invalid
from ot.tui.calls import app_of, attempt, client_of
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.widgets.footer import KeyFooter
from ot.tui.widgets.header import TitleHeader
from ot.tui.widgets.settings_form import SettingsForm, shown_value

TABS = ("tab-site", "tab-settings", "tab-goals", "tab-remove")
GOAL_KINDS = [("Page reached", "page"), ("Custom event", "event")]
VERIFY_METHODS = {"dns_txt": "its DNS TXT record", "html_file": "the file on its web server"}


class SiteSettingsScreen(Screen[bool]):
    """Dismissed with True when the site was changed or removed (the sites list reloads)."""

    HELP = """# Site settings

**1 Site**: the site, whether its domain is verified, and its tracking snippet — paste the
snippet into the `<head>` of every page. **c** copies it (through your terminal: if it does not
support that, select the text). **v** verifies the domain: publish the token shown, as a file or
a DNS TXT record, then press v.

**2 Settings**: time zone, how visitors are told apart, what is kept of IP addresses,
exclusions, hash routing, Do-Not-Track and how long raw hits are kept. **ctrl+s** shows what
changes and saves it once you confirm.

**3 Goals**: pages reached or custom events counted as conversions. Add one below the list;
**x** (or delete) removes the goal under the cursor.

**4 Remove**: removes the site and everything stored for it, once you type its domain.
"""
    DEFAULT_CSS = """
    SiteSettingsScreen #snippet {
        height: 8;
    }
    SiteSettingsScreen VerticalScroll {
        padding: 0 1;
    }
    SiteSettingsScreen .field-error {
        color: $error;
        height: auto;
    }
    SiteSettingsScreen #goals {
        height: 1fr;
        min-height: 4;
    }
    SiteSettingsScreen #new-goal {
        height: auto;
    }
    SiteSettingsScreen #goal-kind {
        width: 22;
    }
    SiteSettingsScreen #goal-target {
        width: 1fr;
    }
    SiteSettingsScreen #removal {
        padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("1", "tab(0)", "Site", show=False),
        Binding("2", "tab(1)", "Settings", show=False),
        Binding("3", "tab(2)", "Goals", show=False),
        Binding("4", "tab(3)", "Remove", show=False),
        Binding("c", "copy_snippet", "Copy snippet"),
        Binding("v", "verify", "Verify"),
        Binding("ctrl+s", "review", "Save settings", priority=True),
        Binding("x,delete", "remove_goal", "Remove goal", show=False),
    ]

    class Loaded(Message):
        def __init__(self, site: SiteOut, snippet: Snippet | None, goals: GoalList | None) -> None:
            super().__init__()
            self.site = site
            self.snippet = snippet
            self.goals = goals

    class Verified(Message):
        def __init__(self, answer: VerifyOut) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, site_id: int) -> None:
        super().__init__()
        self.site_id = site_id
        self.site: SiteOut | None = None
        self.goals: list[GoalOut] = []
        self.changed = False

    def compose(self) -> ComposeResult:
        yield TitleHeader()
        with TabbedContent(id="tabs"):
            with TabPane("1 Site", id="tab-site"), VerticalScroll():
                yield Static("Loading…", id="summary")
                yield Static("", id="verification")
                yield Static("", id="verify-result")
                yield Label("Tracking snippet, for the <head> of every page (c copies it):")
                yield TextArea("", id="snippet", read_only=True, soft_wrap=True)
            with TabPane("2 Settings", id="tab-settings"):
                yield SettingsForm(id="settings")
            with TabPane("3 Goals", id="tab-goals"), Vertical():
                yield DataTable(id="goals", cursor_type="row")
                yield Static("x removes the goal under the cursor.", classes="hint")
                with Horizontal(id="new-goal"):
                    yield Select(GOAL_KINDS, id="goal-kind", allow_blank=False)
                    yield Input(id="goal-target", placeholder="/thanks, /blog/** or Signup")
                    yield Button("Add", id="add-goal")
                yield Static("", id="goal-error", classes="field-error")
            with TabPane("4 Remove", id="tab-remove"), Vertical(id="removal"):
                yield Static("", id="removal-warning")
                yield Label("Type the site's domain to confirm:")
                yield Input(id="confirm-domain")
                yield Button("Remove the site", id="remove-site", variant="error", disabled=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#goals", DataTable).add_columns("Goal", "Counts", "Target")
        self.load()

    # --- loading --------------------------------------------------------------------------

    @work(exclusive=True, group="site-settings")
    async def load(self) -> None:
        client = client_of(self)
        site = await attempt(self, client.site(self.site_id), busy=self.query_one("#summary"))
        if site is None:
            return
        snippet = await attempt(self, client.snippet(self.site_id))
        goals = await attempt(self, client.list_goals(self.site_id))
        self.post_message(self.Loaded(site, snippet, goals))

    def on_site_settings_screen_loaded(self, message: Loaded) -> None:
        site = self.site = message.site
        self.sub_title = f"{site.domain} · settings"
        self.query_one("#summary", Static).update(_summary(site))
        self.query_one("#verification", Static).update(_verification(site))
        if message.snippet is not None:
            self.query_one("#snippet", TextArea).text = message.snippet.snippet
        self.query_one(SettingsForm).show(site)
        if message.goals is not None:
            self.show_goals(message.goals.goals)
        self.query_one("#removal-warning", Static).update(
            f"Removing {site.domain} deletes every hit, total and goal stored for it, for good."
        )

    def show_goals(self, goals: list[GoalOut]) -> None:
        self.goals = goals
        table = self.query_one("#goals", DataTable)
        table.clear()
        for goal in goals:
            kind = "page reached" if goal.kind == "page" else "custom event"
            table.add_row(goal.name, kind, goal.target, key=str(goal.id))

    # --- keys -----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(self.changed)

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]

    def action_copy_snippet(self) -> None:
        snippet = self.query_one("#snippet", TextArea).text
        if not snippet:
            return
        self.app.copy_to_clipboard(snippet)
        self.notify(
            "Snippet copied — if your terminal does not support it, select the text.",
            title="Copied",
        )

    # --- verification ---------------------------------------------------------------------

    def action_verify(self) -> None:
        self.action_tab(0)
        self.verify()

    @work(exclusive=True, group="site-verify")
    async def verify(self) -> None:
        result = self.query_one("#verify-result", Static)
        result.update("Looking for the token…")
        answer = await attempt(self, client_of(self).verify_site(self.site_id))
        if answer is None:
            result.update("")
            return
        self.post_message(self.Verified(answer))
        site = await attempt(self, client_of(self).site(self.site_id))
        if site is not None:  # the token may have been made by this request
            self.site = site
            self.query_one("#verification", Static).update(_verification(site))

    def on_site_settings_screen_verified(self, message: Verified) -> None:
        answer = message.answer
        result = self.query_one("#verify-result", Static)
        if answer.verified:
            how = VERIFY_METHODS.get(answer.method or "", "")
            result.update(f"Verified{' by ' + how if how else ''}. {answer.hint}".strip())
        else:
            checked = app_of(self).now().strftime("%H:%M UTC")
            result.update(
                f"[b]Not verified yet[/b] (checked {checked}): the token is neither in a DNS TXT "
                "record nor in the file. Publish it in one of the places above, then press v "
                "again (a new DNS record may take a while to be seen)."
            )

    # --- settings -------------------------------------------------------------------------

    @on(Button.Pressed, "#review")
    def review_pressed(self) -> None:
        self.save_settings()

    def action_review(self) -> None:
        self.save_settings()

    @work(exclusive=True, group="site-save")
    async def save_settings(self) -> None:
        if self.site is None:
            return
        form = self.query_one(SettingsForm)
        self.action_tab(1)
        changes = form.changes(self.site)
        if changes is None:
            return
        if not changes:
            self.notify("Nothing to save: the settings are as they were.", title="No changes")
            return
        question = "Save these changes to {}?\n\n{}".format(
            self.site.domain, "\n".join(f"• {change}" for change in changes)
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Save")):
            return
        try:
            site = await client_of(self).update_site(
                self.site_id, **{change.field: change.after for change in changes}
            )
        except Invalid as error:  # said at its field, the form kept as typed
            if not form.show_error(error.field, error.message):
                app_of(self).report(error)
            return
        except ClientError as error:
            app_of(self).report(error)
            return
        self.changed = True
        self.site = site
        form.show(site)
        self.query_one("#summary", Static).update(_summary(site))
        self.notify(f"{len(changes)} setting(s) of {site.domain} saved.", title="Saved")

    # --- goals ----------------------------------------------------------------------------

    @on(Button.Pressed, "#add-goal")
    @on(Input.Submitted, "#goal-target")
    def add_goal_pressed(self) -> None:
        self.add_goal()

    @work(exclusive=True, group="site-goals")
    async def add_goal(self) -> None:
        target_input = self.query_one("#goal-target", Input)
        target = target_input.value.strip()
        error = self.query_one("#goal-error", Static)
        kind = self.query_one("#goal-kind", Select).value
        if not target:
            error.update("Give a page path pattern such as /thanks, or a custom event's name.")
            return
        error.update("")
        given = {"page": target} if kind == "page" else {"event": target}
        try:
            await client_of(self).add_goal(self.site_id, **given)
        except Invalid as refused:
            error.update(refused.message)
            return
        except ClientError as failed:
            app_of(self).report(failed)
            return
        target_input.value = ""
        goals = await attempt(self, client_of(self).list_goals(self.site_id))
        if goals is not None:
            self.show_goals(goals.goals)
        self.notify(f"Goal {target} added.", title="Goals")

    def action_remove_goal(self) -> None:
        table = self.query_one("#goals", DataTable)
        if not table.has_focus or not self.goals:
            return
        goal = self.goals[table.cursor_row]
        self.remove_goal(goal)

    @work(exclusive=True, group="site-goals")
    async def remove_goal(self, goal: GoalOut) -> None:
        question = f"Remove the goal “{goal.name}”? Its past conversions are no longer counted."
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Remove")):
            return
        removed = await attempt(self, client_of(self).remove_goal(self.site_id, goal.id))
        if removed is None:
            return
        goals = await attempt(self, client_of(self).list_goals(self.site_id))
        if goals is not None:
            self.show_goals(goals.goals)
        self.notify(f"Goal {goal.name} removed.", title="Goals")

    # --- removing the site ----------------------------------------------------------------

    @on(Input.Changed, "#confirm-domain")
    def domain_typed(self, event: Input.Changed) -> None:
        matches = self.site is not None and event.value.strip() == self.site.domain
        self.query_one("#remove-site", Button).disabled = not matches

    @on(Button.Pressed, "#remove-site")
    def remove_pressed(self) -> None:
        self.remove_site()

    @work(exclusive=True, group="site-remove")
    async def remove_site(self) -> None:
        site = self.site
        if site is None or self.query_one("#confirm-domain", Input).value.strip() != site.domain:
            return
        removed = await attempt(self, client_of(self).remove_site(self.site_id))
        if removed is None:
            return
        self.notify(f"{site.domain} and everything stored for it were removed.", title="Removed")
        self.dismiss(True)


def _summary(site: SiteOut) -> str:
    retention = shown_value("retention_days", site.retention_days)
    visitors = shown_value("visitor_mode", site.visitor_mode).lower()
    ips = shown_value("ip_policy", site.ip_policy).lower()
    return (
        f"[b]{site.domain}[/b], added {site.created_at:%Y-%m-%d}\n"
        f"Days counted in {site.timezone} · visitors: {visitors} · IP addresses: {ips}"
        f" · raw hits kept {retention}"
    )


def _verification(site: SiteOut) -> str:
    if site.verified_at is not None:
        return f"[b]Verified[/b] on {site.verified_at:%Y-%m-%d}: you control {site.domain}."
    proof = site.verification
    if proof is None:
        return "[b]Not verified.[/b] Press v: you will be shown a token to publish on the domain."
    return (
        "[b]Not verified.[/b] Publish this token where the domain shows it, in either place, "
        "then press v:\n"
        f"• a plain-text file at {proof.file_url} holding {proof.token}\n"
        f"• or a DNS TXT record at {proof.dns_name} holding {proof.dns_value}"
    )
