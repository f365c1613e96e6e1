"""Log-in (`POST /ot/v1/login`): a new session per log-in, a safe cookie, refusals that tell
nobody who is registered, and brute-force throttling with a notice to the customer."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import login as login_module
from ot.accounts.passwords import crypt_context
from ot.clock import ManualClock, as_utc
from ot.config import Settings
from ot.db import create_engine
from ot.models import LoginThrottle
from ot.server.app import create_app
from tests.account_support import (
    EMAIL,
    PASSWORD,
    audit_actions,
    enrolled,
    execute,
    log_in,
    mails_to,
    register,
    registered,
    session_headers,
    text_of,
    totp_code,
)
from tests.support import bearer, error_of, rows


def with_accounts(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"accounts": settings.accounts.model_copy(update=changes)})


async def test_logging_in_returns_a_new_session_token_and_a_csrf_token(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    response = await log_in(client)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["account_id"] == account_id
    assert answer["token"].startswith("ots_") and answer["csrf_token"]
    sessions = await client.get("/ot/v1/sessions", headers=bearer(answer["token"]))
    assert sessions.status == 200
    assert (await audit_actions(settings, account_id))[-1] == "login.succeeded"


async def test_each_log_in_starts_its_own_session(client: TestClient, settings: Settings) -> None:
    await registered(client, settings)
    first = await (await log_in(client)).json()
    second = await (await log_in(client)).json()
    assert first["token"] != second["token"]
    listed = await (await client.get("/ot/v1/sessions", headers=bearer(second["token"]))).json()
    assert len(listed["sessions"]) == 2


async def test_the_session_cookie_is_http_only_same_site_strict_for_the_whole_site(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    response = await log_in(client)
    [cookie] = response.headers.getall("Set-Cookie")
    assert cookie.startswith("ot_session=ots_")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "secure" not in attributes  # plain HTTP in this test, and the setting is off


async def test_the_session_cookie_is_secure_when_the_setting_says_so(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(with_accounts(settings, cookie_secure=True)))
    await registered(client, settings)
    [cookie] = (await log_in(client)).headers.getall("Set-Cookie")
    assert "Secure" in cookie


async def test_a_browser_session_needs_the_csrf_token_for_changes(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    answer = await (await log_in(client)).json()
    # The test client keeps the cookie like a browser does.
    assert (await client.get("/ot/v1/sessions")).status == 200
    assert (await client.delete("/ot/v1/sessions/current")).status == 403
    ended = await client.delete(
        "/ot/v1/sessions/current", headers={"X-CSRF-Token": answer["csrf_token"]}
    )
    assert ended.status == 200


async def test_a_password_must_be_entered_to_log_in(client: TestClient, settings: Settings) -> None:
    account_id = await registered(client, settings)
    for password in ("", "correct horse battery stapler", PASSWORD.upper()):
        error = await error_of(await log_in(client, password=password), 401)
        assert error["message"] == login_module.WRONG_CREDENTIALS
    missing = await client.post("/ot/v1/login", json={"email": EMAIL})
    assert (await error_of(missing, 400))["field"] == "password"
    assert await rows(settings, "SELECT id FROM login_session") == []
    assert (await audit_actions(settings, account_id)).count("login.failed") == 3


async def test_refusals_do_not_reveal_whether_an_address_is_registered(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registered(client, settings)
    dummy_verifications = []
    spend = login_module.spend_verification_time
    monkeypatch.setattr(
        login_module,
        "spend_verification_time",
        lambda password, settings: dummy_verifications.append(1) or spend(password, settings),
    )
    known = await log_in(client, password="not the right password")
    unknown = await log_in(client, email="nobody@example.com", password="not the right password")
    assert known.status == unknown.status == 401
    assert await known.json() == await unknown.json()
    # The unknown address spent the time of one argon2 verification too.
    assert dummy_verifications == [1]


async def test_with_the_second_factor_on_a_log_in_never_tells_whether_the_password_was_right(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    secret, _ = await enrolled(client, await session_headers(client))
    guesses = [
        {"password": "wrong password!"},
        {"password": PASSWORD},  # right, without a code
        {"password": PASSWORD, "totp_code": "000000"},
        {"password": PASSWORD, "recovery_code": "aaaa-bbbb-cccc-dddd"},
        {"password": "wrong password!", "totp_code": totp_code(secret, 1)},
    ]

    answers = [await log_in(client, **guess) for guess in guesses]
    stranger = await log_in(client, email="nobody@example.com", password=PASSWORD)

    assert {answer.status for answer in [*answers, stranger]} == {401}
    bodies = [await answer.json() for answer in [*answers, stranger]]
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["error"]["message"] == login_module.WRONG_CREDENTIALS
    # Throttled alike: each of them counted as a failure, so now even the whole truth waits.
    assert (await log_in(client, totp_code=totp_code(secret, 1))).status == 429
    # The owner's own trail tells the reasons apart.
    failed = await rows(
        settings,
        "SELECT details FROM audit_entry WHERE action = 'login.failed' AND account_id = :id "
        "ORDER BY id",
        id=account_id,
    )
    details = [json.loads(d) if isinstance(d, str) else d for d in (r["details"] for r in failed)]
    assert [detail["reason"] for detail in details] == [
        "wrong_password",
        "missing_second_factor",
        "wrong_second_factor",
        "wrong_second_factor",
        "wrong_password",
    ]


async def test_an_unconfirmed_address_cannot_log_in(client: TestClient, settings: Settings) -> None:
    await register(client)
    error = await error_of(await log_in(client), 403)
    assert "confirm your e-mail address" in error["message"]
    assert await rows(settings, "SELECT id FROM login_session") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": EMAIL},
        {"email": 5, "password": PASSWORD},
        {"email": EMAIL, "password": ["x"]},
        {"email": "a" * 300, "password": PASSWORD},
        {"email": EMAIL, "password": "x" * 2000},
        {"email": EMAIL, "password": PASSWORD, "remember": True},
        {"email": EMAIL, "password": PASSWORD, "totp_code": "1" * 40},
    ],
)
async def test_malformed_log_ins_are_refused(
    client: TestClient, settings: Settings, body: dict[str, Any]
) -> None:
    await registered(client, settings)
    await error_of(await client.post("/ot/v1/login", json=body), 400)
    assert await rows(settings, "SELECT id FROM login_session") == []


async def test_a_hash_with_old_parameters_is_upgraded_at_log_in(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings)
    weaker = crypt_context(memory_kib=8, time_cost=1).hash(PASSWORD)
    await execute(settings, "UPDATE account SET password_hash = :h", h=weaker)
    assert (await log_in(client)).status == 200
    [account] = await rows(
        settings, "SELECT password_hash FROM account WHERE id = :id", id=account_id
    )
    current = settings.accounts
    parameters = f"m={current.password_hash_memory_kib},t={current.password_hash_passes},"
    assert parameters in account["password_hash"]
    assert (await log_in(client)).status == 200


async def forget_time_passes(settings: Settings, elapsed: timedelta) -> None:
    """As if the last failures were `elapsed` longer ago."""
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            for row in await session.exec(select(LoginThrottle)):
                row.last_failure_at = as_utc(row.last_failure_at) - elapsed
                session.add(row)
            await session.commit()
    finally:
        await engine.dispose()


async def fail(client: TestClient, times: int, email: str = EMAIL) -> None:
    for _ in range(times):
        assert (await log_in(client, email=email, password="wrong password!")).status == 401


async def allow_next_attempt(settings: Settings) -> None:
    """As if the current delay had passed."""
    await execute(settings, "UPDATE login_throttle SET blocked_until = NULL")


async def test_repeated_failures_are_throttled_with_growing_delays(
    client: TestClient, settings: Settings, clock: ManualClock
) -> None:
    account_id = await registered(client, settings)
    await fail(client, 5)
    throttled = await log_in(client)  # even the right password must wait now
    error = await error_of(throttled, 429)
    assert throttled.headers["Retry-After"] == "2"
    assert "try again in 2 seconds" in error["message"]
    clock.advance(1)
    assert (await log_in(client)).headers["Retry-After"] == "1"
    clock.advance(1)
    await fail(client, 1)
    assert (await log_in(client)).headers["Retry-After"] == "4"
    clock.advance(4)
    await fail(client, 1)
    assert (await log_in(client)).headers["Retry-After"] == "8"
    actions = await audit_actions(settings, account_id)
    assert actions.count("login.failed") == 7 and actions.count("login.throttled") == 4
    clock.advance(8)
    assert (await log_in(client)).status == 200


async def test_the_delay_is_capped(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    client = await aiohttp_client(
        create_app(
            with_accounts(settings, login_failures_before_delay=1, login_max_delay_seconds=5),
            clock=clock,
        )
    )
    await registered(client, settings)
    for _ in range(5):
        await fail(client, 1)
        clock.advance(5)
    await fail(client, 1)
    assert (await log_in(client)).headers["Retry-After"] == "5"


async def test_the_customer_is_told_once_when_their_log_ins_are_throttled(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    await fail(client, 5)
    await allow_next_attempt(settings)
    await fail(client, 1)
    [notice] = [m for m in mails_to(settings, EMAIL) if "failed log-ins" in m["Subject"]]
    assert "slow further attempts down" in text_of(notice)


async def test_throttling_answers_alike_for_unknown_addresses(
    client: TestClient, settings: Settings
) -> None:
    await fail(client, 5, email="nobody@example.com")
    assert (await log_in(client, email="nobody@example.com")).status == 429
    assert mails_to(settings, "nobody@example.com") == []


async def test_one_ip_trying_many_addresses_is_throttled(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    client = await aiohttp_client(
        create_app(with_accounts(settings, login_ip_failures_before_delay=4), clock=clock)
    )
    await registered(client, settings)
    for number in range(4):
        await fail(client, 1, email=f"guess{number}@example.com")
    # A fifth address from the same IP waits, though it never failed itself.
    assert (await log_in(client)).status == 429


async def test_a_client_cannot_escape_the_log_in_throttle_with_an_x_forwarded_for_of_its_own(
    aiohttp_client: Any, settings: Settings, clock: ManualClock
) -> None:
    """Behind a trusted proxy that adds its own X-Forwarded-For header after the client's, a
    new address in the client's own header each time must not make each guess a new IP."""
    client = await aiohttp_client(
        create_app(with_accounts(settings, login_ip_failures_before_delay=4), clock=clock)
    )
    await registered(client, settings)

    async def guess(number: int, email: str, password: str) -> int:
        headers = CIMultiDict(
            [("X-Forwarded-For", f"10.9.8.{number}"), ("X-Forwarded-For", "203.0.113.9")]
        )
        body = {"email": email, "password": password}
        return (await client.post("/ot/v1/login", json=body, headers=headers)).status

    statuses = [await guess(n, f"guess{n}@example.com", "wrong password!") for n in range(4)]

    assert statuses == [401] * 4
    assert await guess(99, EMAIL, PASSWORD) == 429
    # The address the proxy vouched for is the one held up, not every client of ours.
    assert (await log_in(client)).status == 200


async def test_a_successful_log_in_forgets_the_addresss_failures(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    await fail(client, 4)
    assert (await log_in(client)).status == 200
    await fail(client, 4)
    assert (await log_in(client)).status == 200


async def test_failures_are_forgotten_after_a_while(client: TestClient, settings: Settings) -> None:
    await registered(client, settings)
    await fail(client, 4)
    await forget_time_passes(settings, timedelta(hours=2))
    await fail(client, 1)
    assert (await log_in(client)).status == 200


async def test_the_ip_is_not_stored_in_plaintext(client: TestClient, settings: Settings) -> None:
    await fail(client, 1)
    keys = [row["key"] for row in await rows(settings, "SELECT key FROM login_throttle")]
    assert len(keys) == 2
    assert all("127.0.0.1" not in key and "example" not in key for key in keys)


async def test_parallel_guesses_cannot_slip_past_the_count(
    client: TestClient, settings: Settings
) -> None:
    # The server's clock stands still (`clock`), so the first delay cannot run out meanwhile.
    await registered(client, settings)
    answers = await asyncio.gather(
        *(log_in(client, password=f"wrong password {n}") for n in range(12))
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses.count(401) == settings.accounts.login_failures_before_delay
    assert set(statuses) == {401, 429}
