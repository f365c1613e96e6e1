"""Helpers for the account tests: a customer who registers, reads their mail, and logs in through
the real HTTP API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pyotp
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.config import Settings
from ot.mailer import outbox
from tests.support import NOT_SETUP, bearer, helper_engine, rows

PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.com"


def new_account(**overrides: Any) -> dict[str, Any]:
    """A complete registration body for Ada."""
    return {
        "name": "Ada Lovelace",
        "email": EMAIL,
        "password": PASSWORD,
        "company": "Analytical Engines B.V.",
        "address": "Keizersgracht 1, Amsterdam",
        "phone": "+31 20 555 0100",
        "region": "nl",
        "consent": True,
        **overrides,
    }


def mails(settings: Settings) -> list[EmailMessage]:
    return outbox(settings.data_dir)


def mails_to(settings: Settings, address: str) -> list[EmailMessage]:
    return [mail for mail in mails(settings) if mail["To"] == address]


def text_of(mail: EmailMessage) -> str:
    return str(mail.get_content())


def token_in(mail: EmailMessage) -> str:
    found = re.search(r"otv_[A-Za-z0-9_-]+", text_of(mail))
    assert found, text_of(mail)
    return found.group(0)


async def register(client: TestClient, **overrides: Any) -> ClientResponse:
    return await client.post("/ot/v1/accounts", json=new_account(**overrides))


async def verify(client: TestClient, token: str) -> ClientResponse:
    return await client.post("/ot/v1/accounts/verify", json={"token": token})


async def registered(client: TestClient, settings: Settings, **overrides: Any) -> int:
    """Register and confirm the address through the mailed link; the new account's id."""
    email = overrides.get("email", EMAIL)
    response = await register(client, **overrides)
    assert response.status == 202, await response.text()
    verified = await verify(client, token_in(mails_to(settings, email)[-1]))
    assert verified.status == 200, await verified.text()
    account_id: int = (await verified.json())["account_id"]
    return account_id


async def log_in(
    client: TestClient, email: str = EMAIL, password: str = PASSWORD, **extra: Any
) -> ClientResponse:
    return await client.post("/ot/v1/login", json={"email": email, "password": password, **extra})


async def session_headers(
    client: TestClient, email: str = EMAIL, password: str = PASSWORD, **extra: Any
) -> dict[str, str]:
    response = await log_in(client, email, password, **extra)
    assert response.status == 200, await response.text()
    return bearer((await response.json())["token"])


async def audit_actions(settings: Settings, account_id: int | None = None) -> list[str]:
    """The actions in the audit trail, oldest first (of one account, when given)."""
    if account_id is None:
        found = await rows(
            settings, f"SELECT action FROM audit_entry WHERE {NOT_SETUP} ORDER BY id"
        )
    else:
        found = await rows(
            settings,
            f"SELECT action FROM audit_entry WHERE {NOT_SETUP} AND account_id = :id ORDER BY id",
            id=account_id,
        )
    return [row["action"] for row in found]


async def execute(settings: Settings, statement: str, **params: Any) -> None:
    """Run one SQL statement and commit it (to age a link, a hash, a throttle...)."""
    async with helper_engine(settings) as engine, engine.begin() as connection:
        await connection.execute(text(statement), params)


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator app's code now, or some 30-second steps later (each code works once)."""
    moment = datetime.now(UTC) + timedelta(seconds=30 * steps_ahead)
    return pyotp.TOTP(secret).at(moment)


async def enrolled(client: TestClient, headers: dict[str, str]) -> tuple[str, list[str]]:
    """Turn the second factor on; its secret and the recovery codes."""
    begun = await client.post("/ot/v1/account/second-factor", headers=headers)
    assert begun.status == 200, await begun.text()
    secret = (await begun.json())["secret"]
    confirmed = await client.post(
        "/ot/v1/account/second-factor/confirm",
        json={"password": PASSWORD, "code": totp_code(secret)},
        headers=headers,
    )
    assert confirmed.status == 200, await confirmed.text()
    return secret, (await confirmed.json())["recovery_codes"]
