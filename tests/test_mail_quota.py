"""The cap on mails anyone can make us send to an address (`ot.accounts.mail_quota`): registrations,
new-address links and invitations stop reaching an address after its daily share, while every
answer stays as it would have been; the account's own security notices always go out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp.test_utils import TestClient

from ot.clock import utcnow
from ot.config import Settings
from ot.models import Site
from tests.account_support import (
    EMAIL,
    PASSWORD,
    audit_actions,
    execute,
    log_in,
    mails_to,
    register,
    registered,
    session_headers,
)
from tests.support import bearer, logged_in, rows

VICTIM = "victim@example.org"


def share(settings: Settings) -> int:
    return settings.accounts.mails_per_address_per_day


async def held_back(settings: Settings) -> list[str]:
    found = await rows(
        settings, "SELECT details FROM audit_entry WHERE action = 'mail.held_back' ORDER BY id"
    )
    return [str(row["details"]) for row in found]


async def a_day_passes(settings: Settings) -> None:
    """As if every address's period had begun a day ago."""
    await execute(
        settings,
        "UPDATE mail_quota SET period_started_at = :moment",
        moment=utcnow() - timedelta(days=1, seconds=1),
    )


async def test_registrations_cannot_flood_an_inbox(client: TestClient, settings: Settings) -> None:
    answers = [await register(client, email=VICTIM) for _ in range(share(settings) + 3)]

    assert {answer.status for answer in answers} == {202}
    bodies = [await answer.json() for answer in answers]
    assert all(body == bodies[0] for body in bodies)  # nobody learns that the cap was reached
    assert len(mails_to(settings, VICTIM)) == share(settings)  # one link, then notices
    assert len(await held_back(settings)) == 3
    assert all("taken_address_notice" in details for details in await held_back(settings))


async def test_parallel_registrations_cannot_slip_past_the_cap(
    client: TestClient, settings: Settings
) -> None:
    answers = await asyncio.gather(
        *(register(client, email=VICTIM) for _ in range(share(settings) + 4))
    )

    assert {answer.status for answer in answers} == {202}
    assert len(mails_to(settings, VICTIM)) == share(settings)


async def test_the_cap_is_per_address_and_for_a_day(client: TestClient, settings: Settings) -> None:
    for _ in range(share(settings) + 1):
        await register(client, email=VICTIM)
    await register(client, email="someone.else@example.org")
    assert len(mails_to(settings, "someone.else@example.org")) == 1

    await a_day_passes(settings)
    await register(client, email=VICTIM)

    assert len(mails_to(settings, VICTIM)) == share(settings) + 1
    # Periods that are over are forgotten: only the addresses of the last day are counted.
    assert len(await rows(settings, "SELECT id FROM mail_quota")) == 1


async def test_new_address_links_cannot_flood_an_inbox(
    client: TestClient, settings: Settings
) -> None:
    await registered(client, settings)
    ada = await session_headers(client)
    body = {"email": VICTIM, "current_password": PASSWORD}

    answers = [
        await client.post("/ot/v1/account/email", json=body, headers=ada)
        for _ in range(share(settings) + 2)
    ]

    assert {answer.status for answer in answers} == {200}
    assert len(mails_to(settings, VICTIM)) == share(settings)
    assert len(await held_back(settings)) == 2


async def test_invitations_cannot_flood_an_inbox(
    client: TestClient, settings: Settings, site: Site
) -> None:
    owner = await logged_in(settings, site.account_id)
    body = {"email": VICTIM, "role": "viewer"}

    answers = [
        await client.post("/ot/v1/team/invitations", json=body, headers=bearer(owner.token))
        for _ in range(share(settings) + 2)
    ]

    assert {answer.status for answer in answers} == {201}
    assert len(mails_to(settings, VICTIM)) == share(settings)
    assert all("invitation" in details for details in await held_back(settings))
    assert len(await held_back(settings)) == 2


async def test_the_accounts_own_security_notices_are_never_held_back(
    client: TestClient, settings: Settings
) -> None:
    """A flood of registrations with the owner's address must not silence the notices that
    tell the owner someone is at their account."""
    await registered(client, settings)
    ada = await session_headers(client)
    for _ in range(share(settings)):
        await register(client)
    assert len(await held_back(settings)) == 1  # the address has had its share
    before = len(mails_to(settings, EMAIL))

    for _ in range(settings.accounts.login_failures_before_delay):
        await log_in(client, password="a wrong guess")
    await execute(settings, "UPDATE login_throttle SET blocked_until = NULL")
    changed = await client.post(
        "/ot/v1/account/password",
        json={"current_password": PASSWORD, "new_password": "a quieter harbour at dawn"},
        headers=ada,
    )

    assert changed.status == 200, await changed.text()
    subjects = [mail["Subject"] for mail in mails_to(settings, EMAIL)[before:]]
    assert any("failed log-ins" in subject for subject in subjects)
    assert any("password was changed" in subject for subject in subjects)


async def test_addresses_are_counted_only_as_keyed_hashes(
    client: TestClient, settings: Settings
) -> None:
    await register(client, email=VICTIM)

    [row] = await rows(settings, "SELECT * FROM mail_quota")

    assert "victim" not in str(row) and "example" not in str(row)
    account_id = (await rows(settings, "SELECT id FROM account"))[0]["id"]
    assert "mail.held_back" not in await audit_actions(settings, account_id)
