"""Log-in sessions (`ot.accounts.sessions`, `/ot/v1/sessions`): listed, ended one by one or all at
once, expired when idle or old, and never managed with an API key or from another account."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from ot.server.auth import CSRF_HEADER, SESSION_COOKIE
from tests import support
from tests.stats_support import token_for
from tests.support import NOT_SETUP, bearer, error_of, logged_in


async def set_session_times(settings: Settings, session_id: int, **moments: object) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            assignments = ", ".join(f"{name} = :{name}" for name in moments)
            await connection.execute(
                text(f"UPDATE login_session SET {assignments} WHERE id = :id"),
                {"id": session_id, **moments},
            )
    finally:
        await engine.dispose()


async def test_a_session_lists_the_accounts_live_sessions_marking_its_own(
    client: TestClient, settings: Settings, site: Site
) -> None:
    first = await logged_in(settings, site.account_id)
    second = await logged_in(settings, site.account_id)
    response = await client.get("/ot/v1/sessions", headers=bearer(second.token))
    assert response.status == 200
    sessions = (await response.json())["sessions"]
    assert [(s["id"], s["current"]) for s in sessions] == [
        (second.session.id, True),
        (first.session.id, False),
    ]


async def test_logging_out_ends_only_the_current_session(
    client: TestClient, settings: Settings, site: Site
) -> None:
    current = await logged_in(settings, site.account_id)
    other = await logged_in(settings, site.account_id)
    response = await client.delete("/ot/v1/sessions/current", headers=bearer(current.token))
    assert response.status == 200 and (await response.json()) == {"ended": 1}
    refused = await client.get("/ot/v1/sessions", headers=bearer(current.token))
    assert (await error_of(refused, 401))["code"] == "unauthorized"
    still = await client.get("/ot/v1/sessions", headers=bearer(other.token))
    assert still.status == 200


async def test_logging_out_everywhere_ends_every_session(
    client: TestClient, settings: Settings, site: Site
) -> None:
    sessions = [await logged_in(settings, site.account_id) for _ in range(3)]
    response = await client.delete("/ot/v1/sessions", headers=bearer(sessions[0].token))
    assert (await response.json()) == {"ended": 3}
    for started in sessions:
        refused = await client.get("/ot/v1/sessions", headers=bearer(started.token))
        assert refused.status == 401


async def test_another_accounts_session_cannot_be_ended_and_answers_as_missing(
    client: TestClient, settings: Settings, site: Site
) -> None:
    victim = await logged_in(settings, site.account_id)
    stranger_site = await support.make_site(settings, "stranger.example")
    stranger = await logged_in(settings, stranger_site.account_id)
    response = await client.delete(
        f"/ot/v1/sessions/{victim.session.id}", headers=bearer(stranger.token)
    )
    missing = await client.delete("/ot/v1/sessions/999999", headers=bearer(stranger.token))
    assert (await error_of(response, 404))["message"].replace(str(victim.session.id), "N") == (
        await error_of(missing, 404)
    )["message"].replace("999999", "N")
    assert (await client.get("/ot/v1/sessions", headers=bearer(victim.token))).status == 200


async def test_a_malformed_session_id_is_refused_by_name(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    response = await client.delete("/ot/v1/sessions/abc", headers=bearer(started.token))
    assert (await error_of(response, 400))["field"] == "session_id"


async def test_an_api_key_cannot_manage_sessions(
    client: TestClient, settings: Settings, site: Site
) -> None:
    key = await token_for(settings, site.account_id)
    response = await client.get("/ot/v1/sessions", headers=bearer(key))
    assert (await error_of(response, 403))["code"] == "forbidden"


async def test_a_session_idle_too_long_has_ended(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    idle = timedelta(minutes=settings.accounts.session_idle_minutes + 1)
    await set_session_times(settings, started.session.id or 0, last_seen_at=utcnow() - idle)
    response = await client.get("/ot/v1/sessions", headers=bearer(started.token))
    assert "expired" in (await error_of(response, 401))["message"]


async def test_a_session_past_its_absolute_expiry_has_ended_however_active(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    await set_session_times(
        settings, started.session.id or 0, expires_at=utcnow() - timedelta(seconds=1)
    )
    response = await client.get("/ot/v1/sessions", headers=bearer(started.token))
    assert response.status == 401


async def test_a_cookie_session_needs_the_csrf_token_to_change_anything(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    cookie = {"Cookie": f"{SESSION_COOKIE}={started.token}"}
    assert (await client.get("/ot/v1/sessions", headers=cookie)).status == 200
    forged = await client.delete("/ot/v1/sessions/current", headers=cookie)
    assert (await error_of(forged, 403))["field"] == CSRF_HEADER
    wrong = await client.delete(
        "/ot/v1/sessions/current", headers={**cookie, CSRF_HEADER: "not-the-token"}
    )
    assert wrong.status == 403
    assert (await client.get("/ot/v1/sessions", headers=cookie)).status == 200
    allowed = await client.delete(
        "/ot/v1/sessions/current", headers={**cookie, CSRF_HEADER: started.csrf_token}
    )
    assert allowed.status == 200
    assert (await client.get("/ot/v1/sessions", headers=cookie)).status == 401


async def test_ending_sessions_is_written_to_the_audit_trail(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    await client.delete("/ot/v1/sessions/current", headers=bearer(started.token))
    entries = await support.rows(
        settings,
        f"SELECT actor, action, account_id FROM audit_entry WHERE {NOT_SETUP} ORDER BY id",
    )
    assert entries == [
        {
            "actor": f"account:{site.account_id}",
            "action": "session.ended",
            "account_id": site.account_id,
        }
    ]
