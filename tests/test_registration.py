"""Registration (`POST /ot/v1/accounts`) and e-mail verification by a one-time link
(`/ot/v1/accounts/verify`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.mailer import Mail, check_no_request_for_personal_data
from tests.account_support import (
    EMAIL,
    audit_actions,
    execute,
    mails,
    mails_to,
    new_account,
    register,
    registered,
    text_of,
    token_in,
    verify,
)
from tests.support import error_of, rows


async def account_rows(settings: Settings) -> list[dict[str, Any]]:
    return await rows(settings, "SELECT * FROM account ORDER BY id")


async def test_registering_mails_a_link_that_confirms_the_address(
    client: TestClient, settings: Settings
) -> None:
    response = await register(client)
    assert response.status == 202
    assert "mailbox" in (await response.json())["message"]
    [mail] = mails_to(settings, EMAIL)
    assert "/ot/v1/accounts/verify?token=otv_" in text_of(mail)
    [account] = await account_rows(settings)
    assert account["email_verified_at"] is None

    verified = await verify(client, token_in(mail))
    assert verified.status == 200
    assert (await verified.json()) == {"verified": True, "account_id": account["id"]}
    [account] = await account_rows(settings)
    assert account["email_verified_at"] is not None
    assert await audit_actions(settings, account["id"]) == [
        "account.registered",
        "account.verified",
    ]


async def test_the_mailed_link_itself_confirms_the_address(
    client: TestClient, settings: Settings
) -> None:
    await register(client)
    link = text_of(mails_to(settings, EMAIL)[0]).split("http://", 1)[1].split()[0]
    path = "/" + link.split("/", 1)[1]
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert (await response.json())["verified"] is True


async def test_a_verification_link_works_only_once(client: TestClient, settings: Settings) -> None:
    await register(client)
    token = token_in(mails_to(settings, EMAIL)[0])
    assert (await verify(client, token)).status == 200
    replayed = await error_of(await verify(client, token), 400)
    assert replayed["field"] == "token"
    assert "already used" in replayed["message"]
    [account] = await account_rows(settings)
    assert (await audit_actions(settings, account["id"]))[-1] == "email.verification_refused"


async def test_an_expired_verification_link_is_refused(
    client: TestClient, settings: Settings
) -> None:
    await register(client)
    token = token_in(mails_to(settings, EMAIL)[0])
    await execute(settings, "UPDATE email_verification SET expires_at = created_at")
    assert (await error_of(await verify(client, token), 400))["field"] == "token"
    [account] = await account_rows(settings)
    assert account["email_verified_at"] is None


@pytest.mark.parametrize(
    "token",
    ["otv_madeup", "nonsense", "otv_" + "a" * 150, ""],
    ids=["unknown", "bad", "long", "empty"],
)
async def test_a_made_up_verification_token_is_refused(
    client: TestClient, settings: Settings, token: str
) -> None:
    await register(client)
    assert (await error_of(await verify(client, token), 400))["field"] == "token"
    assert (await error_of(await client.get(f"/ot/v1/accounts/verify?token={token}"), 400))[
        "field"
    ] == "token"
    [account] = await account_rows(settings)
    assert account["email_verified_at"] is None


async def test_registration_answers_alike_whether_the_address_is_new_or_taken(
    client: TestClient, settings: Settings
) -> None:
    first = await register(client)
    again = await register(client, email="  ADA@example.COM ", name="Someone Else")
    assert first.status == again.status == 202
    assert await first.json() == await again.json()
    assert len(await account_rows(settings)) == 1
    # The owner of the address is told instead, and gets no link for the second registration.
    notice = mails_to(settings, "ada@example.com")[-1]
    assert "already has an account" in text_of(notice)
    assert "otv_" not in text_of(notice)


async def test_the_customers_consent_to_hosting_in_their_region_is_recorded(
    client: TestClient, settings: Settings
) -> None:
    account_id = await registered(client, settings, region="us")
    [consent] = await rows(settings, "SELECT * FROM consent")
    assert consent["account_id"] == account_id
    assert consent["region"] == "us"
    assert consent["statement_version"] == settings.accounts.consent_statement_version
    assert consent["given_at"] is not None
    [account] = await account_rows(settings)
    assert account["region"] == "us"


async def test_registration_without_consent_is_refused(
    client: TestClient, settings: Settings
) -> None:
    error = await error_of(await register(client, consent=False), 400)
    assert error["field"] == "consent"
    assert await account_rows(settings) == []
    assert mails(settings) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region": "de"}, "region"),
        ({"region": None}, "region"),
        ({"consent": "yes"}, "consent"),
        ({"consent": 1}, "consent"),
        ({"name": 5}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "ada@localhost"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password1234"}, "password"),
        ({"password": "x" * 5000}, "password"),
        ({"phone": "1" * 41}, "phone"),
        ({"address": "a" * 501}, "address"),
        ({"company": ["list"]}, "company"),
        ({"admin": True}, "admin"),
    ],
)
async def test_bad_registrations_are_refused_and_change_nothing(
    client: TestClient, settings: Settings, overrides: dict[str, Any], field: str
) -> None:
    error = await error_of(await register(client, **overrides), 400)
    assert error["field"] == field
    assert await account_rows(settings) == []
    assert mails(settings) == []


@pytest.mark.parametrize("missing", ["name", "email", "password", "region", "consent"])
async def test_a_registration_missing_a_field_is_refused(
    client: TestClient, settings: Settings, missing: str
) -> None:
    body = new_account()
    del body[missing]
    error = await error_of(await client.post("/ot/v1/accounts", json=body), 400)
    assert error["field"] == missing
    assert await account_rows(settings) == []


async def test_a_registration_that_is_not_json_is_refused(
    client: TestClient, settings: Settings
) -> None:
    for body in (b"{not json", b"[1, 2]", b""):
        response = await client.post(
            "/ot/v1/accounts", data=body, headers={"Content-Type": "application/json"}
        )
        assert (await error_of(response, 400))["field"] == "body"
    assert await account_rows(settings) == []


async def test_contact_details_are_optional(client: TestClient, settings: Settings) -> None:
    body = new_account()
    for field in ("company", "address", "phone"):
        del body[field]
    assert (await client.post("/ot/v1/accounts", json=body)).status == 202
    [account] = await account_rows(settings)
    assert account["company_encrypted"] is None and account["phone_encrypted"] is None


async def test_all_personal_information_is_encrypted(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    [account] = await account_rows(settings)
    stored = " ".join(str(value) for value in account.values())
    # Whole values: a short fragment such as "ada" turns up in random base64 now and then.
    for plaintext in ("Ada Lovelace", "ada@example.com", "Analytical", "Keizersgracht", "555 0100"):
        assert plaintext.lower() not in stored.lower()
    assert account["email_index"] and account["password_hash"].startswith("$argon2id$")
    # Whole values, not fragments: the trail's hex hashes may well contain "ada".
    trail = " ".join(str(row) for row in await rows(settings, "SELECT * FROM audit_entry"))
    for plaintext in ("Ada Lovelace", "ada@example.com", "Analytical", "Keizersgracht"):
        assert plaintext.lower() not in trail.lower()


async def test_we_never_ask_for_personal_information_by_email(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    await register(client)  # the taken-address notice
    sent = mails(settings)
    assert len(sent) == 2
    for mail in sent:
        check_no_request_for_personal_data(
            Mail(to=mail["To"], subject=mail["Subject"], text=text_of(mail))
        )
        assert "never ask" in text_of(mail)


async def test_parallel_registrations_are_all_answered(
    client: TestClient, settings: Settings
) -> None:
    answers = await asyncio.gather(
        *(register(client, email=f"person{n % 4}@example.com") for n in range(8))
    )
    assert [answer.status for answer in answers] == [202] * 8
    assert len(await account_rows(settings)) == 4
