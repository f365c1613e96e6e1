"""`ot-admin db check`: whether an installation is whole — its schema current, its database
file sound, every encrypted value under a key at hand and the newest of each key's values
decrypting with it (`key_rotation.sample_unreadable`), its audit trail unbroken.
Each check says what it found in words; none changes anything."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import utcnow
from ot.config import Settings
from ot.db import is_sqlite
from ot.models import every_table
from ot.schema import current_revision, head_revision
from ot.security.audit_checkpoints import verify
from ot.security.crypto import Cipher
from ot.security.key_rotation import key_usage, sample_unreadable
from ot.security.secrets import load_secrets_of


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    said: str


async def check_installation(engine: AsyncEngine, settings: Settings) -> list[Check]:
    checks = [await _schema(engine)]
    if not checks[0].ok:
        return checks  # the rest reads tables the schema may not have yet
    return [
        *checks,
        await _storage(engine),
        await _keys(engine, settings),
        await _trail(engine, settings),
    ]


async def _schema(engine: AsyncEngine) -> Check:
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return Check("schema", True, f"current ({head})")
    return Check("schema", False, f"at {current or 'none'}, expected {head}: ot-admin db upgrade")


async def _storage(engine: AsyncEngine) -> Check:
    """SQLite's own check of its file; on PostgreSQL, every table read (the server keeps its
    files itself: pg_amcheck checks them deeper)."""
    async with engine.connect() as connection:
        if is_sqlite(engine):
            found = [row[0] for row in await connection.execute(text("PRAGMA quick_check"))]
            if found == ["ok"]:
                return Check("storage", True, "SQLite's quick_check: ok")
            return Check("storage", False, "SQLite's quick_check: " + "; ".join(found[:5]))
        tables = every_table()
        for table in tables:
            await connection.execute(select(text("1")).select_from(table).limit(1))
        return Check("storage", True, f"{len(tables)} tables readable")


async def _keys(engine: AsyncEngine, settings: Settings) -> Check:
    secrets = load_secrets_of(settings)
    usage = await key_usage(engine, list(secrets.encryption_keys))
    unknown = usage.by_key.get("unknown", 0)
    plain = sum(usage.not_encrypted.values())
    if unknown or plain:
        return Check(
            "keys",
            False,
            f"{unknown} values under a key not in the secrets file, {plain} not encrypted "
            "(see ot-admin keys status)",
        )
    tried, unreadable = await sample_unreadable(engine, Cipher(secrets))
    if unreadable:
        columns = ", ".join(f"{column} ({count})" for column, count in sorted(unreadable.items()))
        return Check(
            "keys",
            False,
            f"{sum(unreadable.values())} of {tried} sampled values do not decrypt with the "
            f"secrets file's keys: {columns} (is it this installation's secrets file?)",
        )
    total = sum(usage.by_key.values())
    return Check(
        "keys",
        True,
        f"{total:,} encrypted values, each under a key at hand; {tried} newest of them decrypted",
    )


async def _trail(engine: AsyncEngine, settings: Settings) -> Check:
    report = await verify(engine, settings, None, now=utcnow())
    entries = report.chain.entries
    if report.intact:
        return Check("audit trail", True, f"intact ({entries:,} entries)")
    return Check("audit trail", False, "does not verify: ot-admin audit verify says where")
