"""Key rotation (`ot.security.key_rotation`, `ot-admin keys`): every encrypted value moves to a new
key in batches while readers keep working, old keys stay readable until nothing uses them, and a
key is retired only then."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ot import paths
from ot.accounts.store import NAME_CONTEXT
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.errors import Conflict, NotFound
from ot.ingest.collector import ip_context
from ot.privacy import IpPolicy
from ot.rights.account_deletion import purge_account
from ot.security import crypto
from ot.security.crypto import Cipher, DecryptionError
from ot.security.key_rotation import (
    RotationReport,
    encrypted_columns,
    key_usage,
    reencrypt,
    retire_key,
    rotate,
    start_rotation,
)
from ot.security.secrets import load_secrets_of, read_secrets
from tests import support, test_admin_cli
from tests.support import NOT_SETUP, TEST_OPERATOR, event, make_site, rows, store_hits
from tests.test_admin_cli import AdminDatabase, ok
from tests.test_audit_admin import CHECKPOINT_DUE, signed_to_the_end

VISITOR_IP = "198.51.100.23"

# The fixtures of the `ot-admin` tests: a fresh database per backend.
database = test_admin_cli.database


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, to rotate and to read values back."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def secrets_file(settings: Settings) -> Path:
    return settings.secrets_file or paths.secrets_path(settings.data_dir)


async def stored_values(settings: Settings) -> list[str]:
    """Every encrypted value of every encrypted column."""
    found = []
    for each in encrypted_columns():
        query = f"SELECT {each.column.name} AS value FROM {each.table.name}"
        found += [row["value"] for row in await rows(settings, query) if row["value"]]
    return found


async def full_ip_site_with_hits(client: TestClient, settings: Settings) -> int:
    site = await make_site(settings, ip_policy=IpPolicy.FULL)
    await store_hits(
        client, [event(url=f"https://shop.example/{n}") for n in range(3)], ip=VISITOR_IP
    )
    assert site.id is not None
    return site.id


async def test_rotation_re_encrypts_every_value_under_a_new_key(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    site_id = await full_ip_site_with_hits(client, settings)
    old_key = load_secrets_of(settings).current_key_id

    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR, batch_size=2)

    fresh = read_secrets(secrets_file(settings))
    assert fresh.current_key_id == report.new_key_id != old_key
    assert old_key in fresh.encryption_keys, "the old key stays until it is retired"
    values = await stored_values(settings)
    assert len(values) == 4  # one account name, three hit IPs
    assert all(value.startswith(f"v1.{report.new_key_id}.") for value in values)
    assert report.reencrypted == {"account.name_encrypted": 1, "hit.ip_encrypted": 3}
    cipher = Cipher(fresh)
    [account] = await rows(settings, "SELECT name_encrypted FROM account")
    assert cipher.decrypt(account["name_encrypted"], context=NAME_CONTEXT) == "Test Shop B.V."
    for hit in await rows(settings, "SELECT ip_encrypted FROM hit"):
        assert cipher.decrypt(hit["ip_encrypted"], context=ip_context(site_id)) == VISITOR_IP


async def test_a_running_reader_keeps_decrypting_during_and_after_rotation(
    client: TestClient, settings: Settings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's cipher was made before the rotation: it learns the new key from the file."""
    site_id = await full_ip_site_with_hits(client, settings)
    running = Cipher(load_secrets_of(settings))
    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    for hit in await rows(settings, "SELECT ip_encrypted FROM hit"):
        assert running.decrypt(hit["ip_encrypted"], context=ip_context(site_id)) == VISITOR_IP

    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 0.0)
    assert running.encrypt("x").startswith(f"v1.{report.new_key_id}."), "new values use it too"


async def test_the_server_keeps_collecting_while_keys_rotate(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await full_ip_site_with_hits(client, settings)
    report = RotationReport(start_rotation(secrets_file(settings)))
    # Hits arriving between the new key and the re-encryption (the server may still use the
    # old key for a moment): the pass catches them all.
    await store_hits(client, [event(url="https://shop.example/during")], ip=VISITOR_IP)
    await reencrypt(engine, secrets_file(settings), report)
    assert all(v.startswith(f"v1.{report.new_key_id}.") for v in await stored_values(settings))
    assert len(await support.hits(settings)) == 4


async def test_a_second_rotation_while_values_use_an_old_key_is_fine(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await full_ip_site_with_hits(client, settings)
    first = start_rotation(secrets_file(settings))  # interrupted before re-encrypting anything
    second = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    assert second.new_key_id != first
    assert len(read_secrets(secrets_file(settings)).encryption_keys) == 3
    usage = await key_usage(engine, list(read_secrets(secrets_file(settings)).encryption_keys))
    assert usage.by_key[second.new_key_id] == 4 and sum(usage.by_key.values()) == 4


async def test_a_value_that_does_not_decrypt_is_left_alone_and_counted(
    settings: Settings, engine: AsyncEngine
) -> None:
    await make_site(settings)
    await _execute_async(engine, "UPDATE account SET name_encrypted = 'v1.zz.AAAA'")
    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    assert report.unreadable == {"account.name_encrypted": 1}
    assert [row["name_encrypted"] for row in await rows(settings, "SELECT * FROM account")] == [
        "v1.zz.AAAA"
    ]


async def test_a_value_that_does_not_decrypt_is_counted_once_among_values_that_do(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Re-encrypting the others makes a second pass, which finds the unreadable value again."""
    first = await make_site(settings)
    await make_site(settings, "blog.example")
    await _execute_async(
        engine,
        "UPDATE account SET name_encrypted = 'v1.zz.AAAA' WHERE id = :id",
        id=first.account_id,
    )
    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    assert report.reencrypted == {"account.name_encrypted": 1}
    assert report.unreadable == {"account.name_encrypted": 1}


async def test_a_key_is_retired_only_when_nothing_uses_it(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await full_ip_site_with_hits(client, settings)
    old_key = load_secrets_of(settings).current_key_id
    with pytest.raises(Conflict, match="current key"):
        await retire_key(engine, secrets_file(settings), old_key, actor=TEST_OPERATOR)
    new_key = start_rotation(secrets_file(settings))
    with pytest.raises(Conflict, match="still encrypts 4 stored values"):
        await retire_key(engine, secrets_file(settings), old_key, actor=TEST_OPERATOR)
    await reencrypt(engine, secrets_file(settings), RotationReport(new_key))
    await retire_key(engine, secrets_file(settings), old_key, actor=TEST_OPERATOR)
    assert list(read_secrets(secrets_file(settings)).encryption_keys) == [new_key]
    with pytest.raises(NotFound):
        await retire_key(engine, secrets_file(settings), old_key, actor=TEST_OPERATOR)


async def test_a_retired_key_no_longer_decrypts(settings: Settings, engine: AsyncEngine) -> None:
    await make_site(settings)
    before = Cipher(load_secrets_of(settings))
    old_value = before.encrypt("kept aside", context="test")
    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    await retire_key(engine, secrets_file(settings), before.current_key_id, actor=TEST_OPERATOR)
    with pytest.raises(DecryptionError, match="key we do not hold"):
        Cipher(read_secrets(secrets_file(settings))).decrypt(old_value, context="test")
    assert report.new_key_id


async def test_keys_can_come_from_a_file_outside_the_data_folder(
    tmp_path: Path, settings: Settings, engine: AsyncEngine
) -> None:
    elsewhere = tmp_path / "mounted-secret" / "opentracker-keys.json"
    paths.secrets_path(settings.data_dir).unlink()  # this installation keeps its keys elsewhere
    moved = settings.model_copy(update={"secrets_file": elsewhere})
    found = load_secrets_of(moved)
    assert elsewhere.is_file() and found.source == elsewhere
    assert not paths.secrets_path(settings.data_dir).exists()
    await rotate(engine, elsewhere, actor=TEST_OPERATOR)
    assert read_secrets(elsewhere).current_key_id != found.current_key_id


def test_ot_secrets_file_in_the_environment_is_where_keys_are_kept(
    database: AdminDatabase, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "keys.json"
    paths.secrets_path(database.settings.data_dir).unlink()  # its keys are kept elsewhere
    missing = database.invoke("accounts create Someone", OT_SECRETS_FILE=str(elsewhere))
    assert missing.exit_code == 2 and str(elsewhere) in missing.stderr, "keys are never made later"
    ok(database.invoke("db upgrade --create", OT_SECRETS_FILE=str(elsewhere)))
    ok(database.invoke("accounts create Someone", OT_SECRETS_FILE=str(elsewhere)))
    assert elsewhere.is_file()
    assert not paths.secrets_path(database.settings.data_dir).exists()
    output = ok(database.invoke("keys status", OT_SECRETS_FILE=str(elsewhere)))
    current = json.loads(elsewhere.read_text())["current_key_id"]
    assert f"{current}\t1\tcurrent" in output


def test_keys_rotate_status_and_retire_through_ot_admin(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create 'Jane Doe'"))
    ok(database.invoke("accounts create 'John Roe'"))
    old_key = json.loads(paths.secrets_path(database.settings.data_dir).read_text())[
        "current_key_id"
    ]
    assert f"{old_key}\t2\tcurrent" in ok(database.invoke("keys status"))

    refused = database.invoke(f"keys retire {old_key}")
    assert refused.exit_code == 2 and "current key" in refused.stderr

    rotated = ok(database.invoke("keys rotate --batch-size 1"))
    new_key = re.findall(r"new current key (\w+)", rotated)[0]
    assert "account.name_encrypted: 2 values re-encrypted" in rotated
    status = ok(database.invoke("keys status"))
    assert f"{old_key}\t0\told" in status and f"{new_key}\t2\tcurrent" in status

    ok(database.invoke(f"keys retire {old_key}"))
    assert old_key not in ok(database.invoke("keys status"))
    assert ok(database.invoke("accounts list")).count("J") == 2, "names still readable"
    acts = database.rows(
        f"SELECT action FROM audit_entry WHERE {NOT_SETUP} AND action != 'operator.read'"
    )
    assert [row["action"] for row in acts][-2:] == ["keys.rotated", "keys.retired"]


def test_a_rotation_signs_the_audit_trail_when_a_checkpoint_is_due(
    database: AdminDatabase,
) -> None:
    ok(database.invoke("accounts create 'Jane Doe'"))
    ok(database.invoke("keys rotate", **CHECKPOINT_DUE))
    [last] = database.rows("SELECT action FROM audit_entry ORDER BY id DESC LIMIT 1")
    assert last["action"] == "keys.rotated"
    assert signed_to_the_end(database)


def test_a_purged_accounts_blanked_fields_are_nothing_to_rotate(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create 'Jane Doe'"))
    ok(database.invoke("accounts create 'John Roe'"))
    support.run_sync(_purge(database.settings, 1))
    said = ok(database.invoke("keys rotate"))
    assert "cannot be decrypted" not in said, said
    [name] = database.rows("SELECT name_encrypted FROM account WHERE id = 1")
    assert name["name_encrypted"] == ""


async def _purge(settings: Settings, account_id: int) -> None:
    async with support.helper_engine(settings) as engine:
        await purge_account(engine, account_id, now=utcnow(), batch_size=100)


def test_keys_status_names_values_that_are_not_encrypted(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create Someone"))
    _execute(database, "UPDATE account SET name_encrypted = 'Someone in plain text'")
    assert "account.name_encrypted: 1 value NOT encrypted" in ok(database.invoke("keys status"))


def _execute(database: AdminDatabase, sql: str, **params: Any) -> None:
    async def run() -> None:
        engine = create_engine(database.settings)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(sql), params)
        finally:
            await engine.dispose()

    support.run_sync(run())


async def test_rotation_moves_values_of_a_former_context_to_todays(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    """Hit IPs were once bound to "hit.ip" alone; a rotation binds them to their site."""
    site_id = await full_ip_site_with_hits(client, settings)
    cipher = Cipher(load_secrets_of(settings))
    await _execute_async(
        engine, "UPDATE hit SET ip_encrypted = :v", v=cipher.encrypt(VISITOR_IP, context="hit.ip")
    )
    report = await rotate(engine, secrets_file(settings), actor=TEST_OPERATOR)
    assert report.reencrypted["hit.ip_encrypted"] == 3 and not report.unreadable
    fresh = Cipher(read_secrets(secrets_file(settings)))
    for hit in await rows(settings, "SELECT ip_encrypted FROM hit"):
        assert fresh.decrypt(hit["ip_encrypted"], context=ip_context(site_id)) == VISITOR_IP


async def _execute_async(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


def _send_hit(base_url: str, domain: str, path: str) -> None:
    body = json.dumps(event(url=f"https://{domain}{path}", domain=domain)).encode()
    request = urllib.request.Request(
        f"{base_url}/api/event",
        data=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": support.CHROME_USER_AGENT,
            "X-Forwarded-For": VISITOR_IP,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def test_a_running_server_keeps_collecting_through_a_rotation(live_server: Any) -> None:
    """`ot serve` in its own process, and `ot-admin keys rotate` beside it: the server commits
    hits while each of the rotation's batches reads and rewrites, and neither fails."""
    for number in range(40):
        _send_hit(live_server.base_url, live_server.site_domain, f"/before-{number}")
    live_server.wait_for_hits(40)
    admin = AdminDatabase(live_server.settings)

    sending = threading.Event()
    sent = [0]

    def keep_sending() -> None:
        while sending.is_set():
            _send_hit(live_server.base_url, live_server.site_domain, f"/during-{sent[0]}")
            sent[0] += 1

    sending.set()
    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        rotated = ok(admin.invoke("keys rotate --batch-size 1"))
    finally:
        sending.clear()
        sender.join()
    new_key = re.findall(r"new current key (\w+)", rotated)[0]
    assert len(live_server.wait_for_hits(40 + sent[0])) == 40 + sent[0]
    ok(admin.invoke("keys rotate"))  # picks up whatever the server wrote with the old key

    cipher = Cipher(load_secrets_of(live_server.settings))
    for hit in live_server.hits():
        assert cipher.decrypt(hit["ip_encrypted"], context=ip_context(live_server.site_id))
    assert new_key in cipher.key_ids
