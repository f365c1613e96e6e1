"""Sites through `/ot/v1/sites` (`ot.sites.store`): added, read, configured and removed only by a
logged-in caller or a key a session made, within the caller's role, every change audited, and a
removed site's data gone with it."""

from __future__ import annotations

import json
import shlex
from typing import Any

from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

from ot.admin.cli import app as admin_app
from ot.clock import utcnow
from ot.config import Settings
from ot.models import MemberRole, Site
from ot.rollups.job import run_rollups
from ot.server.auth import CSRF_HEADER, SESSION_COOKIE
from tests import support
from tests.generated_hits import Engines
from tests.stats_support import goal, token_for
from tests.support import NOT_SETUP, bearer, error_of, event, logged_in, rows, store_hits
from tests.team_support import add_member, new_account

SITE_TABLES = [
    "hit",
    "visit",
    "goal",
    "rollup_day",
    "rollup_bitmap",
    "rollup_progress",
    "visitor_ordinal",
]


async def count(settings: Settings, table: str, site_id: int | None) -> int:
    [row] = await rows(settings, f"SELECT COUNT(*) AS n FROM {table} WHERE site_id = :s", s=site_id)
    return int(row["n"])


async def audit_actions(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    entries = await rows(
        settings, f"SELECT action, details FROM audit_entry WHERE {NOT_SETUP} ORDER BY id"
    )
    return [
        (e["action"], json.loads(e["details"]) if isinstance(e["details"], str) else e["details"])
        for e in entries
    ]


async def test_a_password_must_be_entered_to_manage_the_accounts_domains(
    client: TestClient, settings: Settings, site: Site
) -> None:
    """Sites are managed only by a session that began with a log-in (or a key such a session
    made): no credentials, a key without `sites:write` and a cookie without its CSRF token are
    refused, and nothing changes."""
    attempts: list[tuple[str, str, Any]] = [
        ("POST", "/ot/v1/sites", {"domain": "new.example"}),
        ("PATCH", f"/ot/v1/sites/{site.id}", {"timezone": "Europe/Paris"}),
        ("DELETE", f"/ot/v1/sites/{site.id}", None),
        ("POST", f"/ot/v1/sites/{site.id}/verify", None),
    ]
    reader_key = await token_for(settings, site.account_id, scopes=("stats:read", "sites:read"))
    started = await logged_in(settings, site.account_id)
    for method, path, body in attempts:
        anonymous = await client.request(method, path, json=body)
        assert (await error_of(anonymous, 401))["code"] == "unauthorized"
        with_reader_key = await client.request(method, path, json=body, headers=bearer(reader_key))
        assert "sites:write" in (await error_of(with_reader_key, 403))["message"]
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: started.token})
        without_csrf = await client.request(method, path, json=body)
        assert (await error_of(without_csrf, 403))["field"] == CSRF_HEADER
        client.session.cookie_jar.clear()
    [kept] = await rows(settings, "SELECT domain, timezone FROM site")
    assert kept == {"domain": "shop.example", "timezone": "UTC"}
    assert await audit_actions(settings) == []
    changed = await client.patch(
        f"/ot/v1/sites/{site.id}",
        json={"timezone": "Europe/Paris"},
        headers=bearer(started.token),
    )
    assert changed.status == 200


async def test_adding_a_site_answers_its_settings_snippet_and_verification_token(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    response = await client.post(
        "/ot/v1/sites",
        json={
            "domain": "WWW.Blog.Example",
            "timezone": "Europe/Amsterdam",
            "visitor_mode": "cookie",
            "ip_policy": "none",
            "excluded_ips": ["192.0.2.0/24"],
            "excluded_paths": ["/admin/*"],
            "retention_days": 400,
            "respect_do_not_track": False,
            "hash_routing": True,
        },
        headers=bearer(started.token),
    )
    assert response.status == 201, await response.text()
    added = await response.json()
    assert added["domain"] == "blog.example" and added["account_id"] == site.account_id
    assert added["retention_days"] == 400 and added["verified_at"] is None
    assert 'data-domain="blog.example"' in added["snippet"] and "data-hash" in added["snippet"]
    token = added["verification"]["token"]
    assert added["verification"]["file_url"] == (
        f"https://blog.example/.well-known/opentracker-{token}.txt"
    )
    listed = await client.get("/ot/v1/sites", headers=bearer(started.token))
    assert [s["domain"] for s in (await listed.json())["sites"]] == ["shop.example", "blog.example"]
    assert await audit_actions(settings) == [("site.added", {"site_id": added["id"]})]


async def test_a_site_is_configured_and_the_changed_fields_are_audited(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    changes = {
        "timezone": "America/New_York",
        "visitor_mode": "cookie",
        "ip_policy": "full",
        "excluded_ips": ["203.0.113.7"],
        "excluded_paths": ["/preview/**"],
        "retention_days": 30,
        "respect_do_not_track": True,  # unchanged: not listed as changed
    }
    response = await client.patch(
        f"/ot/v1/sites/{site.id}", json=changes, headers=bearer(started.token)
    )
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["timezone"] == "America/New_York" and answer["excluded_ips"] == ["203.0.113.7/32"]
    back_to_forever = await client.patch(
        f"/ot/v1/sites/{site.id}", json={"retention_days": None}, headers=bearer(started.token)
    )
    assert (await back_to_forever.json())["retention_days"] is None
    assert await audit_actions(settings) == [
        (
            "site.changed",
            {
                "site_id": site.id,
                "fields": [
                    "excluded_ips",
                    "excluded_paths",
                    "ip_policy",
                    "retention_days",
                    "timezone",
                    "visitor_mode",
                ],
            },
        ),
        ("site.changed", {"site_id": site.id, "fields": ["retention_days"]}),
    ]
    assert "203.0.113.7" not in str(await audit_actions(settings))


async def test_bad_site_settings_are_refused_by_name_and_change_nothing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"visitor_mode": "sometimes"}, "visitor_mode"),
        ({"ip_policy": "all"}, "ip_policy"),
        ({"excluded_ips": ["not-an-ip"]}, "excluded_ips"),
        ({"excluded_ips": ["10.0.0.1"] * 101}, "excluded_ips"),
        ({"excluded_paths": ["admin"]}, "excluded_paths"),
        ({"excluded_paths": ["/" + "a" * 600]}, "excluded_paths.0"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 10**12}, "retention_days"),
        ({"retention_days": "30"}, "retention_days"),
        ({"hash_routing": "yes"}, "hash_routing"),
        ({"domain": "other.example"}, "domain"),
        ({"owner": 2}, "owner"),
    ]
    for body, field in bad:
        response = await client.patch(
            f"/ot/v1/sites/{site.id}", json=body, headers=bearer(started.token)
        )
        assert (await error_of(response, 400))["field"] == field, body
    bad_new: list[tuple[dict[str, Any], str]] = [
        ({}, "domain"),
        ({"domain": "https://new.example/page"}, "domain"),
        ({"domain": "x" * 300}, "domain"),
        ({"domain": "new.example", "team_id": "1"}, "team_id"),
        ({"domain": "new.example", "timezone": "Nowhere"}, "timezone"),
    ]
    for body, field in bad_new:
        response = await client.post("/ot/v1/sites", json=body, headers=bearer(started.token))
        assert (await error_of(response, 400))["field"] == field, body
    [kept] = await rows(settings, "SELECT COUNT(*) AS n, MIN(timezone) AS zone FROM site")
    assert kept == {"n": 1, "zone": "UTC"}
    assert await audit_actions(settings) == []


async def test_a_domain_already_taken_is_refused(
    client: TestClient, settings: Settings, site: Site
) -> None:
    stranger = await logged_in(settings, await new_account(settings))
    response = await client.post(
        "/ot/v1/sites", json={"domain": "www.shop.example"}, headers=bearer(stranger.token)
    )
    assert (await error_of(response, 409))["field"] == "domain"


async def test_another_teams_site_answers_exactly_as_a_missing_one(
    client: TestClient, settings: Settings, site: Site
) -> None:
    stranger = await logged_in(settings, await new_account(settings))
    for method in ("GET", "PATCH", "DELETE"):
        victims = await client.request(
            method, f"/ot/v1/sites/{site.id}", json={}, headers=bearer(stranger.token)
        )
        missing = await client.request(
            method, "/ot/v1/sites/424242", json={}, headers=bearer(stranger.token)
        )
        assert (await error_of(victims, 404))["message"].replace(str(site.id), "N") == (
            await error_of(missing, 404)
        )["message"].replace("424242", "N")
    listed = await client.get("/ot/v1/sites", headers=bearer(stranger.token))
    assert (await listed.json()) == {"sites": []}
    into_victims_team = await client.post(
        "/ot/v1/sites",
        json={"domain": "new.example", "team_id": site.account_id},
        headers=bearer(stranger.token),
    )
    assert (await error_of(into_victims_team, 404))["field"] == "team_id"


async def test_removing_a_site_deletes_its_hits_visits_rollups_and_goals_and_is_audited(
    client: TestClient, settings: Settings, site: Site, engines: Engines
) -> None:
    other = await support.make_site(settings, "other.example")
    await store_hits(client, [event(), event(url="https://shop.example/pricing")])
    await store_hits(client, [event(domain="other.example", url="https://other.example/")])
    await goal(settings, site, page="/pricing")
    await run_rollups(engines.reader, engines.writer, now=utcnow())
    for table in SITE_TABLES:
        assert await count(settings, table, site.id) > 0, table
    started = await logged_in(settings, site.account_id)
    response = await client.delete(f"/ot/v1/sites/{site.id}", headers=bearer(started.token))
    assert response.status == 200, await response.text()
    removed = (await response.json())["removed"]
    assert removed["hit"] == 2 and removed["goal"] == 1
    for table in SITE_TABLES:
        assert await count(settings, table, site.id) == 0, table
    assert await count(settings, "hit", other.id) == 1  # another site keeps its data
    assert await rows(settings, "SELECT id FROM site WHERE id = :s", s=site.id) == []
    [(action, details)] = await audit_actions(settings)
    assert action == "site.removed" and details["site_id"] == site.id
    assert details["removed"]["hit"] == 2
    gone = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(started.token))
    await error_of(gone, 404)


async def test_a_viewer_reads_a_teams_sites_but_cannot_change_them(
    client: TestClient, settings: Settings, site: Site
) -> None:
    viewer_account = await new_account(settings)
    await add_member(settings, site.account_id, viewer_account, MemberRole.VIEWER)
    viewer = await logged_in(settings, viewer_account)
    listed = await client.get("/ot/v1/sites", headers=bearer(viewer.token))
    assert [s["id"] for s in (await listed.json())["sites"]] == [site.id]
    for method, path, body in [
        ("PATCH", f"/ot/v1/sites/{site.id}", {"timezone": "Europe/Paris"}),
        ("DELETE", f"/ot/v1/sites/{site.id}", None),
        ("POST", f"/ot/v1/sites/{site.id}/verify", None),
        ("POST", "/ot/v1/sites", {"domain": "new.example", "team_id": site.account_id}),
    ]:
        response = await client.request(method, path, json=body, headers=bearer(viewer.token))
        assert (await error_of(response, 403))["code"] == "forbidden", path
    [kept] = await rows(settings, "SELECT COUNT(*) AS n, MIN(timezone) AS zone FROM site")
    assert kept == {"n": 1, "zone": "UTC"}


async def test_an_admin_configures_and_adds_the_teams_sites(
    client: TestClient, settings: Settings, site: Site
) -> None:
    admin_account = await new_account(settings)
    await add_member(settings, site.account_id, admin_account, MemberRole.ADMIN)
    admin = await logged_in(settings, admin_account)
    before = await rows(settings, "SELECT COUNT(*) AS n FROM audit_entry")  # the setup's
    changed = await client.patch(
        f"/ot/v1/sites/{site.id}", json={"retention_days": 90}, headers=bearer(admin.token)
    )
    assert changed.status == 200
    added = await client.post(
        "/ot/v1/sites",
        json={"domain": "team.example", "team_id": site.account_id},
        headers=bearer(admin.token),
    )
    assert (await added.json())["account_id"] == site.account_id
    actors = await rows(
        settings,
        "SELECT actor, account_id FROM audit_entry WHERE id > :n ORDER BY id",
        n=before[0]["n"],
    )
    assert actors == [{"actor": f"account:{admin_account}", "account_id": site.account_id}] * 2


def test_an_operator_removes_a_site_with_ot_admin_and_it_is_audited(
    settings: Settings, site: Site
) -> None:
    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}

    def invoke(command_line: str) -> Any:
        return CliRunner().invoke(admin_app, shlex.split(command_line), env=environment)

    unconfirmed = invoke("sites remove shop.example")
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.output
    assert len(support.run_sync(rows(settings, "SELECT id FROM site"))) == 1
    removed = invoke("sites remove shop.example --yes")
    assert removed.exit_code == 0, removed.output
    assert support.run_sync(rows(settings, "SELECT id FROM site")) == []
    [entry] = support.run_sync(
        rows(settings, f"SELECT action, actor FROM audit_entry WHERE {NOT_SETUP}")
    )
    assert entry["action"] == "site.removed" and entry["actor"].startswith("operator:")
