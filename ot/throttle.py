"""Brute-force protection for log-in: failed attempts are counted per e-mail address and per IP
(both only as blind indexes), and past a threshold each further attempt must wait 2, 4, 8, ...
seconds, up to a cap. Failures are forgotten a while after the last one.

The e-mail key is counted whether or not the address is registered, so throttling answers
alike for customers and strangers and tells nobody who has an account.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import email_index
from ot.clock import as_utc
from ot.config import AccountSettings
from ot.crypto import Cipher
from ot.models import LoginThrottle


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


async def forget(session: AsyncSession, key: str) -> None:
    """A successful log-in clears its address's failures (never its IP's: one account of its
    own must not let an attacker reset the count for everybody else's)."""
    row = await _row(session, key)
    if row is not None:
        await session.delete(row)
        await session.flush()
