"""The profile (`/ot/v1/account`): customers read everything they gave us, correct it, and read
the history of every change. How the account logs in (its e-mail address and password) changes
only with a logged-in session proving itself again, with the current password and, when on, the
second factor; a new address also needs verification."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.clock import ManualClock
from ot.config import Settings
from tests.account_support import (
    EMAIL,
    PASSWORD,
    audit_actions,
    enrolled,
    log_in,
    mails_to,
    registered,
    session_headers,
    text_of,
    token_in,
    totp_code,
    verify,
)
from tests.stats_support import token_for
from tests.support import bearer, error_of, logged_in, make_site, rows

NEW_PASSWORD = "a quieter harbour at dawn"


async def profile(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/ot/v1/account", headers=headers)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def patch(client: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    return await client.patch("/ot/v1/account", json=fields, headers=headers)


async def change_email(
    client: TestClient, headers: dict[str, str], email: str, **proof: Any
) -> Any:
    """Ask for a new login address, with the current password unless `proof` says otherwise."""
    body = {"email": email, "current_password": PASSWORD, **proof}
    return await client.post("/ot/v1/account/email", json=body, headers=headers)


async def change_password(
    client: TestClient, headers: dict[str, str], new_password: str = NEW_PASSWORD, **proof: Any
) -> Any:
    body = {"current_password": PASSWORD, "new_password": new_password, **proof}
    return await client.post("/ot/v1/account/password", json=body, headers=headers)


async def history(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/ot/v1/account/history", headers=headers)
    assert response.status == 200, await response.text()
    changes: list[dict[str, Any]] = (await response.json())["changes"]
    return changes


@pytest.fixture
async def ada(client: TestClient, settings: Settings) -> dict[str, str]:
    """Ada registered, confirmed her address and logged in: her session's headers."""
    await registered(client, settings)
    return await session_headers(client)


async def test_customers_can_read_everything_they_gave_us(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    mine = await profile(client, ada)
    assert mine | {"id": 0, "created_at": "", "consents": []} == {
        "id": 0,
        "name": "Ada Lovelace",
        "email": EMAIL,
        "email_verified": True,
        "pending_email": None,
        "company": "Analytical Engines B.V.",
        "address": "Keizersgracht 1, Amsterdam",
        "phone": "+31 20 555 0100",
        "region": "nl",
        "second_factor": False,
        "created_at": "",
        "consents": [],
    }
    [consent] = mine["consents"]
    assert consent["region"] == "nl" and consent["statement_version"]


async def test_customers_can_correct_and_update_their_profile(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    response = await patch(client, ada, name="Ada King", phone="", company="Engines Ltd")
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["changed"] == ["company", "name", "phone"]
    assert answer["profile"]["name"] == "Ada King" and answer["profile"]["phone"] == ""
    assert (await profile(client, ada))["company"] == "Engines Ltd"

    [change] = await history(client, ada)
    assert change["fields"] == ["company", "name", "phone"]
    assert change["actor"] == f"account:{answer['profile']['id']}"
    assert change["old_values"] == {
        "company": "Analytical Engines B.V.",
        "name": "Ada Lovelace",
        "phone": "+31 20 555 0100",
    }
    assert change["at"]
    assert (await audit_actions(settings, answer["profile"]["id"]))[-1] == "profile.changed"


async def test_old_values_in_the_history_are_encrypted(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    await patch(client, ada, name="Ada King", address="Herengracht 2")
    stored = " ".join(str(row) for row in await rows(settings, "SELECT * FROM profile_change"))
    assert "Lovelace" not in stored and "Keizersgracht" not in stored
    assert "Herengracht" not in " ".join(
        str(row) for row in await rows(settings, "SELECT * FROM account")
    )


async def test_an_unchanged_profile_leaves_no_history(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    answer = await (await patch(client, ada, name=" Ada Lovelace ", region="nl")).json()
    assert answer["changed"] == []
    assert await history(client, ada) == []


async def test_moving_to_another_region_needs_consent_which_is_recorded(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    refused = await patch(client, ada, region="us")
    assert (await error_of(refused, 400))["field"] == "consent"
    assert (await profile(client, ada))["region"] == "nl"

    moved = await patch(client, ada, region="us", consent=True)
    assert (await moved.json())["changed"] == ["region"]
    consents = (await profile(client, ada))["consents"]
    assert [c["region"] for c in consents] == ["nl", "us"]
    assert (await history(client, ada))[0]["old_values"] == {"region": "nl"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"phone": "1" * 41}, "phone"),
        ({"region": "de", "consent": True}, "region"),
        ({"consent": "yes"}, "consent"),
        ({"email": "not an address"}, "email"),
        ({"password": NEW_PASSWORD}, "password"),
        ({"id": 99}, "id"),
        ({"name": "Ada King", "phone": "0", "region": "us"}, "consent"),
        ({"name": "Ada King", "email": "nope"}, "email"),
    ],
)
async def test_bad_profile_changes_are_refused_and_change_nothing(
    client: TestClient,
    settings: Settings,
    ada: dict[str, str],
    fields: dict[str, Any],
    field: str,
) -> None:
    before = await profile(client, ada)
    assert (await error_of(await patch(client, ada, **fields), 400))["field"] == field
    assert await profile(client, ada) == before
    assert await history(client, ada) == []


async def test_a_new_address_takes_effect_only_once_verified(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    answer = await (await change_email(client, ada, "Ada@Engines.example")).json()
    assert answer["pending_email"] == "ada@engines.example"
    assert (await profile(client, ada))["email"] == EMAIL
    assert (await profile(client, ada))["pending_email"] == "ada@engines.example"
    assert (await log_in(client, email="ada@engines.example")).status == 401

    [link] = mails_to(settings, "ada@engines.example")
    verified = await verify(client, token_in(link))
    assert verified.status == 200
    mine = await profile(client, ada)
    assert (mine["email"], mine["pending_email"]) == ("ada@engines.example", None)
    assert (await log_in(client, email="ada@engines.example")).status == 200
    assert (await log_in(client)).status == 401
    notice = mails_to(settings, EMAIL)[-1]
    assert "was changed" in text_of(notice)
    assert (await history(client, ada))[0] | {"at": ""} == {
        "at": "",
        "actor": f"account:{mine['id']}",
        "fields": ["email"],
        "old_values": {"email": EMAIL},
    }
    actions = await audit_actions(settings, mine["id"])
    assert actions.index("email.change_requested") < actions.index("email.changed")
    assert (await error_of(await verify(client, token_in(link)), 400))["field"] == "token"


async def test_a_taken_address_is_answered_alike_and_its_owner_told(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    await registered(client, settings, email="grace@example.com", name="Grace Hopper")
    answer = await (await change_email(client, ada, "Grace@example.com")).json()
    assert answer["pending_email"] == "grace@example.com"
    assert (await profile(client, ada))["pending_email"] == "grace@example.com"
    notice = mails_to(settings, "grace@example.com")[-1]
    assert "nothing was changed" in text_of(notice) and "otv_" not in text_of(notice)
    assert (await profile(client, ada))["email"] == EMAIL


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    other = await session_headers(client)
    path = "/ot/v1/account/password"
    wrong = await client.post(
        path,
        json={"current_password": "guess guess guess", "new_password": NEW_PASSWORD},
        headers=ada,
    )
    assert (await error_of(wrong, 403))["field"] == "current_password"
    weak = await client.post(
        path, json={"current_password": PASSWORD, "new_password": "password1234"}, headers=ada
    )
    assert (await error_of(weak, 400))["field"] == "password"
    assert (await client.get("/ot/v1/sessions", headers=other)).status == 200

    changed = await client.post(
        path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=ada
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json()) == {"other_sessions_ended": 1}
    assert (await client.get("/ot/v1/sessions", headers=other)).status == 401
    assert (await client.get("/ot/v1/sessions", headers=ada)).status == 200
    assert (await log_in(client)).status == 401
    assert (await log_in(client, password=NEW_PASSWORD)).status == 200
    assert (await history(client, ada))[0]["fields"] == ["password"]
    assert (await history(client, ada))[0]["old_values"] == {"password": None}
    actions = await audit_actions(settings)
    assert "password.change_refused" in actions and "password.changed" in actions
    assert "password was changed" in mails_to(settings, EMAIL)[-1]["Subject"]


async def test_an_account_made_by_an_operator_has_a_profile_too(
    client: TestClient, settings: Settings
) -> None:
    site = await make_site(settings, "operator.example")
    started = await logged_in(settings, site.account_id)
    mine = await profile(client, bearer(started.token))
    assert mine["name"] == "Test Shop B.V." and mine["email"] is None
    assert mine["region"] is None and mine["consents"] == []


async def test_an_api_key_cannot_change_the_password_or_read_the_profile_without_its_scope(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    account_id = (await profile(client, ada))["id"]
    key = bearer(await token_for(settings, account_id))  # stats:read only
    refused = await client.post(
        "/ot/v1/account/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=key,
    )
    assert (await error_of(refused, 403))["field"] == "token"
    assert (await error_of(await client.get("/ot/v1/account", headers=key), 403))[
        "field"
    ] == "scope"
    assert (await error_of(await patch(client, key, name="Mallory"), 403))["field"] == "scope"
    assert (await log_in(client)).status == 200


async def test_a_new_address_taken_before_it_is_verified_is_refused(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    await change_email(client, ada, "shared@example.com")
    [link] = mails_to(settings, "shared@example.com")
    await registered(client, settings, email="shared@example.com", name="Grace Hopper")
    refused = await verify(client, token_in(link))
    assert (await error_of(refused, 409))["field"] == "token"
    assert (await profile(client, ada))["email"] == EMAIL
    assert (await log_in(client)).status == 200


async def test_an_api_key_cannot_change_the_login_email_address(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    account_id = (await profile(client, ada))["id"]
    key = bearer(await token_for(settings, account_id, scopes=("account:read", "account:write")))

    through_the_profile = await patch(client, key, email="mallory@evil.example")
    directly = await change_email(client, key, "mallory@evil.example")

    error = await error_of(through_the_profile, 400)
    assert error["field"] == "email" and "POST /ot/v1/account/email" in error["message"]
    assert (await error_of(directly, 403))["field"] == "token"
    assert (await profile(client, ada))["pending_email"] is None
    assert mails_to(settings, "mallory@evil.example") == []
    # What is not a login credential, a key with account:write may still correct.
    assert (await patch(client, key, company="Engines Ltd")).status == 200


async def test_a_session_alone_cannot_change_the_login_email_address(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    """Whoever finds a session open must not be able to move the account to their mailbox."""
    without = await client.post(
        "/ot/v1/account/email", json={"email": "mallory@evil.example"}, headers=ada
    )
    wrong = await change_email(client, ada, "mallory@evil.example", current_password="a guess")

    assert (await error_of(without, 400))["field"] == "current_password"
    error = await error_of(wrong, 403)
    assert error["field"] == "current_password" and "password" in error["message"]
    assert (await profile(client, ada))["pending_email"] is None
    assert mails_to(settings, "mallory@evil.example") == []
    account_id = (await profile(client, ada))["id"]
    assert (await audit_actions(settings, account_id)).count("email.change_refused") == 1
    assert await history(client, ada) == []


async def test_with_the_second_factor_on_the_login_credentials_change_only_with_a_code(
    client: TestClient, settings: Settings, ada: dict[str, str]
) -> None:
    secret, recovery_codes = await enrolled(client, ada)

    no_code = [
        await change_email(client, ada, "ada@engines.example"),
        await change_password(client, ada),
    ]
    wrong_code = [
        await change_email(client, ada, "ada@engines.example", code="000000"),
        await change_password(client, ada, code="000000"),
    ]

    for refused in no_code:
        assert (await error_of(refused, 403))["field"] == "code"
    for refused in wrong_code:
        error = await error_of(refused, 403)
        assert error["message"] == "the password or the code is not right"
    assert (await profile(client, ada))["pending_email"] is None
    assert (await log_in(client, totp_code=totp_code(secret, 1))).status == 200  # unchanged

    moved = await change_email(client, ada, "ada@engines.example", code=recovery_codes[0])
    assert moved.status == 200, await moved.text()
    changed = await change_password(client, ada, code=recovery_codes[1])
    assert changed.status == 200, await changed.text()
    assert (
        await log_in(client, password=NEW_PASSWORD, recovery_code=recovery_codes[2])
    ).status == 200


async def test_wrong_current_passwords_are_throttled_like_log_ins(
    client: TestClient, settings: Settings, ada: dict[str, str], clock: ManualClock
) -> None:
    """A stolen session must not become a way to guess the password faster than log-in allows:
    wrong current passwords count as failed log-ins of the account."""
    guess = {"current_password": "a guess, again"}
    for _ in range(3):
        assert (await change_password(client, ada, **guess)).status == 403
    for _ in range(2):
        assert (await change_email(client, ada, "mallory@evil.example", **guess)).status == 403

    throttled = [
        await change_password(client, ada),  # even the right password must wait now
        await change_email(client, ada, "ada@engines.example"),
        await log_in(client),
    ]

    for answer in throttled:
        await error_of(answer, 429)
        assert answer.headers["Retry-After"] == "2"
    assert "failed log-ins" in mails_to(settings, EMAIL)[-1]["Subject"]  # the owner is told
    clock.advance(2)
    assert (await change_password(client, ada)).status == 200
