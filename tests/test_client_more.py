"""`ot.client.OtClient`'s calls for the account, its sessions, its team and its grants against
the real application (as tests/test_client.py does for the rest): registering and confirming,
the profile's history, a new password or address, the second factor on and off, other
sessions ended, realtime visitors, memberships and roles, invitations withdrawn, and what a
grant's third party read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ot.api.team import MemberRole
from ot.client import CredentialStore, Forbidden, Invalid, NotLoggedIn, OtClient
from ot.clock import utcnow
from ot.config import Settings
from tests.account_support import (
    EMAIL,
    PASSWORD,
    mails_to,
    registered,
    session_headers,
    token_in,
    totp_code,
)
from tests.grants_support import read
from tests.support import event, logged_in, store_hits
from tests.team_support import add_member, new_account

NEW_PASSWORD = "a much longer horse battery staple"
GRACE = "grace@example.com"


@pytest.fixture
def credentials(tmp_path: Path) -> CredentialStore:
    """A config folder of the test's own, so no test reads or writes the user's real one."""
    return CredentialStore(tmp_path / "config" / "opentracker")


@pytest.fixture
async def account_id(client: TestClient, settings: Settings) -> int:
    """Ada's account, registered and verified through the API: she logs in with the client."""
    return await registered(client, settings)


@pytest.fixture
async def ot(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> AsyncIterator[OtClient]:
    """The client on the in-process server (a real loopback socket), logged in as Ada."""
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        await ot_client.log_in(EMAIL, PASSWORD)
        yield ot_client


def base_url_of(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


# --- registering, the profile and how the account logs in ---------------------------------


async def test_an_account_is_registered_and_its_address_confirmed_with_the_mailed_token(
    client: TestClient, settings: Settings, credentials: CredentialStore
) -> None:
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        accepted = await ot_client.register(
            "Grace Hopper", GRACE, PASSWORD, region="us", consent=True, company="Navy"
        )
        assert accepted.message
        with pytest.raises(Invalid) as refused:
            await ot_client.register("Grace", "g@example.com", PASSWORD, region="nl", consent=False)
        assert refused.value.field == "consent"

        verified = await ot_client.verify_email(token_in(mails_to(settings, GRACE)[-1]))

        logged_in = await ot_client.log_in(GRACE, PASSWORD)
        assert logged_in.account_id == verified.account_id
        assert (await ot_client.profile()).company == "Navy"
        with pytest.raises(Invalid):
            await ot_client.verify_email("otv_used_up")


async def test_the_profiles_history_says_what_changed_from_what(ot: OtClient) -> None:
    await ot.update_profile(name="Ada King")

    history = await ot.profile_history()

    latest = history.changes[0] if history.changes[0].fields == ["name"] else history.changes[-1]
    assert latest.fields == ["name"]
    assert latest.old_values == {"name": "Ada Lovelace"}


async def test_a_new_password_ends_the_other_sessions_and_a_new_address_waits_for_its_link(
    client: TestClient, settings: Settings, ot: OtClient, credentials: CredentialStore
) -> None:
    other = await session_headers(client)

    changed = await ot.change_password(PASSWORD, NEW_PASSWORD)

    assert changed.other_sessions_ended == 1
    assert (await client.get("/ot/v1/account", headers=other)).status == 401
    with pytest.raises(Forbidden):
        await ot.change_email("ada.king@example.com", PASSWORD)  # the old password
    requested = await ot.change_email("ada.king@example.com", NEW_PASSWORD)
    assert requested.pending_email == "ada.king@example.com"
    assert mails_to(settings, "ada.king@example.com")
    assert (await ot.profile()).email == EMAIL  # until the link is opened


async def test_the_second_factor_is_turned_on_asked_at_log_in_and_turned_off(
    client: TestClient, ot: OtClient, tmp_path: Path
) -> None:
    enrolment = await ot.begin_second_factor()
    assert enrolment.provisioning_uri.startswith("otpauth://")

    codes = await ot.confirm_second_factor(PASSWORD, totp_code(enrolment.secret))

    assert codes.recovery_codes
    async with OtClient(base_url_of(client), credentials=CredentialStore(tmp_path)) as other:
        with pytest.raises(NotLoggedIn):
            await other.log_in(EMAIL, PASSWORD)  # without a code
        await other.log_in(EMAIL, PASSWORD, recovery_code=codes.recovery_codes[0])
    state = await ot.disable_second_factor(PASSWORD, totp_code(enrolment.secret, steps_ahead=1))
    assert state.second_factor is False


async def test_every_other_session_is_ended_at_once(client: TestClient, ot: OtClient) -> None:
    others = [await session_headers(client), await session_headers(client)]
    sessions = len((await ot.list_sessions()).sessions)  # confirming the address started one too

    assert (await ot.end_other_sessions()).ended == sessions - 1
    assert [session.current for session in (await ot.list_sessions()).sessions] == [True]

    for headers in others:
        assert (await client.get("/ot/v1/account", headers=headers)).status == 401
    assert (await ot.profile()).email == EMAIL


async def test_logging_out_everywhere_ends_this_session_too_and_forgets_it(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    other = await session_headers(client)

    assert (await ot.end_every_session()).ended >= 2

    assert (await client.get("/ot/v1/account", headers=other)).status == 401
    assert ot.token is None
    assert credentials.load(base_url_of(client)) is None


async def test_realtime_visitors_counts_the_last_minutes(client: TestClient, ot: OtClient) -> None:
    site = await ot.add_site("shop.example")
    assert await ot.realtime_visitors(site.domain) == 0

    await store_hits(client, [event(), event(url="https://shop.example/about")])

    assert await ot.realtime_visitors(site.domain) == 1


# --- the team and its grants ----------------------------------------------------------------


async def test_a_member_sees_the_team_and_the_owner_changes_its_role_and_removes_it(
    client: TestClient,
    settings: Settings,
    ot: OtClient,
    account_id: int,
    credentials: CredentialStore,
) -> None:
    site = await ot.add_site("shop.example")
    grace_id = await new_account(settings, "Grace Hopper", GRACE)
    membership_id = await add_member(settings, account_id, grace_id, MemberRole.ADMIN)
    grace_token = (await logged_in(settings, grace_id)).token
    async with OtClient(base_url_of(client), grace_token, credentials=credentials) as grace:
        [team] = (await grace.list_memberships()).memberships
        assert (team.id, team.team_id, team.role) == (membership_id, account_id, "admin")
        granted = await grace.create_grant(
            "Auditor B.V.",
            "yearly audit",
            [site.id],
            ["visitors"],
            utcnow().replace(microsecond=0) + timedelta(days=30),
        )
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}
    assert (await read(client, granted.key, body)).status == 200
    [first_read] = (await ot.grant_reads(granted.id)).reads
    assert (first_read.outcome, first_read.metrics) == ("answered", ["visitors"])

    lowered = await ot.change_member_role(membership_id, MemberRole.VIEWER)

    assert lowered.role is MemberRole.VIEWER
    assert (await ot.grant(granted.id)).status == "suspended"  # a viewer may not grant
    resumed = await ot.resume_grant(granted.id)
    assert (resumed.status, resumed.created_by_account_id) == ("active", account_id)
    left = await ot.remove_member(membership_id)
    assert (left.removed, left.left) == (1, False)
    assert (await ot.list_members()).members == []


async def test_an_invitation_is_withdrawn(ot: OtClient) -> None:
    invitation = await ot.invite(GRACE, MemberRole.VIEWER)

    assert (await ot.withdraw_invitation(invitation.id)).withdrawn == 1

    assert (await ot.list_invitations()).invitations == []
