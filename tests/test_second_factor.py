"""The optional second factor: TOTP enrolment confirmed by a first code, log-in with a code or a
one-time recovery code, and turning it off with the password and a code."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from ot.config import Settings
from tests.account_support import (
    PASSWORD,
    audit_actions,
    enrolled,
    log_in,
    registered,
    session_headers,
)
from tests.account_support import totp_code as code
from tests.support import error_of, rows


async def account_row(settings: Settings) -> dict[str, Any]:
    [row] = await rows(settings, "SELECT * FROM account")
    return row


async def test_enrolment_waits_for_a_first_code_before_the_second_factor_is_on(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    headers = await session_headers(client)
    begun = await (await client.post("/ot/v1/account/second-factor", headers=headers)).json()
    assert begun["provisioning_uri"].startswith("otpauth://totp/opentracker:")
    stored = await account_row(settings)
    assert stored["totp_secret_encrypted"] and begun["secret"] not in str(stored)
    assert stored["totp_enabled_at"] is None
    assert (await log_in(client)).status == 200  # not on yet: no code needed

    wrong = await client.post(
        "/ot/v1/account/second-factor/confirm",
        json={"password": PASSWORD, "code": "000000"},
        headers=headers,
    )
    assert (await error_of(wrong, 400))["field"] == "code"
    assert (await account_row(settings))["totp_enabled_at"] is None


async def test_a_session_alone_cannot_turn_on_the_second_factor(
    client: TestClient, settings: Settings
) -> None:
    """Whoever finds a session open must not tie the account to an app of theirs: its owner
    could no longer log in. Turning the second factor on needs the password too."""
    account_id = await registered(client, settings)
    headers = await session_headers(client)
    begun = await (await client.post("/ot/v1/account/second-factor", headers=headers)).json()
    first_code = code(begun["secret"])
    path = "/ot/v1/account/second-factor/confirm"

    without = await client.post(path, json={"code": first_code}, headers=headers)
    wrong = await client.post(
        path, json={"password": "a guess", "code": first_code}, headers=headers
    )

    assert (await error_of(without, 400))["field"] == "password"
    error = await error_of(wrong, 403)
    assert error["field"] == "password" and "password" in error["message"]
    assert (await account_row(settings))["totp_enabled_at"] is None
    assert (await log_in(client)).status == 200  # still no code needed
    actions = await audit_actions(settings, account_id)
    assert actions.count("second_factor.enable_refused") == 1
    assert "second_factor.enabled" not in actions


async def test_confirming_turns_it_on_and_shows_the_recovery_codes_once(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    headers = await session_headers(client)
    _, recovery_codes = await enrolled(client, headers)
    assert len(recovery_codes) == len(set(recovery_codes)) == 10
    stored = " ".join(str(row) for row in await rows(settings, "SELECT * FROM recovery_code"))
    assert not any(recovery_code in stored for recovery_code in recovery_codes)
    assert "second_factor.enabled" in await audit_actions(settings, account_id)
    profile = await (await client.get("/ot/v1/account", headers=headers)).json()
    assert profile["second_factor"] is True
    again = await client.post("/ot/v1/account/second-factor", headers=headers)
    assert (await error_of(again, 409))["field"] == "second_factor"


async def test_log_in_then_needs_a_code_from_the_app(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    secret, _ = await enrolled(client, await session_headers(client))

    assert (await error_of(await log_in(client), 401))["field"] == "password"
    assert (await error_of(await log_in(client, totp_code="123456"), 401))["field"] == "password"
    next_code = code(secret, 1)
    assert (await log_in(client, totp_code=next_code)).status == 200
    # A code works once, even within its 30 seconds.
    assert (await log_in(client, totp_code=next_code)).status == 401
    # Without the password the code is worth nothing.
    assert (
        await log_in(client, password="wrong password!", totp_code=code(secret, 1))
    ).status == 401


async def test_a_recovery_code_stands_in_for_the_app_once(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    _, recovery_codes = await enrolled(client, await session_headers(client))
    spoken = recovery_codes[3].upper().replace("-", " ")  # read aloud or retyped: still good
    assert (await log_in(client, recovery_code=spoken)).status == 200
    assert "second_factor.recovery_code_used" in await audit_actions(settings, account_id)
    replayed = await log_in(client, recovery_code=recovery_codes[3])
    assert (await error_of(replayed, 401))["field"] == "password"
    assert (await log_in(client, recovery_code=recovery_codes[4])).status == 200


async def test_wrong_codes_count_as_failed_log_ins(client: TestClient, settings: Settings) -> None:
    await registered(client, settings)
    secret, _ = await enrolled(client, await session_headers(client))
    for _ in range(5):
        assert (await log_in(client, totp_code="000000")).status == 401
    assert (await log_in(client, totp_code=code(secret, 1))).status == 429


async def test_turning_it_off_needs_the_password_and_a_code(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    headers = await session_headers(client)
    secret, recovery_codes = await enrolled(client, headers)
    path = "/ot/v1/account/second-factor/disable"
    for body in (
        {"password": "wrong password!", "code": code(secret, 1)},
        {"password": PASSWORD, "code": "000000"},
    ):
        refused = await client.post(path, json=body, headers=headers)
        assert (await error_of(refused, 403))["field"] == "code"
    await error_of(await client.post(path, json={"password": PASSWORD}, headers=headers), 400)
    assert (await account_row(settings))["totp_enabled_at"] is not None

    done = await client.post(
        path, json={"password": PASSWORD, "code": recovery_codes[0]}, headers=headers
    )
    assert done.status == 200
    assert (await done.json()) == {"second_factor": False}
    stored = await account_row(settings)
    assert stored["totp_enabled_at"] is None and stored["totp_secret_encrypted"] is None
    assert await rows(settings, "SELECT id FROM recovery_code") == []
    actions = await audit_actions(settings, account_id)
    assert actions.count("second_factor.disable_refused") == 2
    assert "second_factor.disabled" in actions
    assert (await log_in(client)).status == 200
    again = await client.post(path, json={"password": PASSWORD, "code": "000000"}, headers=headers)
    await error_of(again, 409)


async def test_confirming_without_starting_is_refused(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    headers = await session_headers(client)
    response = await client.post(
        "/ot/v1/account/second-factor/confirm",
        json={"password": PASSWORD, "code": "123456"},
        headers=headers,
    )
    assert (await error_of(response, 400))["field"] == "second_factor"
    for body in (
        {"password": PASSWORD},
        {"password": PASSWORD, "code": 123456},
        {"password": PASSWORD, "code": "1" * 100},
    ):
        bad = await client.post("/ot/v1/account/second-factor/confirm", json=body, headers=headers)
        assert (await error_of(bad, 400))["field"] == "code"
