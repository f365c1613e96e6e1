"""`ot tui`, "who sees what" (`w` from the sites): the customer sees exactly who may see their
statistics — the team and its roles, invitations, API keys, third parties' grants — and what each
third party read and when; makes and revokes each of them, every secret shown once; a form that
is wrong says so at the field and sends nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, SelectionList, TabbedContent

from ot.api.stats import StatsQuery
from ot.client import CredentialStore, OtClient
from ot.clock import ManualClock
from ot.config import Settings
from ot.models import MemberRole
from ot.tui.app import OtApp
from ot.tui.screens.access import AccessScreen
from ot.tui.screens.access_grants import GrantsPane
from ot.tui.screens.access_keys import KeysPane
from ot.tui.screens.access_secret import SecretScreen
from ot.tui.screens.access_team import TeamPane
from ot.tui.screens.confirm import ConfirmScreen
from ot.tui.screens.grant_new import GrantForm, NewGrantScreen, check_grant_form
from ot.tui.screens.grant_read import GrantReadScreen
from ot.tui.screens.grant_reads import PAGE, GrantReadsScreen
from ot.tui.screens.help import HelpScreen
from ot.tui.screens.key_new import NewKeyScreen
from ot.tui.screens.sites import SitesScreen
from ot.tui.screens.team_invite import InviteScreen
from ot.tui.screens.team_role import RoleScreen
from tests.account_support import EMAIL, PASSWORD
from tests.grants_support import SHARED, grant, read
from tests.support import bearer, logged_in
from tests.team_support import add_member, new_account
from tests.tui_support import (
    LARGE,
    SMALL,
    TUI,
    base_url_of,
    notifications,
    screen_text,
    tui_app,
    wait_for,
    wait_for_screen,
)

pytestmark = TUI

DOMAIN = "ada.example"


async def ada_logged_in(
    client: TestClient, tui_credentials: CredentialStore, clock: ManualClock
) -> tuple[OtApp, int]:
    """The app, started with Ada's stored session (she owns ada.example), and her site's id."""
    async with OtClient(base_url_of(client), credentials=tui_credentials) as first_run:
        await first_run.log_in(EMAIL, PASSWORD)
        site = await first_run.add_site(DOMAIN)
        # Starts the server's query processes now: started later, inside `run_test` (whose
        # stderr has no file descriptor), multiprocessing's forkserver fails to start.
        await first_run.query(StatsQuery(site_id=DOMAIN, metrics=["visitors"], date_range="7d"))
    return tui_app(client, tui_credentials, clock), site.id


# The tab each number key of the access screen chooses, and the pane it shows.
TABS: dict[str, tuple[str, type[Widget]]] = {
    "1": ("team-tab", TeamPane),
    "2": ("keys-tab", KeysPane),
    "3": ("grants-tab", GrantsPane),
}


async def open_access(pilot: Pilot[None], tab: str = "1") -> AccessScreen:
    """The access screen on `tab`, chosen by its number key at once, as a person would, and
    waited for until that tab's pane has the focus (its keys work from then on)."""
    await wait_for_screen(pilot, SitesScreen)
    pilot.app.push_screen(AccessScreen())
    await wait_for_screen(pilot, AccessScreen)
    screen = pilot.app.screen
    assert isinstance(screen, AccessScreen)
    chosen, pane = TABS[tab]
    tabs = screen.query_one(TabbedContent)

    def focus_in_pane() -> bool:
        focused = pilot.app.focused
        return focused is not None and any(
            isinstance(node, pane) for node in focused.ancestors_with_self
        )

    await pilot.press(tab)
    await wait_for(
        pilot, lambda: tabs.active == chosen and focus_in_pane(), f"the focus in {pane.__name__}"
    )
    return screen


def table_text(app: OtApp, table_id: str) -> str:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return "\n".join(
        " | ".join(str(cell) for cell in row)
        for row in (table.get_row_at(index) for index in range(table.row_count))
    )


async def rows_showing(pilot: Pilot[None], table_id: str, text: str) -> None:
    await wait_for(
        pilot, lambda: text in table_text(pilot.app, table_id), f"{text!r} in #{table_id}"
    )


async def showing(pilot: Pilot[None], text: str) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), f"{text!r} on the screen")


def fill(app: OtApp, **values: str) -> None:
    for field, value in values.items():
        app.screen.query_one(f"#{field}", Input).value = value


async def confirm(pilot: Pilot[None]) -> None:
    await wait_for_screen(pilot, ConfirmScreen)
    await pilot.press("y")


# --- API keys ---------------------------------------------------------------------------------


async def test_a_new_api_key_is_shown_once_works_as_a_bearer_and_is_refused_once_revoked(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot, "2")
        await showing(pilot, "No keys yet")
        await pilot.press("n")
        await wait_for_screen(pilot, NewKeyScreen)
        await pilot.press(*"reports")  # the name field has the focus; stats:read is ticked
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, SecretScreen)
        shown = app.screen
        assert isinstance(shown, SecretScreen)
        key = shown.secrets[0][1]
        assert key in screen_text(app)
        assert "shown this once" in screen_text(app)
        await pilot.press("c")
        assert app.clipboard == key
        await pilot.press("enter")
        await wait_for_screen(pilot, AccessScreen)
        await rows_showing(pilot, "keys", "reports | in use | stats:read")
        assert key not in screen_text(app)  # never again

        query = {"site_id": DOMAIN, "metrics": ["visitors"], "date_range": "7d"}
        answered = await client.post("/api/v2/query", json=query, headers=bearer(key))
        assert answered.status == 200, await answered.text()

        await pilot.press("d")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Revoke the key “reports”" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "is revoked" in " ".join(notifications(app)), "revoked")
        refused = await client.post("/api/v2/query", json=query, headers=bearer(key))
        assert refused.status == 401


async def test_a_key_without_a_name_or_scopes_is_refused_at_the_field_and_not_made(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot, "2")
        await pilot.press("n")
        await wait_for_screen(pilot, NewKeyScreen)
        app.screen.query_one(SelectionList).deselect_all()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Name the key" in screen_text(app), "the name's problem")
        assert "Choose at least one" in screen_text(app)
        await pilot.press("escape")
        await wait_for_screen(pilot, AccessScreen)
        await showing(pilot, "No keys yet")


# --- third parties ----------------------------------------------------------------------------


async def new_grant_form(pilot: Pilot[None]) -> NewGrantScreen:
    await open_access(pilot, "3")
    await showing(pilot, "No third party reads anything")
    await pilot.press("n")
    await wait_for_screen(pilot, NewGrantScreen)
    screen = pilot.app.screen
    assert isinstance(screen, NewGrantScreen)
    sites = screen.query_one("#site_ids", SelectionList)
    await wait_for(pilot, lambda: sites.option_count == 1, "Ada's site to choose")
    return screen


async def test_a_grant_made_in_the_form_reads_and_each_read_is_in_its_log_until_revoked(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, site_id = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=LARGE) as pilot:
        form = await new_grant_form(pilot)
        fill(
            app,
            grantee="Example Research Ltd",
            purpose="Benchmark of shop traffic",
            metrics="visitors, pageviews",
            dimensions="event:page",
            min_visitors="0",
        )
        form.query_one("#site_ids", SelectionList).focus()
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, SecretScreen)
        shown = app.screen
        assert isinstance(shown, SecretScreen)
        key = shown.secrets[0][1]
        assert key.startswith("otg_") and "shown this once" in screen_text(app)
        await pilot.press("enter")
        await wait_for_screen(pilot, AccessScreen)
        await rows_showing(pilot, "grants", "Example Research Ltd | active")
        assert DOMAIN in table_text(app, "grants") and key not in screen_text(app)

        query: dict[str, Any] = {
            "site_id": DOMAIN,
            "metrics": ["visitors"],
            "date_range": "7d",
            "dimensions": ["event:page"],
        }
        answered = await read(client, key, query, SHARED)
        assert answered.status == 200, await answered.text()
        refused = await read(client, key, {**query, "metrics": ["visits"]}, SHARED)
        assert refused.status == 403

        await pilot.press("enter")
        await wait_for_screen(pilot, GrantReadsScreen)
        await rows_showing(pilot, "reads", "refused")
        log = table_text(app, "reads")
        assert "key | answered" in log and "visitors | event:page" in log
        assert "refused" in log and "| visits |" in log
        assert "Benchmark of shop traffic" in screen_text(app)
        await pilot.press("enter")  # the newest read: the refused one
        await wait_for_screen(pilot, GrantReadScreen)
        assert f'"site_id": "{DOMAIN}"' in screen_text(app)
        assert '"visits"' in screen_text(app)
        await pilot.press("escape")
        await wait_for_screen(pilot, GrantReadsScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, AccessScreen)
        await pilot.press("r")
        await rows_showing(pilot, "grants", "active | 2 (")  # two reads, the last one when

        await pilot.press("d")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Revoke the grant of Example Research Ltd" in screen_text(app)
        await pilot.press("y")
        await rows_showing(pilot, "grants", "Example Research Ltd | revoked")
        after = await read(client, key, query, SHARED)
        assert after.status == 401
        assert site_id  # the grant named Ada's one site


async def test_a_grant_form_without_sites_or_expiring_in_the_past_says_so_and_makes_nothing(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await new_grant_form(pilot)
        yesterday = (clock.now() - timedelta(days=1)).date().isoformat()
        fill(app, grantee="Snoop Ltd", purpose="Curiosity", expires_at=yesterday)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Not sent" in " ".join(notifications(app)), "refused")
        screen = app.screen
        assert isinstance(screen, NewGrantScreen)
        errors = {
            label.id: str(label.render()) for label in screen.query(".field-error") if label.display
        }
        assert "Tick at least one site" in errors["error-site_ids"]
        assert f"{yesterday} is not in the future" in errors["error-expires_at"]
        assert "Tick at least one site" in screen_text(app)  # scrolled into view at 80x24
        await pilot.press("escape")
        await wait_for_screen(pilot, AccessScreen)
        await showing(pilot, "No third party reads anything")
        assert app.is_running
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        assert (await ada_client.list_grants()).grants == []


async def test_a_long_read_log_comes_a_page_at_a_time_oldest_last(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, site_id = await ada_logged_in(client, tui_credentials, clock)
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        ada_session = ada_client.token
    assert ada_session is not None
    granted = await grant(client, ada_session, [site_id])
    first = {"site_id": DOMAIN, "metrics": ["visitors"], "date_range": "30d"}
    assert (await read(client, granted["key"], first, SHARED)).status == 200
    later = {**first, "date_range": "7d"}
    for _ in range(PAGE):  # a whole page of newer reads
        await read(client, granted["key"], later, SHARED)

    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot, "3")
        await rows_showing(pilot, "grants", "Example Research Ltd")
        await pilot.press("enter")
        await wait_for_screen(pilot, GrantReadsScreen)
        await rows_showing(pilot, "reads", "(m: older reads)")
        assert app.screen.query_one("#reads", DataTable).row_count == PAGE + 1
        await pilot.press("m")
        await wait_for(pilot, lambda: "m: older" not in table_text(app, "reads"), "the last page")
        reads = app.screen.query_one("#reads", DataTable)
        assert reads.row_count == PAGE + 1  # the oldest read, and no more
        reads.move_cursor(row=PAGE)
        await pilot.press("enter")
        await wait_for_screen(pilot, GrantReadScreen)
        assert '"date_range": "30d"' in screen_text(app)


async def test_a_grant_the_server_refuses_is_shown_at_the_field_it_names(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        form = await new_grant_form(pilot)
        fill(app, grantee="Example Research Ltd", purpose="Benchmark", metrics="visitorz")
        form.query_one("#site_ids", SelectionList).focus()
        await pilot.press("space", "ctrl+s")
        await showing(pilot, 'unknown metric "visitorz"')
        problem = form.query_one("#error-metrics")
        assert problem.display and "visitorz" in str(problem.render())
        assert isinstance(app.screen, NewGrantScreen)  # still there, to correct
        fill(app, metrics="visitors")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, SecretScreen)


async def test_a_suspended_grant_says_why_and_answers_again_once_resumed(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    app, site_id = await ada_logged_in(client, tui_credentials, clock)
    grace = await new_account(settings, "Grace Hopper")
    membership = await add_member(settings, ada, grace, MemberRole.ADMIN)
    grace_session = (await logged_in(settings, grace)).token
    granted = await grant(client, grace_session, [site_id])
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        await ada_client.remove_member(membership)  # Grace's grant is suspended with her
    query = {"site_id": DOMAIN, "metrics": ["visitors"], "date_range": "7d"}
    assert (await read(client, granted["key"], query, SHARED)).status != 200

    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot, "3")
        await rows_showing(pilot, "grants", "suspended: its maker left the team")
        # The tab moves the focus into its table; once, on a loaded machine, `u` still found
        # it elsewhere (a 60 s wait for the dialog): the focus is put there and waited for.
        table = app.screen.query_one("#grants", DataTable)
        table.focus()
        await wait_for(pilot, lambda: table.has_focus, "the focus on the grants")
        await pilot.press("u")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Resume the grant of Example Research Ltd?" in screen_text(app)
        await pilot.press("y")
        await rows_showing(pilot, "grants", "Example Research Ltd | active")
    assert (await read(client, granted["key"], query, SHARED)).status == 200


# --- team -------------------------------------------------------------------------------------


async def test_an_invitation_is_sent_listed_and_withdrawn(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot)
        await showing(pilot, "None open")
        await pilot.press("i")
        await wait_for_screen(pilot, InviteScreen)
        await pilot.press(*"grace")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Give an e-mail" in screen_text(app), "the address refused")
        fill(app, email="grace@example.org")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, AccessScreen)
        await rows_showing(pilot, "invitations", "grace@example.org | viewer")
        app.screen.query_one("#invitations", DataTable).focus()
        await pilot.press("w")
        await confirm(pilot)
        await showing(pilot, "None open")
    async with OtClient(base_url_of(client), credentials=tui_credentials) as ada_client:
        assert (await ada_client.list_invitations()).invitations == []


async def test_members_roles_change_and_members_are_removed_after_a_confirmation(
    client: TestClient,
    settings: Settings,
    ada: int,
    tui_credentials: CredentialStore,
    clock: ManualClock,
) -> None:
    grace = await new_account(settings, "Grace Hopper")
    await add_member(settings, ada, grace, MemberRole.VIEWER)
    other_team = await new_account(settings, "Babbage & Co")
    await add_member(settings, other_team, ada, MemberRole.ADMIN)
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot)
        await rows_showing(pilot, "members", "Grace Hopper | viewer")
        await rows_showing(pilot, "memberships", f"team {other_team} | admin")
        text = screen_text(app)
        assert "Members of your team" in text and "Other teams you belong to" in text
        members = app.screen.query_one("#members", DataTable)
        members.move_cursor(row=1)  # row 0 is Ada herself
        await pilot.press("e")
        await wait_for_screen(pilot, RoleScreen)  # keys pressed before it opens would be lost
        await pilot.press("up", "enter")  # from viewer up to admin
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Make Grace Hopper admin instead of viewer?" in screen_text(app)
        await pilot.press("y")
        await rows_showing(pilot, "members", "Grace Hopper | admin")
        members.move_cursor(row=1)
        await pilot.press("d")
        await confirm(pilot)
        await wait_for(
            pilot, lambda: "Grace Hopper" not in table_text(app, "members"), "Grace removed"
        )

        app.screen.query_one("#memberships", DataTable).focus()
        await pilot.press("l")
        await confirm(pilot)
        await showing(pilot, "None.")


async def test_removing_ones_own_row_is_refused_in_words_and_the_screen_keeps_working(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot)
        await rows_showing(pilot, "members", "You (the account holder)")
        await pilot.press("d")
        await wait_for(pilot, lambda: notifications(app), "a word")
        assert "the account holder always owns its team" in " ".join(notifications(app))
        assert isinstance(app.screen, AccessScreen)
        await pilot.press("q")
        await wait_for_screen(pilot, SitesScreen)


async def test_at_80x24_every_tab_shows_its_tables_and_its_keys_and_help_lists_them(
    client: TestClient, ada: int, tui_credentials: CredentialStore, clock: ManualClock
) -> None:
    app, _ = await ada_logged_in(client, tui_credentials, clock)
    async with app.run_test(size=SMALL) as pilot:
        await open_access(pilot)
        await rows_showing(pilot, "members", "You (the account holder)")
        await showing(pilot, "None open")
        text = screen_text(app)
        assert "1 Team  2 API keys  3 Third parties" in text
        assert "Other teams you belong to" in text and "i Invite" in text and "esc Back" in text
        await pilot.press("2")
        await showing(pilot, "No keys yet")
        assert "n New key" in screen_text(app) and "d Revoke" in screen_text(app)
        await pilot.press("3")
        await showing(pilot, "No third party reads anything")
        assert "n New grant" in screen_text(app) and "u Resume" in screen_text(app)
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        await showing(pilot, "Who sees what")
        await pilot.press("escape")
        await wait_for_screen(pilot, AccessScreen)


TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"grantee": "  "}, "grantee", "Name the third party"),
        ({"metrics": ""}, "metrics", "at least one metric"),
        ({"metrics": "visitors, visitors"}, "metrics", "once"),
        ({"date_from": "2026-02-30"}, "date_from", "is not a day"),
        ({"date_from": "2026-06-01", "date_to": "2026-05-01"}, "date_from", "after the last"),
        ({"expires_on": ""}, "expires_at", "a grant always ends"),
        ({"expires_on": "2026-12-06"}, "expires_at", "not in the future"),
        ({"expires_on": "2028-12-06"}, "expires_at", "at most 730 days"),
        ({"min_visitors": "-1"}, "min_visitors", "From 0"),
        ({"link_password": "a long passphrase"}, "link_password", "tick “Share link”"),
        ({"share_link": True, "link_password": "short"}, "link_password", "8 to 1000"),
    ],
)
def test_the_grant_form_says_what_is_wrong_before_anything_is_sent(
    changes: dict[str, Any], field: str, words: str
) -> None:
    form = GrantForm(
        grantee="Example Research Ltd",
        purpose="Benchmark",
        site_ids=[1],
        metrics="visitors",
        expires_on="2027-01-05",
    )
    errors, terms = check_grant_form(replace(form, **changes), TODAY)
    assert list(errors) == [field] and words in errors[field]
    assert terms == {}


def test_a_right_grant_form_becomes_the_terms_sent_expiring_at_the_start_of_its_day() -> None:
    form = GrantForm(
        grantee=" Example Research Ltd ",
        purpose="Benchmark",
        site_ids=[1, 2],
        metrics="visitors pageviews",
        dimensions="event:page,time:day",
        date_from="2026-01-01",
        expires_on="2028-12-05",
        min_visitors="5",
        share_link=True,
        link_password="a long passphrase",
    )
    errors, terms = check_grant_form(form, TODAY)
    assert errors == {}
    assert terms == {
        "grantee": "Example Research Ltd",
        "purpose": "Benchmark",
        "site_ids": [1, 2],
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page", "time:day"],
        "date_from": date(2026, 1, 1),
        "expires_at": datetime(2028, 12, 5, tzinfo=UTC),
        "min_visitors": 5,
        "share_link": True,
        "link_password": "a long passphrase",
    }
