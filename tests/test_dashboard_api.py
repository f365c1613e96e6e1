"""What a customer's dashboard asks of one site (`ot.server.dashboard_api`): its goals (added,
listed and removed by those who may, audited with their actor), its tracking snippet, and a
summary of its traffic that equals what `/api/v2/query` answers for the same period."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

from ot.admin.cli import app as admin_app
from ot.config import Settings
from ot.models import MemberRole, Site
from ot.privacy import VisitorMode
from ot.sites.snippet import tracking_snippet
from tests import support
from tests.stats_support import token_for
from tests.support import NOT_SETUP, bearer, error_of, logged_in, rows
from tests.team_support import add_member, new_account
from tests.test_stats_engine import MONDAY, TUESDAY, shop


def goals_path(site: Site) -> str:
    return f"/ot/v1/sites/{site.id}/goals"


@pytest.fixture
async def owner(settings: Settings, site: Site) -> dict[str, str]:
    """The headers of shop.example's owner, logged in."""
    return bearer((await logged_in(settings, site.account_id)).token)


# --- goals -------------------------------------------------------------------------------------


async def test_the_owner_adds_lists_and_removes_goals_each_change_audited_with_its_actor(
    settings: Settings, client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    thanks = await client.post(goals_path(site), json={"page": "/thanks"}, headers=owner)
    assert thanks.status == 201, await thanks.text()
    signup = await client.post(
        goals_path(site), json={"event": "Signup", "name": "Signed up"}, headers=owner
    )
    added = [await thanks.json(), await signup.json()]
    assert [(g["kind"], g["target"], g["name"]) for g in added] == [
        ("page", "/thanks", "Visit /thanks"),
        ("event", "Signup", "Signed up"),
    ]
    listed = await client.get(goals_path(site), headers=owner)
    assert (await listed.json())["goals"] == added

    removed = await client.delete(f"{goals_path(site)}/{added[0]['id']}", headers=owner)
    assert removed.status == 200 and await removed.json() == added[0]
    left = await (await client.get(goals_path(site), headers=owner)).json()
    assert left["goals"] == [added[1]]

    entries = await rows(
        settings,
        f"SELECT actor, action, account_id, details FROM audit_entry WHERE {NOT_SETUP} ORDER BY id",
    )
    actor = f"account:{site.account_id}"
    assert [(e["actor"], e["action"], e["account_id"]) for e in entries] == [
        (actor, "goal.added", site.account_id),
        (actor, "goal.added", site.account_id),
        (actor, "goal.removed", site.account_id),
    ]
    details = entries[-1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"site_id": site.id, "goal_id": added[0]["id"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"page": "/a", "event": "Signup"}, "kind"),
        ({"page": "thanks"}, "page"),
        ({"event": "   "}, "event"),
        ({"page": 5}, "page"),
        ({"event": "Signup", "name": "x" * 121}, "name"),
        ({"event": "Signup", "colour": "red"}, "colour"),
    ],
)
async def test_a_bad_goal_answers_400_naming_the_field(
    client: TestClient, site: Site, owner: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(goals_path(site), json=body, headers=owner)
    assert (await error_of(response, 400))["field"] == field


async def test_a_second_goal_of_the_same_name_answers_409(
    client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    assert (await client.post(goals_path(site), json={"page": "/a"}, headers=owner)).status == 201
    again = await client.post(goals_path(site), json={"page": "/a"}, headers=owner)
    assert (await error_of(again, 409))["field"] == "name"


async def test_another_accounts_site_and_goals_answer_as_missing_ones(
    settings: Settings, client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    added = await (await client.post(goals_path(site), json={"page": "/a"}, headers=owner)).json()
    stranger = await support.make_site(settings, "stranger.example")
    strangers = bearer((await logged_in(settings, stranger.account_id)).token)
    attempts = [
        ("GET", "goals", None),
        ("POST", "goals", {"page": "/b"}),
        ("DELETE", f"goals/{added['id']}", None),
        ("GET", "snippet", None),
        ("GET", "summary", None),
    ]
    for method, tail, body in attempts:
        victims = await client.request(
            method, f"/ot/v1/sites/{site.id}/{tail}", json=body, headers=strangers
        )
        missing = await client.request(
            method, f"/ot/v1/sites/987654/{tail}", json=body, headers=strangers
        )
        victims_error = await error_of(victims, 404)
        assert victims_error["message"].replace(str(site.id), "ID") == (
            (await error_of(missing, 404))["message"].replace("987654", "ID")
        )
    # Nor does the owner reach a goal through another of its sites.
    other = await client.post("/ot/v1/sites", json={"domain": "blog.example"}, headers=owner)
    other_id = (await other.json())["id"]
    wrong_site = await client.delete(f"/ot/v1/sites/{other_id}/goals/{added['id']}", headers=owner)
    assert (await error_of(wrong_site, 404))["field"] == "goal_id"
    assert [
        g["id"] for g in (await (await client.get(goals_path(site), headers=owner)).json())["goals"]
    ] == [added["id"]]


async def test_a_viewer_reads_the_goals_but_cannot_change_them(
    settings: Settings, client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    added = await (await client.post(goals_path(site), json={"page": "/a"}, headers=owner)).json()
    viewer = await new_account(settings, "Viewer")
    await add_member(settings, site.account_id, viewer, MemberRole.VIEWER)
    viewers = bearer((await logged_in(settings, viewer)).token)
    assert (await (await client.get(goals_path(site), headers=viewers)).json())["goals"] == [added]
    refused = [
        await client.post(goals_path(site), json={"page": "/b"}, headers=viewers),
        await client.delete(f"{goals_path(site)}/{added['id']}", headers=viewers),
    ]
    for response in refused:
        assert "may read this site but not change it" in (await error_of(response, 403))["message"]
    assert len((await (await client.get(goals_path(site), headers=owner)).json())["goals"]) == 1


async def test_a_key_needs_sites_write_to_change_goals(
    settings: Settings, client: TestClient, site: Site
) -> None:
    reader = await token_for(settings, site.account_id, scopes=("sites:read",))
    assert (await client.get(goals_path(site), headers=bearer(reader))).status == 200
    refused = await client.post(goals_path(site), json={"page": "/b"}, headers=bearer(reader))
    assert "sites:write" in (await error_of(refused, 403))["message"]


# --- the snippet -------------------------------------------------------------------------------


async def test_the_snippet_matches_the_sites_settings(
    settings: Settings, client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    response = await client.get(f"/ot/v1/sites/{site.id}/snippet", headers=owner)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "site_id": site.id,
        "domain": "shop.example",
        "snippet": tracking_snippet(site, settings),
    }
    assert 'data-domain="shop.example"' in (await response.json())["snippet"]


# --- the summary -------------------------------------------------------------------------------

HEADLINE = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]


@pytest.mark.parametrize("mode", [VisitorMode.COOKIE, VisitorMode.COOKIELESS])
async def test_the_summary_equals_the_stats_apis_answer_for_the_same_period(
    settings: Settings, client: TestClient, mode: VisitorMode
) -> None:
    site = await shop(settings, client, mode)
    owner = bearer((await logged_in(settings, site.account_id)).token)
    response = await client.get(
        f"/ot/v1/sites/{site.id}/summary", params={"period": "7d", "date": TUESDAY}, headers=owner
    )
    assert response.status == 200, await response.text()
    summary = await response.json()

    async def v2(**body: Any) -> Any:
        body = {"site_id": "shop.example", "date_range": "7d", "date": TUESDAY, **body}
        answer = await client.post("/api/v2/query", json=body, headers=owner)
        assert answer.status == 200, await answer.text()
        return await answer.json()

    [aggregate] = (await v2(metrics=HEADLINE))["results"]
    assert [summary[name] for name in HEADLINE] == aggregate["metrics"]
    if mode is VisitorMode.COOKIE:  # 3 people, 4 visits, 6 pageviews, half bounced, 75 s
        assert aggregate["metrics"] == [3, 4, 6, 50, 75]
    pages = await v2(metrics=["visitors"], dimensions=["event:page"])
    assert [[r["name"], r["visitors"]] for r in summary["top_pages"]] == [
        [row["dimensions"][0], row["metrics"][0]] for row in pages["results"][:5]
    ]
    sources = await v2(metrics=["visitors"], dimensions=["visit:source"])
    assert [[r["name"], r["visitors"]] for r in summary["top_sources"]] == [
        [row["dimensions"][0], row["metrics"][0]] for row in sources["results"][:5]
    ]
    assert summary["events"] == 7
    assert summary["first_day"] <= MONDAY and summary["last_day"] == TUESDAY
    assert summary["visitors_are_daily_sums"] is (mode is VisitorMode.COOKIELESS)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "fortnight"}, "period"),
        ({"period": "realtime"}, "period"),
        ({"date": "May"}, "date"),
    ],
)
async def test_a_bad_summary_period_answers_400_naming_it(
    client: TestClient, site: Site, owner: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await client.get(f"/ot/v1/sites/{site.id}/summary", params=params, headers=owner)
    assert (await error_of(response, 400))["field"] == field


async def test_the_admin_summary_counts_as_the_engine_does(
    settings: Settings, client: TestClient
) -> None:
    site = await shop(settings, client, VisitorMode.COOKIE)
    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}
    command = ["sites", "summary", "shop.example", "--period", "all", "--json"]
    # ot-admin runs its own event loop: in a thread of its own, away from the test's.
    result = await asyncio.to_thread(CliRunner().invoke, admin_app, command, env=environment)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["site"] == site.domain
    assert [printed[name] for name in HEADLINE] == [3, 4, 6, 50, 75]
    assert printed["date_range"][0] == MONDAY


async def test_a_site_without_hits_summarises_as_zeros(
    client: TestClient, site: Site, owner: dict[str, str]
) -> None:
    response = await client.get(f"/ot/v1/sites/{site.id}/summary", headers=owner)
    assert response.status == 200, await response.text()
    summary = await response.json()
    assert [summary[name] for name in HEADLINE] == [0, 0, 0, 0, 0]
    assert summary["period"] == "7d"
    assert summary["top_pages"] == summary["top_sources"] == []
