"""Visitor ids: how hits of one visitor are recognised without learning who they are.

Cookie mode hashes the tracker's random first-party id with a secret key. Cookieless mode hashes
a random salt of the current UTC day with the site, IP address and User-Agent; salts older than
yesterday are deleted, after which nobody (us included) can link a visitor's days together.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import utcnow
from ot.models import VisitorSalt
from ot.privacy import VisitorMode


def _to_int64(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big", signed=True)


def visitor_id_from_client_id(visitor_key: bytes, site_id: int, client_id: str) -> int:
    data = f"{site_id}\x00{client_id}".encode()
    return _to_int64(hashlib.blake2b(data, key=visitor_key, digest_size=16).digest())


def cookieless_visitor_id(salt: bytes, site_id: int, ip: str, user_agent: str) -> int:
    data = f"{site_id}\x00{ip}\x00{user_agent}".encode()
    return _to_int64(hashlib.blake2b(data, key=salt, digest_size=16).digest())


class SaltKeeper:
    """Keeps the current day's salt in memory, shared with other processes through the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._day: date | None = None
        self._salt = b""

    async def salt_for(self, moment: datetime) -> bytes:
        day = moment.date()
        if day != self._day:
            self._salt = await self._load_or_create(day)
            self._day = day
        return self._salt

    async def _load_or_create(self, day: date) -> bytes:
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(select(VisitorSalt.salt).where(VisitorSalt.day == day))  # type: ignore[call-overload]
            ).first()
            if row is not None:
                return bytes(row[0])
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    VisitorSalt.__table__.insert().values(  # type: ignore[attr-defined]
                        day=day, salt=secrets.token_bytes(32), created_at=utcnow()
                    )
                )
                # Yesterday's salt stays for visits crossing midnight; anything older goes.
                await connection.execute(
                    delete(VisitorSalt).where(VisitorSalt.day < day - timedelta(days=1))  # type: ignore[arg-type]
                )
        except IntegrityError:
            pass  # another process created today's salt first: use theirs
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(VisitorSalt.salt).where(VisitorSalt.day == day))  # type: ignore[call-overload]
            ).one()
            return bytes(row[0])


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
