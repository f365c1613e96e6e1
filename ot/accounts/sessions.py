"""Log-in sessions: random tokens kept only as hashes, with idle and absolute expiry.

A session token authenticates the TUI and API clients (`Authorization: Bearer ots_...`) and
browsers (the `ot_session` cookie, which also needs the CSRF token on unsafe requests).
Log-in itself (passwords, throttling, second factor) lives in `ot.accounts.login`; this module only
keeps the sessions that a successful log-in starts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import as_utc, utcnow
from ot.config import AccountSettings
from ot.models import LoginSession
from ot.security import audit
from ot.security.audit import Actor, AuditAction

SESSION_PREFIX = "ots_"
# How stale `last_seen_at` may get before a request writes it again: saves a write per request.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class StartedSession:
    """What a log-in hands the caller, once: neither token is stored in plaintext."""

    session: LoginSession
    token: str
    csrf_token: str


def _digest(token: str) -> str:
    # Tokens are 256 random bits: a plain hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    session: AsyncSession, account_id: int, settings: AccountSettings
) -> StartedSession:
    now = utcnow()
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    row = LoginSession(
        account_id=account_id,
        token_hash=_digest(token),
        csrf_token_hash=_digest(csrf_token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
    )
    session.add(row)
    await session.flush()
    return StartedSession(row, token, csrf_token)


def is_live(row: LoginSession, settings: AccountSettings, now: datetime) -> bool:
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    return (
        row.revoked_at is None
        and now < as_utc(row.expires_at)
        and now - as_utc(row.last_seen_at) < idle_limit
    )


async def find_session(
    session: AsyncSession, token: str, settings: AccountSettings
) -> LoginSession | None:
    """The live session of a token, touched as used; None for unknown, expired or revoked."""
    if not token.startswith(SESSION_PREFIX) or len(token) > 100:
        return None
    digest = _digest(token)
    row = (
        await session.exec(select(LoginSession).where(LoginSession.token_hash == digest))
    ).first()
    now = utcnow()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if not is_live(row, settings, now):
        return None
    if now - as_utc(row.last_seen_at) >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        await session.flush()
    return row


def csrf_matches(row: LoginSession, csrf_token: str | None) -> bool:
    return bool(csrf_token) and hmac.compare_digest(row.csrf_token_hash, _digest(csrf_token or ""))


async def list_sessions(
    session: AsyncSession, account_id: int, settings: AccountSettings
) -> list[LoginSession]:
    """The account's live sessions, newest first."""
    rows = await session.exec(
        select(LoginSession)
        .where(LoginSession.account_id == account_id, col(LoginSession.revoked_at).is_(None))
        .order_by(col(LoginSession.id).desc())
    )
    now = utcnow()
    return [row for row in rows if is_live(row, settings, now)]


async def revoke_session(
    session: AsyncSession, account_id: int, session_id: int, *, actor: Actor
) -> bool:
    """End one of the account's sessions; False when it has no such live session."""
    result = await session.exec(
        update(LoginSession)
        .where(
            col(LoginSession.id) == session_id,
            col(LoginSession.account_id) == account_id,
            col(LoginSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if not result.rowcount:
        return False
    await audit.record(
        session,
        AuditAction.SESSION_ENDED,
        actor=actor,
        account_id=account_id,
        details={"session_id": session_id},
    )
    return True


async def end_every_session(session: AsyncSession, account_id: int, *, actor: Actor) -> int:
    """Log out everywhere, on the owner's request: end every session of the account; returns how
    many ended."""
    ended = await revoke_all_sessions(session, account_id)
    await audit.record(
        session,
        AuditAction.SESSION_ENDED_ALL,
        actor=actor,
        account_id=account_id,
        details={"ended": ended},
    )
    return ended


async def revoke_all_sessions(
    session: AsyncSession, account_id: int, *, except_session_id: int | None = None
) -> int:
    """End every session of the account, as part of an act that records its own entry (a
    password change, a deletion); returns how many ended."""
    statement = update(LoginSession).where(
        col(LoginSession.account_id) == account_id, col(LoginSession.revoked_at).is_(None)
    )
    if except_session_id is not None:
        statement = statement.where(col(LoginSession.id) != except_session_id)
    result = await session.exec(statement.values(revoked_at=utcnow()))
    return int(result.rowcount)
