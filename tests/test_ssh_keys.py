"""Customers' SSH keys (`ot.accounts.ssh_keys`, `/ot/v1/ssh-keys`, `OtClient`): a logged-in
customer adds, lists and removes the public keys that open their terminal UI over SSH. A key is
read as OpenSSH reads it, weak ones are refused, one key belongs to one account, the key and its
name are stored encrypted, its fingerprint is OpenSSH's own, and every change is audited."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.ssh_keys import account_of_key
from ot.client import CredentialStore, Invalid, OtClient
from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from tests.support import NOT_SETUP, bearer, error_of, logged_in, rows
from tests.team_support import new_account


def public_line(key: Any, comment: str = "ada@laptop") -> str:
    opened = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{opened.decode()} {comment}".strip()


@pytest.fixture(scope="module")
def ed25519_key() -> str:
    return public_line(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def other_key() -> str:
    return public_line(ed25519.Ed25519PrivateKey.generate(), "ada@desktop")


async def add(client: TestClient, token: str, public_key: str, **more: Any) -> Any:
    return await client.post(
        "/ot/v1/ssh-keys", json={"public_key": public_key, **more}, headers=bearer(token)
    )


async def stored(settings: Settings) -> list[dict[str, Any]]:
    return await rows(settings, "SELECT * FROM ssh_key ORDER BY id")


def ssh_keygen_fingerprint(public_key: str, folder: Path) -> str:
    """What `ssh-keygen -l` says the key's fingerprint is."""
    path = folder / "key.pub"
    path.write_text(public_key + "\n")
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return listed.stdout.split()[1]


async def test_a_key_is_added_named_by_its_comment_and_fingerprinted_as_ssh_keygen_does(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str, tmp_path: Path
) -> None:
    started = await logged_in(settings, site.account_id)
    response = await add(client, started.token, ed25519_key)
    assert response.status == 201, await response.text()
    added = await response.json()
    assert added["name"] == "ada@laptop" and added["key_type"] == "ssh-ed25519"
    assert added["fingerprint"] == ssh_keygen_fingerprint(ed25519_key, tmp_path)
    assert added["public_key"] == " ".join(ed25519_key.split()[:2])
    listing = await client.get("/ot/v1/ssh-keys", headers=bearer(started.token))
    assert [key["id"] for key in (await listing.json())["keys"]] == [added["id"]]


async def test_the_key_and_its_name_are_stored_encrypted(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str
) -> None:
    started = await logged_in(settings, site.account_id)
    assert (await add(client, started.token, ed25519_key, name="Ada's laptop")).status == 201
    [row] = await stored(settings)
    assert ed25519_key.split()[1] not in str(row) and "Ada's laptop" not in str(row)
    assert row["fingerprint"].startswith("SHA256:")


@pytest.mark.parametrize(
    ("pasted", "said"),
    [
        ("", "paste your public key"),
        ("ssh-ed25519", "a public key reads"),
        ("ssh-ed25519 not-base64!!", "not a public key OpenSSH can read"),
        ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA", "private key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\nssh-rsa AAAA", "one line"),
    ],
)
async def test_what_is_not_a_public_key_is_refused_in_words_and_nothing_is_stored(
    client: TestClient, settings: Settings, site: Site, pasted: str, said: str
) -> None:
    started = await logged_in(settings, site.account_id)
    error = await error_of(await add(client, started.token, pasted), 400)
    assert said in error["message"] and error["field"] == "public_key"
    assert await stored(settings) == []


async def test_weak_keys_are_refused(client: TestClient, settings: Settings, site: Site) -> None:
    started = await logged_in(settings, site.account_id)
    short_rsa = public_line(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    error = await error_of(await add(client, started.token, short_rsa), 400)
    assert "2048 bits, fewer than 3072" in error["message"]
    # A DSA key's line (its blob starts with the length-prefixed name "ssh-dss").
    dss = "ssh-dss " + base64.b64encode(b"\x00\x00\x00\x07ssh-dss" + bytes(64)).decode()
    assert "DSA" in (await error_of(await add(client, started.token, dss), 400))["message"]
    assert await stored(settings) == []


async def test_a_key_opens_one_accounts_terminal_so_a_second_registration_is_refused(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str
) -> None:
    started = await logged_in(settings, site.account_id)
    assert (await add(client, started.token, ed25519_key)).status == 201
    again = await error_of(await add(client, started.token, ed25519_key), 409)
    assert "registered already" in again["message"]
    grace = await new_account(settings, "Grace")
    elsewhere = await logged_in(settings, grace)
    await error_of(await add(client, elsewhere.token, ed25519_key), 409)
    assert len(await stored(settings)) == 1


async def test_a_key_is_removed_by_its_owner_only_and_every_change_is_audited(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str
) -> None:
    started = await logged_in(settings, site.account_id)
    added = await (await add(client, started.token, ed25519_key)).json()
    grace = await new_account(settings, "Grace")
    elsewhere = await logged_in(settings, grace)
    path = f"/ot/v1/ssh-keys/{added['id']}"
    await error_of(await client.delete(path, headers=bearer(elsewhere.token)), 404)
    removed = await client.delete(path, headers=bearer(started.token))
    assert removed.status == 200 and (await removed.json()) == {"removed": 1}
    await error_of(await client.delete(path, headers=bearer(started.token)), 404)
    assert await stored(settings) == []
    audit = await rows(
        settings,
        f"SELECT action, account_id, details FROM audit_entry WHERE {NOT_SETUP} "
        "AND action LIKE 'ssh_key.%' ORDER BY id",
    )
    assert [(entry["action"], entry["account_id"]) for entry in audit] == [
        ("ssh_key.added", site.account_id),
        ("ssh_key.removed", site.account_id),
    ]
    assert added["fingerprint"] in str(audit[1]["details"])


async def test_an_api_key_cannot_add_ssh_keys(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str
) -> None:
    started = await logged_in(settings, site.account_id)
    made = await client.post(
        "/ot/v1/keys",
        json={"name": "ci", "scopes": ["account:read", "account:write"]},
        headers=bearer(started.token),
    )
    key = (await made.json())["key"]
    refused = await add(client, key, ed25519_key)
    assert refused.status in (401, 403)
    assert await stored(settings) == []


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as opened:
            yield opened
    finally:
        await engine.dispose()


async def test_the_key_sshd_offers_finds_its_account_and_writes_nothing(
    client: TestClient,
    settings: Settings,
    site: Site,
    ed25519_key: str,
    other_key: str,
    session: AsyncSession,
) -> None:
    started = await logged_in(settings, site.account_id)
    assert (await add(client, started.token, ed25519_key)).status == 201
    key_type, encoded = ed25519_key.split()[:2]
    assert await account_of_key(session, key_type, encoded) == site.account_id
    await session.commit()
    [row] = await stored(settings)
    # sshd asks before the client proves it holds the key: only a session started notes a use
    # (tests/test_ssh_access.py).
    assert row["last_used_at"] is None
    unknown_type, unknown = other_key.split()[:2]
    assert await account_of_key(session, unknown_type, unknown) is None
    assert await account_of_key(session, "ssh-rsa", encoded) is None  # the type must match
    assert await account_of_key(session, "ssh-ed25519", "garbage") is None


async def test_an_account_asked_to_be_deleted_opens_no_terminal_any_more(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str, session: AsyncSession
) -> None:
    started = await logged_in(settings, site.account_id)
    assert (await add(client, started.token, ed25519_key)).status == 201
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO account_deletion (account_id, requested_at, purge_after) "
                    "VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": site.account_id},
            )
    finally:
        await engine.dispose()
    key_type, encoded = ed25519_key.split()[:2]
    assert await account_of_key(session, key_type, encoded) is None


async def test_the_client_adds_lists_and_removes_keys_and_says_what_was_wrong(
    client: TestClient,
    settings: Settings,
    site: Site,
    ed25519_key: str,
    other_key: str,
    tmp_path: Path,
) -> None:
    started = await logged_in(settings, site.account_id)
    base = str(client.make_url("/")).rstrip("/")
    credentials = CredentialStore(tmp_path / "config")
    async with OtClient(base, started.token, credentials=credentials) as ot:
        laptop = await ot.add_ssh_key(ed25519_key)
        desktop = await ot.add_ssh_key(other_key, name="Desk")
        assert [key.name for key in (await ot.list_ssh_keys()).keys] == ["ada@laptop", "Desk"]
        with pytest.raises(Invalid, match="not a public key"):
            await ot.add_ssh_key("ssh-ed25519 AAAA!")
        assert (await ot.remove_ssh_key(laptop.id)).removed == 1
        assert [key.id for key in (await ot.list_ssh_keys()).keys] == [desktop.id]


async def test_the_customers_export_holds_their_ssh_keys(
    client: TestClient, settings: Settings, site: Site, ed25519_key: str, tmp_path: Path
) -> None:
    started = await logged_in(settings, site.account_id)
    assert (await add(client, started.token, ed25519_key)).status == 201
    exported = await client.post("/ot/v1/account/export", headers=bearer(started.token))
    assert exported.status == 200, await exported.text()
    with zipfile.ZipFile(io.BytesIO(await exported.read())) as bundle:
        account = json.loads(bundle.read("account.json"))
    [key] = account["ssh_keys"]
    assert key["name"] == "ada@laptop" and key["public_key"] == " ".join(ed25519_key.split()[:2])
