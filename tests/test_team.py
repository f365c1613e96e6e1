"""Teams (`ot.accounts.team`, `/ot/v1/team/...`): members with roles owner, admin and viewer, who
join by a mailed one-time invitation; roles bound what members (and their keys) may do, and a member
removed loses access at once."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.accounts.permissions import ROLE_SCOPES, Scope
from ot.accounts.sessions import StartedSession
from ot.accounts.store import EMAIL_CONTEXT, email_index
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.mailer import QUOTED_MAX_LENGTH, outbox
from ot.models import MemberRole, Site
from tests.account_support import execute as execute_sql
from tests.stats_support import token_for
from tests.support import NOT_SETUP, bearer, error_of, logged_in, rows
from tests.team_support import add_member, cipher_of, member_address, new_account

INVITEE = "jan.jansen@example.org"


async def invite(
    client: TestClient, owner: StartedSession, role: str = "viewer", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/ot/v1/team/invitations",
        json={"email": INVITEE, "role": role, **extra},
        headers=bearer(owner.token),
    )
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


def mailed_token(settings: Settings) -> str:
    message = outbox(settings.data_dir)[-1]
    match = re.search(r"code: (oti_\S+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


async def accept(client: TestClient, invitee: StartedSession, token: str) -> Any:
    return await client.post(
        "/ot/v1/team/invitations/accept", json={"token": token}, headers=bearer(invitee.token)
    )


async def audit_trail(settings: Settings) -> list[tuple[str, int, dict[str, Any]]]:
    entries = await rows(
        settings,
        f"SELECT action, account_id, details FROM audit_entry WHERE {NOT_SETUP} ORDER BY id",
    )
    return [
        (
            e["action"],
            e["account_id"],
            json.loads(e["details"]) if isinstance(e["details"], str) else e["details"],
        )
        for e in entries
    ]


async def member_of(settings: Settings, site: Site, role: MemberRole) -> tuple[StartedSession, int]:
    """A logged-in member of the site's team, and its membership id."""
    account_id = await new_account(settings, f"A {role.value}")
    member_id = await add_member(settings, site.account_id, account_id, role)
    return await logged_in(settings, account_id), member_id


async def test_an_invitation_is_mailed_with_a_one_time_token_stored_only_as_a_hash(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    answer = await invite(client, owner, "admin")
    assert answer["email"] == INVITEE and answer["role"] == "admin"
    assert answer["team_id"] == site.account_id and answer["expired"] is False
    [message] = outbox(settings.data_dir)
    assert message["To"] == INVITEE
    token = mailed_token(settings)
    assert f"/ot/v1/team/invitations/accept?token={token}" in message.get_content()
    [row] = await rows(settings, "SELECT * FROM invitation")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert INVITEE not in str(row) and token not in str(row)
    trail = await audit_trail(settings)
    assert trail == [
        ("team.invited", site.account_id, {"invitation_id": answer["id"], "role": "admin"})
    ]
    listed = await client.get("/ot/v1/team/invitations", headers=bearer(owner.token))
    assert [i["id"] for i in (await listed.json())["invitations"]] == [answer["id"]]


async def test_the_answer_to_an_invitation_does_not_reveal_whether_the_address_has_an_account(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    first = await invite(client, owner)
    other = await client.post(
        "/ot/v1/team/invitations",
        json={"email": "nobody-here@example.net", "role": "viewer"},
        headers=bearer(owner.token),
    )
    second = await other.json()
    assert other.status == 201 and set(second) == set(first)
    assert {
        k: v for k, v in second.items() if k not in ("id", "email", "created_at", "expires_at")
    } == {k: v for k, v in first.items() if k not in ("id", "email", "created_at", "expires_at")}


async def test_accepting_an_invitation_makes_a_member_and_a_replay_is_refused(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    await invite(client, owner, "viewer")
    token = mailed_token(settings)
    invitee_account = await new_account(settings, "Jan Jansen", email=INVITEE)
    invitee = await logged_in(settings, invitee_account)
    response = await accept(client, invitee, token)
    assert response.status == 201, await response.text()
    member = await response.json()
    assert member["team_id"] == site.account_id and member["role"] == "viewer"
    assert member["account_id"] == invitee_account and member["name"] == "Jan Jansen"
    site_seen = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(invitee.token))
    assert site_seen.status == 200
    replay = await accept(client, invitee, token)
    assert (await error_of(replay, 400))["field"] == "token"
    someone_else = await logged_in(settings, await new_account(settings))
    assert (await accept(client, someone_else, token)).status == 400
    assert len(await rows(settings, "SELECT id FROM membership")) == 1
    actions = [action for action, _, _ in await audit_trail(settings)]
    assert actions == [
        "team.invited",
        "team.joined",
        "team.invitation_refused",
        "team.invitation_refused",
    ]
    listed = await client.get("/ot/v1/team/invitations", headers=bearer(owner.token))
    assert (await listed.json()) == {"invitations": []}


async def test_expired_withdrawn_and_made_up_invitations_are_refused(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    invitee = await logged_in(settings, await new_account(settings))
    expiring = await invite(client, owner)
    expiring_token = mailed_token(settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE invitation SET expires_at = :t WHERE id = :i"),
                {"t": utcnow() - timedelta(seconds=1), "i": expiring["id"]},
            )
    finally:
        await engine.dispose()
    withdrawn = await invite(client, owner)
    withdrawn_token = mailed_token(settings)
    response = await client.delete(
        f"/ot/v1/team/invitations/{withdrawn['id']}", headers=bearer(owner.token)
    )
    assert (await response.json()) == {"withdrawn": 1}
    for token in (expiring_token, withdrawn_token, "oti_made-up", "x" * 150, ""):
        response = await accept(client, invitee, token)
        assert (await error_of(response, 400))["field"] == "token", token
    assert await rows(settings, "SELECT id FROM membership") == []
    again = await client.delete(
        f"/ot/v1/team/invitations/{withdrawn['id']}", headers=bearer(owner.token)
    )
    assert (await error_of(again, 404))["field"] == "invitation_id"


async def test_an_invitation_is_accepted_only_by_a_logged_in_session_outside_the_team(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    await invite(client, owner)
    token = mailed_token(settings)
    key = await token_for(settings, await new_account(settings), scopes=("account:write",))
    with_key = await client.post(
        "/ot/v1/team/invitations/accept", json={"token": token}, headers=bearer(key)
    )
    await error_of(with_key, 403)
    own_team = await accept(client, owner, token)
    assert (await error_of(own_team, 409))["field"] == "token"
    viewer, _ = await member_of(settings, site, MemberRole.VIEWER)
    await client.post(
        "/ot/v1/team/invitations",
        json={"email": member_address(viewer.session.account_id), "role": "admin"},
        headers=bearer(owner.token),
    )
    already = await accept(client, viewer, mailed_token(settings))
    assert "already" in (await error_of(already, 409))["message"]


async def test_an_invitation_is_accepted_only_by_the_account_of_the_address_it_was_sent_to(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    invitation = await invite(client, owner, "admin")
    token = mailed_token(settings)  # forwarded, intercepted or read over a shoulder
    someone_else = await logged_in(
        settings, await new_account(settings, "Mallory", email="mallory@example.net")
    )
    unconfirmed = await new_account(settings, "Jan, unconfirmed")
    await execute_sql(
        settings,
        "UPDATE account SET email_encrypted = :e, email_index = :i WHERE id = :id",
        e=cipher_of(settings).encrypt(INVITEE, context=EMAIL_CONTEXT),
        i=email_index(cipher_of(settings), INVITEE),
        id=unconfirmed,
    )

    for caller in (someone_else, await logged_in(settings, unconfirmed)):
        refused = await accept(client, caller, token)
        error = await error_of(refused, 403)
        assert error["field"] == "token" and "another address" in error["message"]
    assert await rows(settings, "SELECT id FROM membership") == []
    reasons = [d["reason"] for a, _, d in await audit_trail(settings) if a.endswith("refused")]
    assert reasons == ["another address", "another address"]

    await execute_sql(
        settings, "UPDATE account SET email_index = NULL WHERE id = :id", id=unconfirmed
    )
    invitee = await new_account(settings, "Jan Jansen", email=INVITEE.upper())
    joined = await accept(client, await logged_in(settings, invitee), token)
    assert joined.status == 201, await joined.text()
    assert (await joined.json())["role"] == invitation["role"]


async def test_the_mailed_invitation_link_works_when_opened_and_accepts_nothing_by_itself(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    invitation = await invite(client, owner, "viewer")
    message = outbox(settings.data_dir)[-1]
    link = re.search(r"https?://\S+", message.get_content())
    assert link, message.get_content()
    path = "/" + link.group(0).split("/", 3)[3]
    invitee = await logged_in(settings, await new_account(settings, "Jan", email=INVITEE))

    for headers in ({}, bearer(invitee.token)):  # a mail program; a logged-in browser
        opened = await client.get(path, headers=headers)
        assert opened.status == 200, await opened.text()
        answer = await opened.json()
        assert answer["team_id"] == site.account_id and answer["role"] == "viewer"
        assert answer["expires_at"] == invitation["expires_at"]
        assert "POST /ot/v1/team/invitations/accept" in answer["how_to_accept"]
    assert await rows(settings, "SELECT id FROM membership") == []

    joined = await accept(client, invitee, mailed_token(settings))
    assert joined.status == 201
    used = await client.get(path)
    assert (await error_of(used, 400))["field"] == "token"
    made_up = await client.get("/ot/v1/team/invitations/accept?token=oti_made-up")
    assert (await error_of(made_up, 400))["field"] == "token"


async def test_a_team_name_reaches_the_invitee_quoted_on_one_line_and_never_as_a_link(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    phishing = (
        'Acme" sent you 500 EUR.\nClaim it at https://pay.evil.example/claim or www.evil.example'
    )
    renamed = await client.patch(
        "/ot/v1/account", json={"name": phishing}, headers=bearer(owner.token)
    )
    assert renamed.status == 200, await renamed.text()

    await invite(client, owner)

    text = outbox(settings.data_dir)[-1].get_content()
    [line] = [line for line in text.splitlines() if "Acme" in line]
    assert line.startswith("The team's name, as its owner wrote it: \u201cAcme' sent you 500 EUR.")
    assert line.endswith("\u201d") and line.count("\u201c") == 1
    assert "Claim it at https[:]//pay[.]evil[.]" in line  # cut short, and defanged
    assert "https://" not in text and "evil.example" not in text
    shown = line.split(": ", 1)[1].replace("[.]", ".").replace("[:]", ":")
    assert len(shown) == QUOTED_MAX_LENGTH + 2  # cut, between its quotation marks


async def test_members_are_listed_with_their_roles(
    client: TestClient, settings: Settings, site: Site
) -> None:
    viewer, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    _, admin_id = await member_of(settings, site, MemberRole.ADMIN)
    owner = await logged_in(settings, site.account_id)
    for caller in (owner, viewer):
        response = await client.get(
            f"/ot/v1/team/members?team_id={site.account_id}", headers=bearer(caller.token)
        )
        listing = await response.json()
        assert listing["owner_account_id"] == site.account_id
        assert [(m["id"], m["role"]) for m in listing["members"]] == [
            (viewer_id, "viewer"),
            (admin_id, "admin"),
        ]
    mine = await client.get("/ot/v1/team/memberships", headers=bearer(viewer.token))
    assert [m["team_id"] for m in (await mine.json())["memberships"]] == [site.account_id]


async def test_a_viewer_cannot_write(client: TestClient, settings: Settings, site: Site) -> None:
    viewer, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    _, admin_id = await member_of(settings, site, MemberRole.ADMIN)
    team = site.account_id
    attempts: list[tuple[str, str, Any]] = [
        ("POST", "/ot/v1/team/invitations", {"email": INVITEE, "role": "viewer", "team_id": team}),
        ("PATCH", f"/ot/v1/team/members/{admin_id}", {"role": "viewer"}),
        ("PATCH", f"/ot/v1/team/members/{viewer_id}", {"role": "owner"}),
        ("DELETE", f"/ot/v1/team/members/{admin_id}", None),
        ("PATCH", f"/ot/v1/sites/{site.id}", {"timezone": "Europe/Paris"}),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=bearer(viewer.token))
        assert (await error_of(response, 403))["code"] == "forbidden", path
    roles = await rows(settings, "SELECT id, role FROM membership ORDER BY id")
    assert roles == [{"id": viewer_id, "role": "viewer"}, {"id": admin_id, "role": "admin"}]
    assert outbox(settings.data_dir) == []


async def test_an_admin_cannot_exceed_its_role(
    client: TestClient, settings: Settings, site: Site
) -> None:
    """An admin manages sites and grants but not the team: it cannot invite, change roles (its
    own included) or remove others."""
    admin, admin_id = await member_of(settings, site, MemberRole.ADMIN)
    _, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    team = site.account_id
    attempts: list[tuple[str, str, Any]] = [
        ("POST", "/ot/v1/team/invitations", {"email": INVITEE, "role": "admin", "team_id": team}),
        ("PATCH", f"/ot/v1/team/members/{admin_id}", {"role": "owner"}),
        ("PATCH", f"/ot/v1/team/members/{viewer_id}", {"role": "admin"}),
        ("DELETE", f"/ot/v1/team/members/{viewer_id}", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=bearer(admin.token))
        assert (await error_of(response, 403))["code"] == "forbidden", path
    roles = await rows(settings, "SELECT id, role FROM membership ORDER BY id")
    assert roles == [{"id": admin_id, "role": "admin"}, {"id": viewer_id, "role": "viewer"}]
    own_keys_limit = await client.post(
        "/ot/v1/keys",
        json={"name": "all", "scopes": ["team:read", "team:write", "sites:write"]},
        headers=bearer(admin.token),
    )
    key = (await own_keys_limit.json())["key"]  # a key may name team:write: its role still rules
    by_key = await client.delete(f"/ot/v1/team/members/{viewer_id}", headers=bearer(key))
    await error_of(by_key, 403)


async def test_a_removed_member_loses_access_at_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    member, member_id = await member_of(settings, site, MemberRole.ADMIN)
    key_answer = await client.post(
        "/ot/v1/keys",
        json={"name": "member key", "scopes": ["sites:read"]},
        headers=bearer(member.token),
    )
    member_key = (await key_answer.json())["key"]
    for credential in (member.token, member_key):
        seen = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(credential))
        assert seen.status == 200
    owner = await logged_in(settings, site.account_id)
    removed = await client.delete(f"/ot/v1/team/members/{member_id}", headers=bearer(owner.token))
    assert (await removed.json()) == {"removed": 1, "left": False}
    for credential in (member.token, member_key):
        gone = await client.get(f"/ot/v1/sites/{site.id}", headers=bearer(credential))
        await error_of(gone, 404)
        listed = await client.get("/ot/v1/sites", headers=bearer(credential))
        assert (await listed.json()) == {"sites": []}
    assert [a for a, _, _ in await audit_trail(settings)][-1] == "team.member_removed"


async def test_a_member_may_leave_a_team(
    client: TestClient, settings: Settings, site: Site
) -> None:
    viewer, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    before = len(await audit_trail(settings))  # the invitation and joining of the setup
    response = await client.delete(f"/ot/v1/team/members/{viewer_id}", headers=bearer(viewer.token))
    assert (await response.json()) == {"removed": 1, "left": True}
    assert await rows(settings, "SELECT id FROM membership") == []
    [(action, team, details)] = (await audit_trail(settings))[before:]
    assert (action, team, details["member_id"]) == ("team.member_left", site.account_id, viewer_id)


async def test_a_new_role_takes_effect_at_once(
    client: TestClient, settings: Settings, site: Site
) -> None:
    viewer, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    change = {"timezone": "Europe/Paris"}
    path = f"/ot/v1/sites/{site.id}"
    assert (await client.patch(path, json=change, headers=bearer(viewer.token))).status == 403
    owner = await logged_in(settings, site.account_id)
    promoted = await client.patch(
        f"/ot/v1/team/members/{viewer_id}", json={"role": "admin"}, headers=bearer(owner.token)
    )
    assert (await promoted.json())["role"] == "admin"
    assert (await client.patch(path, json=change, headers=bearer(viewer.token))).status == 200
    [details] = [e[2] for e in await audit_trail(settings) if e[0] == "team.role_changed"]
    assert details == {"member_id": viewer_id, "from": "viewer", "to": "admin"}


async def test_an_owner_member_invites_to_the_team_it_belongs_to(
    client: TestClient, settings: Settings, site: Site
) -> None:
    co_owner, _ = await member_of(settings, site, MemberRole.OWNER)
    answer = await invite(client, co_owner, "admin", team_id=site.account_id)
    assert answer["team_id"] == site.account_id


async def test_bad_team_requests_are_refused_by_name_and_change_nothing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    _, member_id = await member_of(settings, site, MemberRole.VIEWER)
    stranger_team = await new_account(settings, "Stranger")
    bad: list[tuple[str, str, Any, int, str]] = [
        (
            "POST",
            "/ot/v1/team/invitations",
            {"email": "not-an-address", "role": "viewer"},
            400,
            "email",
        ),
        (
            "POST",
            "/ot/v1/team/invitations",
            {"email": "a@b" + "c" * 300, "role": "viewer"},
            400,
            "email",
        ),
        ("POST", "/ot/v1/team/invitations", {"email": INVITEE, "role": "king"}, 400, "role"),
        ("POST", "/ot/v1/team/invitations", {"email": INVITEE}, 400, "role"),
        (
            "POST",
            "/ot/v1/team/invitations",
            {"email": INVITEE, "role": "viewer", "team_id": stranger_team},
            404,
            "team_id",
        ),
        (
            "POST",
            "/ot/v1/team/invitations",
            {"email": INVITEE, "role": "viewer", "team_id": 10**12},
            400,
            "team_id",
        ),
        (
            "POST",
            "/ot/v1/team/invitations",
            {"email": INVITEE, "role": "viewer", "cc": "x"},
            400,
            "cc",
        ),
        ("PATCH", f"/ot/v1/team/members/{member_id}", {}, 400, "role"),
        ("PATCH", f"/ot/v1/team/members/{member_id}", {"role": "emperor"}, 400, "role"),
        ("PATCH", "/ot/v1/team/members/abc", {"role": "admin"}, 400, "member_id"),
        ("GET", f"/ot/v1/team/members?team_id={stranger_team}", None, 404, "team_id"),
        ("GET", "/ot/v1/team/invitations?team_id=x", None, 400, "team_id"),
        ("DELETE", "/ot/v1/team/invitations/55555", None, 404, "invitation_id"),
    ]
    for method, path, body, status, field in bad:
        response = await client.request(method, path, json=body, headers=bearer(owner.token))
        assert (await error_of(response, status))["field"] == field, (path, body)
    assert await rows(settings, "SELECT id FROM invitation WHERE accepted_at IS NULL") == []
    assert await rows(settings, "SELECT role FROM membership") == [{"role": "viewer"}]
    assert outbox(settings.data_dir) == []


async def test_nobody_hands_out_a_role_above_its_own(
    client: TestClient, settings: Settings, site: Site, monkeypatch: Any
) -> None:
    """Today only owners write the team; were admins allowed to, they still could not make or
    touch owners."""
    monkeypatch.setitem(
        ROLE_SCOPES, MemberRole.ADMIN, ROLE_SCOPES[MemberRole.ADMIN] | {Scope.TEAM_WRITE}
    )
    admin, _ = await member_of(settings, site, MemberRole.ADMIN)
    _, owner_member_id = await member_of(settings, site, MemberRole.OWNER)
    _, viewer_id = await member_of(settings, site, MemberRole.VIEWER)
    team = site.account_id
    as_owner = await client.post(
        "/ot/v1/team/invitations",
        json={"email": INVITEE, "role": "owner", "team_id": team},
        headers=bearer(admin.token),
    )
    assert (await error_of(as_owner, 403))["field"] == "role"
    demote_owner = await client.patch(
        f"/ot/v1/team/members/{owner_member_id}",
        json={"role": "viewer"},
        headers=bearer(admin.token),
    )
    assert (await error_of(demote_owner, 403))["field"] == "role"
    promote_to_owner = await client.patch(
        f"/ot/v1/team/members/{viewer_id}", json={"role": "owner"}, headers=bearer(admin.token)
    )
    assert (await error_of(promote_to_owner, 403))["field"] == "role"
    as_viewer = await invite(client, admin, "viewer", team_id=team)
    assert as_viewer["role"] == "viewer"
    roles = await rows(settings, "SELECT role FROM membership ORDER BY id")
    assert [r["role"] for r in roles] == ["admin", "owner", "viewer"]


async def test_a_team_members_key_reads_the_teams_stats_through_the_stats_api_until_removed(
    client: TestClient, settings: Settings, site: Site
) -> None:
    viewer = await new_account(settings, "Viewer")
    member_id = await add_member(settings, site.account_id, viewer, MemberRole.VIEWER)
    key = await token_for(settings, viewer, scopes=("stats:read",))
    body = {"site_id": site.domain, "metrics": ["visitors"], "date_range": "7d"}

    read = await client.post("/api/v2/query", json=body, headers=bearer(key))
    assert read.status == 200, await read.text()

    owner = await logged_in(settings, site.account_id)
    removed = await client.delete(f"/ot/v1/team/members/{member_id}", headers=bearer(owner.token))
    assert removed.status == 200, await removed.text()
    refused = await client.post("/api/v2/query", json=body, headers=bearer(key))
    assert refused.status == 404
