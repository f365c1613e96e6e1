"""Brute-force protection for log-in: failed attempts are counted per e-mail address and per IP
(both only as blind indexes), and past a threshold each further attempt must wait 2, 4, 8, ...
seconds, up to a cap. Failures are forgotten a while after the last one.

The e-mail key is counted whether or not the address is registered, so throttling answers
alike for customers and strangers and tells nobody who has an account.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import email_index
from ot.clock import as_utc
from ot.config import AccountSettings
from ot.models import LoginThrottle
from ot.security.crypto import Cipher


def email_key(cipher: Cipher, email: str) -> str:
    return "email:" + email_index(cipher, email)


def ip_key(cipher: Cipher, ip: str) -> str:
    return "ip:" + cipher.blind_index("ip:" + ip)


def delay_seconds(failures: int, threshold: int, settings: AccountSettings) -> int:
    """The wait after `failures` failures: none below the threshold, then doubling."""
    if failures < threshold:
        return 0
    exponent = min(failures - threshold + 1, 30)  # 2**30 is past any sensible cap already
    return int(min(settings.login_max_delay_seconds, 2**exponent))


async def _row(session: AsyncSession, key: str) -> LoginThrottle | None:
    return (await session.exec(select(LoginThrottle).where(LoginThrottle.key == key))).first()


async def wait_seconds(session: AsyncSession, keys: list[str], now: datetime) -> int:
    """How long the caller must still wait before trying again (0: it may try now)."""
    longest = 0.0
    for key in keys:
        row = await _row(session, key)
        if row is not None and row.blocked_until is not None:
            longest = max(longest, (as_utc(row.blocked_until) - now).total_seconds())
    return math.ceil(longest) if longest > 0 else 0


async def lock(session: AsyncSession, keys: list[str], now: datetime) -> None:
    """Serialise the attempts on these keys until the caller's transaction ends, so parallel
    guesses cannot all slip past the count: each key's row is made if missing and locked (a row
    lock on PostgreSQL; on SQLite the insert takes the database's write lock)."""
    connection = await session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for key in sorted(keys):  # one order everywhere: no deadlocks
        await session.exec(
            insert(LoginThrottle)
            .values(key=key, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    await session.exec(
        select(LoginThrottle)
        .where(col(LoginThrottle.key).in_(keys))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def record_failure(
    session: AsyncSession, key: str, threshold: int, settings: AccountSettings, now: datetime
) -> bool:
    """Count one failure; True when it is the one that starts the delays."""
    row = await _row(session, key)
    forget_after = timedelta(minutes=settings.login_failures_forgotten_after_minutes)
    if row is None:
        row = LoginThrottle(key=key, failures=0, last_failure_at=now)
    elif now - as_utc(row.last_failure_at) > forget_after:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    delay = delay_seconds(row.failures, threshold, settings)
    row.blocked_until = now + timedelta(seconds=delay) if delay else None
    session.add(row)
    await session.flush()
    return row.failures == threshold


async def forget(session: AsyncSession, email_key: str, ip_key: str) -> None:
    """A successful log-in clears its address's failures, but never its IP's (one account of
    its own must not let an attacker reset the count for everybody else's): an IP row goes
    only when it holds no failure."""
    await session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == email_key))
    await session.exec(
        delete(LoginThrottle).where(
            col(LoginThrottle.key) == ip_key, col(LoginThrottle.failures) == 0
        )
    )
