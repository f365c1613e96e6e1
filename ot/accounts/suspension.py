"""Suspending an account: an operator's act that closes every way in — log-in, sessions, API
keys, grants, SSH — while the account's sites keep being counted, until it is lifted."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import get_account
from ot.errors import Conflict, Forbidden, InvalidInput
from ot.models import SUSPENSION_REASON, AccountSuspension
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

MAX_REASON_LENGTH = 500


class AccountSuspended(Forbidden):
    code = "account_suspended"


async def refuse_if_suspended(session: AsyncSession, account_id: int) -> None:
    """Refuse whatever an account's credential asks while the account is suspended."""
    if await session.get(AccountSuspension, account_id) is not None:
        raise AccountSuspended(
            "this account is suspended: write to support to have it reopened (its sites are "
            "still counted)",
            field="account",
        )


async def suspend_account(
    session: AsyncSession,
    cipher: Cipher,
    account_id: int,
    reason: str,
    *,
    by: str,
    now: datetime,
    actor: Actor,
) -> AccountSuspension:
    """Suspend an account, saying why (kept encrypted: it may name the customer's doings)."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(
            f"give the reason in 1 to {MAX_REASON_LENGTH} characters", field="reason"
        )
    await get_account(session, account_id)
    if await session.get(AccountSuspension, account_id) is not None:
        raise Conflict(f"account {account_id} is suspended already", field="account")
    suspension = AccountSuspension(
        account_id=account_id,
        suspended_at=now,
        suspended_by=by,
        reason_encrypted=cipher.encrypt(reason, context=SUSPENSION_REASON.context),
    )
    session.add(suspension)
    await session.flush()
    await audit.record(session, AuditAction.ACCOUNT_SUSPENDED, actor=actor, account_id=account_id)
    return suspension


async def unsuspend_account(session: AsyncSession, account_id: int, *, actor: Actor) -> None:
    await get_account(session, account_id)
    suspension = await session.get(AccountSuspension, account_id)
    if suspension is None:
        raise Conflict(f"account {account_id} is not suspended", field="account")
    await session.delete(suspension)
    await session.flush()
    await audit.record(session, AuditAction.ACCOUNT_UNSUSPENDED, actor=actor, account_id=account_id)


def reason_of(suspension: AccountSuspension, cipher: Cipher) -> str:
    return cipher.decrypt(suspension.reason_encrypted, context=SUSPENSION_REASON.context)
