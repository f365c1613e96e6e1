"""The audit trail: security-relevant events in an append-only, hash-chained table.

Each entry's hash covers its own content and the previous entry's hash, so altering or removing
an entry breaks every link after it. `verify_chain` recomputes the chain and names the first
broken link. Signed checkpoints of the chain head, which also catch a chain recomputed from
scratch or a cut-off tail, build on this: `verify_chain` checks the heads it is given, and
`ot.security.audit_checkpoints` signs, stores and reads them.

Details hold ids, counts and reasons only: never personal data in plaintext.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import as_utc, utcnow
from ot.models import AuditEntry

GENESIS_HASH = "0" * 64
# Serialises appends on PostgreSQL, where ids from a sequence may commit out of order. SQLite
# serialises writers itself.
AUDIT_LOCK_ID = 727_003


class AuditAction(StrEnum):
    """Every act the trail knows. The values are the names written to the trail since it began:
    entries already written, and `ot-admin audit` filters, keep their meaning."""

    ACCOUNT_CREATED = "account.created"
    ACCOUNT_DELETION_CANCELLED = "account.deletion_cancelled"
    ACCOUNT_DELETION_REFUSED = "account.deletion_refused"
    ACCOUNT_DELETION_REQUESTED = "account.deletion_requested"
    ACCOUNT_EXPORTED = "account.exported"
    ACCOUNT_PURGED = "account.purged"
    ACCOUNT_REGISTERED = "account.registered"
    ACCOUNT_REGISTRATION_FOR_TAKEN_EMAIL = "account.registration_for_taken_email"
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_UNSUSPENDED = "account.unsuspended"
    ACCOUNT_VERIFIED = "account.verified"
    DASHBOARD_LOCKED = "dashboard.locked"
    DASHBOARD_UNLOCKED = "dashboard.unlocked"
    DATABASE_BACKED_UP = "database.backed_up"
    DATABASE_RESTORED = "database.restored"
    DISCLOSURE_APPROVED = "disclosure.approved"
    DISCLOSURE_EXPORTED = "disclosure.exported"
    DISCLOSURE_GAG_LIFTED = "disclosure.gag_lifted"
    DISCLOSURE_NOTIFIED = "disclosure.notified"
    DISCLOSURE_OPENED = "disclosure.opened"
    DISCLOSURE_REFUSED = "disclosure.refused"
    DISCLOSURE_REJECTED = "disclosure.rejected"
    DISCLOSURE_REVIEWED = "disclosure.reviewed"
    EMAIL_CHANGE_REFUSED = "email.change_refused"
    EMAIL_CHANGE_REQUESTED = "email.change_requested"
    EMAIL_CHANGED = "email.changed"
    EMAIL_VERIFICATION_REFUSED = "email.verification_refused"
    GOAL_ADDED = "goal.added"
    GOAL_REMOVED = "goal.removed"
    GRANT_CONFIRMED = "grant.confirmed"
    GRANT_CREATED = "grant.created"
    GRANT_PASSWORD_REFUSED = "grant.password_refused"
    GRANT_READ = "grant.read"
    GRANT_REVOKED = "grant.revoked"
    GRANT_SUSPENDED = "grant.suspended"
    INVOICE_DENIED = "invoice.denied"
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_STARTED = "invoice.payment_started"
    INVOICE_REFUNDED = "invoice.refunded"
    INVOICE_REMINDED = "invoice.reminded"
    INVOICE_REVERSED = "invoice.reversed"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    KEYS_RETIRED = "keys.retired"
    KEYS_ROTATED = "keys.rotated"
    LOG_IMPORTED = "log.imported"
    LOG_POSITION_FORGOTTEN = "log.position_forgotten"
    LOGIN_FAILED = "login.failed"
    LOGIN_REFUSED = "login.refused"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_THROTTLED = "login.throttled"
    MAIL_HELD_BACK = "mail.held_back"
    OPERATOR_ADDED = "operator.added"
    OPERATOR_READ = "operator.read"  # an operator's command showed customer data
    OPERATOR_REFUSED = "operator.refused"
    OPERATOR_REMOVED = "operator.removed"
    PASSWORD_CHANGE_REFUSED = "password.change_refused"
    PLAN_CHANGED = "plan.changed"
    PASSWORD_CHANGED = "password.changed"
    PROFILE_CHANGED = "profile.changed"
    ROLLUPS_RAN = "rollups.ran"
    SECOND_FACTOR_DISABLE_REFUSED = "second_factor.disable_refused"
    SECOND_FACTOR_DISABLED = "second_factor.disabled"
    SECOND_FACTOR_ENABLE_REFUSED = "second_factor.enable_refused"
    SECOND_FACTOR_ENABLED = "second_factor.enabled"
    SECOND_FACTOR_RECOVERY_CODE_USED = "second_factor.recovery_code_used"
    SESSION_ENDED = "session.ended"
    SESSION_ENDED_ALL = "session.ended_all"
    SITE_ADDED = "site.added"
    SITE_CHANGED = "site.changed"
    SITE_CLAIMED = "site.claimed"
    SITE_DOMAIN_RELEASED = "site.domain_released"
    SITE_REMOVED = "site.removed"
    SITE_RETENTION_APPLIED = "site.retention_applied"
    SITE_VERIFIED = "site.verified"
    SITE_VISITOR_ERASED = "site.visitor_erased"
    SSH_KEY_ADDED = "ssh_key.added"
    SSH_KEY_REMOVED = "ssh_key.removed"
    TEAM_INVITATION_REFUSED = "team.invitation_refused"
    TEAM_INVITATION_WITHDRAWN = "team.invitation_withdrawn"
    TEAM_INVITED = "team.invited"
    TEAM_JOINED = "team.joined"
    TEAM_MEMBER_LEFT = "team.member_left"
    TEAM_MEMBER_REMOVED = "team.member_removed"
    TEAM_ROLE_CHANGED = "team.role_changed"


@dataclass(frozen=True)
class Actor:
    """Who did an act, as the trail names it. Built by the constructors below only, so that every
    entry names its actor in one of a few known forms."""

    name: str

    @classmethod
    def account(cls, account_id: int | None, *, api_key_id: int | None = None) -> Actor:
        """A customer's account (`account:12`), or a key it made (`account:12/key:5`)."""
        if api_key_id is not None:
            return cls(f"account:{account_id}/key:{api_key_id}")
        return cls(f"account:{account_id}")

    @classmethod
    def grant(cls, grant_id: int | None) -> Actor:
        """A third party reading through a grant (`grant:3`)."""
        return cls(f"grant:{grant_id}")

    @classmethod
    def operator(cls, login: str) -> Actor:
        """A person running `ot-admin` on the server (`operator:alice`)."""
        return cls(f"operator:{login}")

    @classmethod
    def system(cls, job: str) -> Actor:
        """A job of the product itself, acting on a schedule (`system:retention`)."""
        return cls(f"system:{job}")

    def __str__(self) -> str:
        return self.name


# Someone not logged in: a registration, a failed log-in, a mailed link.
ANONYMOUS = Actor("anonymous")


def entry_hash(
    previous_hash: str,
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    account_id: int | None,
    details: dict[str, Any],
) -> str:
    """The hash of one entry: canonical JSON of its content, chained to the previous hash."""
    content = json.dumps(
        [entry_id, as_utc(at).isoformat(), actor, action, account_id, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(f"{previous_hash}|{content}".encode()).hexdigest()


async def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    actor: Actor,
    account_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction: it is kept exactly when the act is."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK_ID})
    # The entry is inserted first and chained after: on SQLite the insert takes the write lock,
    # so the previous entry read next is the latest committed one.
    entry = AuditEntry(
        at=utcnow().replace(microsecond=0),
        actor=actor.name,
        action=action.value,
        account_id=account_id,
        details=dict(details or {}),
        previous_hash="",
        entry_hash="",
    )
    session.add(entry)
    await session.flush()
    assert entry.id is not None
    previous = (
        await session.exec(
            select(AuditEntry.entry_hash)
            .where(col(AuditEntry.id) < entry.id)
            .order_by(col(AuditEntry.id).desc())
            .limit(1)
        )
    ).first()
    entry.previous_hash = previous or GENESIS_HASH
    entry.entry_hash = entry_hash(
        entry.previous_hash,
        entry.id,
        entry.at,
        entry.actor,
        entry.action,
        account_id,
        entry.details,
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class SignedHead:
    """A head of the chain vouched for by a signed checkpoint (checked by its signer first)."""

    entry_id: int
    entries: int
    head_hash: str
    at: datetime


@dataclass(frozen=True)
class ChainReport:
    """What verifying the chain found: how many entries, the head, and the first broken link."""

    entries: int
    head_id: int | None
    head_hash: str
    first_broken_id: int | None = None
    problem: str = ""
    signed_through: int | None = None  # the last entry a checked signed head covers
    signed_entries: int = 0  # how many entries the signed heads cover

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None and not self.problem

    @property
    def unsigned_entries(self) -> int:
        """Entries after the last signed head: a cut-off tail is caught only up to there."""
        return self.entries - self.signed_entries


async def verify_chain(
    session: AsyncSession, *, batch: int = 5000, signed: Sequence[SignedHead] = ()
) -> ChainReport:
    """Recompute every link, in id order, and stop at the first that does not hold; each signed
    head must be found in the chain with its hash and the number of entries up to it."""
    pending = sorted(signed, key=lambda head: head.entry_id)
    previous_hash = GENESIS_HASH
    count = 0
    head_id: int | None = None
    last_id = 0
    signed_through: int | None = None
    signed_entries = 0

    def broken(entry_id: int, problem: str) -> ChainReport:
        return ChainReport(
            count, head_id, previous_hash, entry_id, problem, signed_through, signed_entries
        )

    while True:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.id) > last_id)
                .order_by(col(AuditEntry.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            if pending:
                missing = pending[0]
                return broken(
                    missing.entry_id,
                    f"it is missing, though the checkpoint signed at {moment_text(missing.at)} "
                    "covers the trail up to it: entries were cut from the end",
                )
            return ChainReport(
                count, head_id, previous_hash, None, "", signed_through, signed_entries
            )
        for row in rows:
            assert row.id is not None
            if pending and pending[0].entry_id < row.id:
                missing = pending[0]
                return broken(
                    missing.entry_id,
                    f"it is missing, though the checkpoint signed at {moment_text(missing.at)} "
                    "covers it",
                )
            if row.previous_hash != previous_hash:
                return broken(row.id, "does not follow the entry before it")
            expected = entry_hash(
                row.previous_hash,
                row.id,
                row.at,
                row.actor,
                row.action,
                row.account_id,
                row.details,
            )
            if row.entry_hash != expected:
                return broken(row.id, "its content does not match its hash")
            while pending and pending[0].entry_id == row.id:
                head = pending.pop(0)
                if head.head_hash != row.entry_hash or head.entries != count + 1:
                    return broken(
                        row.id,
                        f"the chain up to it differs from the checkpoint signed at "
                        f"{moment_text(head.at)}: entries up to here were rewritten, added or "
                        "removed",
                    )
                signed_through, signed_entries = row.id, count + 1
            previous_hash = row.entry_hash
            head_id = last_id = row.id
            count += 1


def moment_text(at: datetime) -> str:
    """A moment as the trail's reports write it (UTC, to the second)."""
    return as_utc(at).strftime("%Y-%m-%d %H:%M:%S UTC")


async def entries_of(
    session: AsyncSession, account_id: int, *, limit: int = 100, before_id: int | None = None
) -> list[AuditEntry]:
    """An account's own trail, newest first (what the customer sees)."""
    query = select(AuditEntry).where(AuditEntry.account_id == account_id)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(rows.all())


async def latest_entries(
    session: AsyncSession, *, account_id: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    """The newest entries of the whole trail, or of one account's (what an operator reads)."""
    query = select(AuditEntry)
    if account_id is not None:
        query = query.where(AuditEntry.account_id == account_id)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(rows.all())
