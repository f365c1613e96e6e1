"""Visitor ids: how hits of one visitor are recognised without learning who they are.

Cookie mode hashes the tracker's random first-party id with a secret key. Cookieless mode hashes
a random salt of the current UTC day with the site, IP address and User-Agent; salts older than
yesterday are deleted, after which nobody (us included) can link a visitor's days together.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import utcnow
from ot.models import VisitorSalt
from ot.privacy import VisitorMode

# Serialises making the day's salt across processes on PostgreSQL. Its own number among the
# advisory locks of ot.db: sharing the rollup job's held every collector's first hit of the day
# (and of its start) until a rollup run on any host had ended.
SALT_LOCK_ID = 727_005


def _to_int64(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big", signed=True)


def visitor_id_from_client_id(visitor_key: bytes, site_id: int, client_id: str) -> int:
    data = f"{site_id}\x00{client_id}".encode()
    return _to_int64(hashlib.blake2b(data, key=visitor_key, digest_size=16).digest())


def cookieless_visitor_id(salt: bytes, site_id: int, ip: str, user_agent: str) -> int:
    data = f"{site_id}\x00{ip}\x00{user_agent}".encode()
    return _to_int64(hashlib.blake2b(data, key=salt, digest_size=16).digest())


class SaltKeeper:
    """Keeps the current day's salt in memory, shared with other processes through the database.

    `write_engine` must take the write lock at BEGIN (see ot.db) so that processes creating the
    day's salt at the same moment queue up instead of failing.
    """

    def __init__(self, write_engine: AsyncEngine) -> None:
        self._engine = write_engine
        self._day: date | None = None
        self._salt = b""
        self._lock = asyncio.Lock()  # one lookup per process when the day turns, not one per hit

    async def salt_for(self, moment: datetime) -> bytes:
        day = moment.date()
        if day != self._day:
            async with self._lock:
                if day != self._day:
                    self._salt = await self._load_or_create(day)
                    self._day = day
        return self._salt

    async def _load_or_create(self, day: date) -> bytes:
        table = VisitorSalt.__table__  # type: ignore[attr-defined]
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({SALT_LOCK_ID})"))
            row = (await connection.execute(select(table.c.salt).where(table.c.day == day))).first()
            if row is not None:
                return bytes(row[0])
            salt = secrets.token_bytes(32)
            await connection.execute(table.insert().values(day=day, salt=salt, created_at=utcnow()))
            # Yesterday's salt is kept for visits crossing midnight; anything older is deleted.
            await connection.execute(delete(table).where(table.c.day < day - timedelta(days=1)))
            return salt


def choose_visitor_id(
    mode: VisitorMode,
    *,
    visitor_key: bytes,
    salt: bytes,
    site_id: int,
    client_id: str | None,
    ip: str,
    user_agent: str,
) -> int:
    if mode is VisitorMode.COOKIE and client_id:
        return visitor_id_from_client_id(visitor_key, site_id, client_id)
    # Cookieless sites ignore any id a client sends; cookie sites fall back to the daily hash for
    # trackers that keep no id (Plausible's script, a pixel).
    return cookieless_visitor_id(salt, site_id, ip, user_agent)
