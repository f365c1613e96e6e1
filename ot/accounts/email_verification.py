"""One-time e-mail verification links: a random token mailed to the address, kept only as its
SHA-256, valid until it expires and for one use only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import as_utc, utcnow
from ot.config import AccountSettings
from ot.errors import InvalidInput
from ot.models import EmailVerification
from ot.security import audit
from ot.security.audit import ANONYMOUS, AuditAction

TOKEN_PREFIX = "otv_"
VERIFY_PATH = "/ot/v1/accounts/verify"


class Purpose(StrEnum):
    REGISTRATION = "registration"
    EMAIL_CHANGE = "email_change"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def verification_link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}{VERIFY_PATH}?token={token}"


async def issue_verification(
    session: AsyncSession,
    account_id: int,
    purpose: Purpose,
    settings: AccountSettings,
    *,
    email_encrypted: str | None = None,
) -> str:
    """A new token for the account (the plaintext, to mail; only its hash is stored). Earlier
    unused links of the same purpose stop working: only the latest mail counts."""
    now = utcnow()
    await session.exec(
        update(EmailVerification)
        .where(
            col(EmailVerification.account_id) == account_id,
            col(EmailVerification.purpose) == purpose.value,
            col(EmailVerification.used_at).is_(None),
        )
        .values(used_at=now)
    )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        EmailVerification(
            account_id=account_id,
            purpose=purpose.value,
            token_hash=_digest(token),
            email_encrypted=email_encrypted,
            created_at=now,
            expires_at=now + timedelta(hours=settings.verification_link_hours),
        )
    )
    await session.flush()
    return token


async def consume_verification(session: AsyncSession, token: str) -> EmailVerification:
    """The verification a token stands for, now used up. An unknown, expired or already used
    token is refused (and, when it was ours, the refusal is audited for its account)."""
    refused = InvalidInput(
        "this verification link is not valid: it was already used, has expired or was "
        "replaced by a newer one",
        field="token",
    )
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise refused
    row = (
        await session.exec(
            select(EmailVerification).where(EmailVerification.token_hash == _digest(token))
        )
    ).first()
    if row is None:
        raise refused
    now = utcnow()
    if row.used_at is not None or now >= as_utc(row.expires_at):
        await audit.record(
            session,
            AuditAction.EMAIL_VERIFICATION_REFUSED,
            actor=ANONYMOUS,
            account_id=row.account_id,
            details={
                "verification_id": row.id,
                "reason": "used" if row.used_at is not None else "expired",
            },
        )
        raise refused
    row.used_at = now
    session.add(row)
    await session.flush()
    return row
