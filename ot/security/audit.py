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
    action: str,
    *,
    actor: str,
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
        actor=actor,
        action=action,
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
        entry.previous_hash, entry.id, entry.at, actor, action, account_id, entry.details
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
