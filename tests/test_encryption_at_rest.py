"""Privacy statement: "Customer information is protected against loss, misuse and alteration, and
all personal information is encrypted."

The raw database (SQLite's files, a `pg_dump` of PostgreSQL) holds no personal data in plain text,
and a stored value that was altered or moved to another row does not decrypt. The checks walk the
registry of encrypted columns (`ot.security.key_rotation.encrypted_columns`), so a column added
later joins them by declaring itself encrypted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.registration import Registration, register
from ot.accounts.store import create_account
from ot.config import Settings
from ot.db import create_engine
from ot.models import every_table
from ot.models.columns import Encrypted
from ot.privacy import IpPolicy
from ot.security.audit import Actor
from ot.security.crypto import Cipher, DecryptionError
from ot.security.key_rotation import encrypted_columns
from ot.security.secrets import load_secrets_of
from ot.sites.store import add_site
from tests.support import TEST_OPERATOR, event, rows, store_hits

CUSTOMER_NAME = "Marjolein Zwanenburg-Okonkwo"
CUSTOMER_EMAIL = "marjolein.zwanenburg@example.com"
CUSTOMER_COMPANY = "Zwanenburg Fietsen B.V."
CUSTOMER_ADDRESS = "Prinsengracht 263, Amsterdam"
CUSTOMER_PHONE = "+31 20 555 0199"
VISITOR_IP = "198.51.100.217"
VISITOR_IPV6 = "2001:db8:85a3::8a2e:370:7334"


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, to store personal data through the core and read it back raw."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def store_personal_data(client: TestClient, settings: Settings, engine: AsyncEngine) -> int:
    """An account registered through the core (name, e-mail, contact details), a site keeping
    full IPs with hits from two visitors, and audit entries: everything personal we store, the
    way the product stores it."""
    cipher = Cipher(load_secrets_of(settings))
    registration = Registration(
        name=CUSTOMER_NAME,
        email=CUSTOMER_EMAIL,
        password="a long and uncommon passphrase",
        company=CUSTOMER_COMPANY,
        address=CUSTOMER_ADDRESS,
        phone=CUSTOMER_PHONE,
        region="nl",
        consent=True,
    )
    async with AsyncSession(engine, expire_on_commit=False) as session:
        account = await register(
            session, cipher, registration, settings.accounts, link_base="http://x", mails=[]
        )
        assert account is not None and account.id is not None
        # Registering and adding the site write the trail, which is read for plaintext below.
        site = await add_site(
            session,
            account.id,
            "shop.example",
            actor=Actor.account(account.id),
            ip_policy=IpPolicy.FULL,
        )
        await session.commit()
    await store_hits(client, [event(url="https://shop.example/a")], ip=VISITOR_IP)
    await store_hits(client, [event(url="https://shop.example/b")], ip=VISITOR_IPV6)
    assert site.id is not None
    return site.id


async def stored_plaintexts(settings: Settings, engine: AsyncEngine) -> dict[str, list[str]]:
    """Each encrypted column's values, decrypted with the column's own context: proof that every
    value there is ours and encrypted, and the texts that must not appear anywhere raw."""
    cipher = Cipher(load_secrets_of(settings))
    found: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        for each in encrypted_columns():
            result = await connection.execute(
                text(f"SELECT * FROM {each.table.name} WHERE {each.column.name} IS NOT NULL")
            )
            for row in result.mappings():
                context = each.encrypted.context_for(row)
                found.setdefault(each.name, []).append(
                    cipher.decrypt(row[each.column.name], context=context)
                )
    return found


def sqlite_bytes(settings: Settings) -> bytes:
    """The embedded database's files as they are on disk (the WAL included)."""
    files = sorted(settings.data_dir.glob("opentracker.sqlite3*"))
    assert files, "no SQLite files found"
    return b"".join(path.read_bytes() for path in files)


def pg_dump_bytes(settings: Settings) -> bytes:
    pg_dump = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    if not os.path.exists(pg_dump):
        pytest.fail("pg_dump is needed to look at a raw PostgreSQL dump")
    url = make_url(settings.database_url).set(drivername="postgresql")
    dumped = subprocess.run(
        [pg_dump, "--no-owner", url.render_as_string(hide_password=False)],
        check=True,
        capture_output=True,
    )
    return dumped.stdout


def raw_database(settings: Settings) -> bytes:
    return sqlite_bytes(settings) if settings.is_embedded_database else pg_dump_bytes(settings)


async def test_all_personal_information_is_encrypted(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await store_personal_data(client, settings, engine)
    await client.close()  # the writer has committed everything

    plaintexts = await stored_plaintexts(settings, engine)
    assert plaintexts["account.name_encrypted"] == [CUSTOMER_NAME]
    assert plaintexts["account.email_encrypted"] == [CUSTOMER_EMAIL]
    assert plaintexts["account.company_encrypted"] == [CUSTOMER_COMPANY]
    assert plaintexts["account.address_encrypted"] == [CUSTOMER_ADDRESS]
    assert plaintexts["account.phone_encrypted"] == [CUSTOMER_PHONE]
    assert sorted(plaintexts["hit.ip_encrypted"]) == sorted([VISITOR_IP, VISITOR_IPV6])

    raw = raw_database(settings)
    assert b"shop.example" in raw, "the raw copy does hold the data: the check proves something"
    for column, values in plaintexts.items():
        for value in values:
            for spelling in {value, value.upper(), value.lower()}:
                assert spelling.encode() not in raw, f"{column} is in the database in plain text"
                assert spelling.encode("utf-16-le") not in raw


async def test_every_encrypted_column_declares_itself(engine: AsyncEngine) -> None:
    """A column named `*_encrypted` that is not marked would escape rotation and these checks."""
    registered = {each.name for each in encrypted_columns()}
    named = {
        f"{table.name}.{column.name}"
        for table in every_table()
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    assert named <= registered
    assert {"account.name_encrypted", "hit.ip_encrypted"} <= registered


async def test_customer_information_is_protected_against_alteration(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await store_personal_data(client, settings, engine)
    [account] = await rows(settings, "SELECT id, name_encrypted FROM account")
    stored = account["name_encrypted"]
    # One character of the sealed text changed: the authentication tag no longer matches.
    position = len(stored) - 5
    altered = stored[:position] + ("A" if stored[position] != "A" else "B") + stored[position + 1 :]
    await _execute(engine, "UPDATE account SET name_encrypted = :v", v=altered)

    with pytest.raises(DecryptionError, match="altered") as caught:
        await stored_plaintexts(settings, engine)
    assert CUSTOMER_NAME not in str(caught.value) and altered not in str(caught.value)


async def test_a_value_moved_to_another_tenants_row_does_not_decrypt(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await store_personal_data(client, settings, engine)
    cipher = Cipher(load_secrets_of(settings))
    async with AsyncSession(engine, expire_on_commit=False) as session:
        other = await create_account(session, cipher, "Another Tenant", actor=TEST_OPERATOR)
        assert other.id is not None
        other_site = await add_site(
            session, other.id, "other.example", actor=TEST_OPERATOR, ip_policy=IpPolicy.FULL
        )
        await session.commit()
    await store_hits(client, [event(url="https://other.example/", domain="other.example")])
    victim_ip = (await rows(settings, "SELECT ip_encrypted FROM hit ORDER BY id"))[0]
    await _execute(
        engine,
        "UPDATE hit SET ip_encrypted = :v WHERE site_id = :site",
        v=victim_ip["ip_encrypted"],
        site=other_site.id,
    )
    with pytest.raises(DecryptionError, match="another field or row"):
        await stored_plaintexts(settings, engine)


async def test_a_value_moved_to_another_column_does_not_decrypt(
    client: TestClient, settings: Settings, engine: AsyncEngine
) -> None:
    await store_personal_data(client, settings, engine)
    [hit] = await rows(settings, "SELECT ip_encrypted FROM hit ORDER BY id LIMIT 1")
    await _execute(engine, "UPDATE account SET name_encrypted = :v", v=hit["ip_encrypted"])
    with pytest.raises(DecryptionError, match=r"account\.name"):
        await stored_plaintexts(settings, engine)


def test_the_registry_covers_columns_added_later() -> None:
    """What another module does to add an encrypted column: declare it on the model."""
    phone = Encrypted("account.phone", bound_to=("id",))
    metadata = MetaData()
    Table(
        "example_profile",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("phone_encrypted", String, **phone.column_info()),
    )
    [column] = encrypted_columns(metadata)
    assert column.name == "example_profile.phone_encrypted" and column.encrypted == phone
    assert phone.context_for({"id": 7}) == "account.phone|id=7"


async def _execute(engine: AsyncEngine, sql: str, **params: object) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)
