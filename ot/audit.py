"""The audit trail: security-relevant events in an append-only, hash-chained table.

Each entry's hash covers its own content and the previous entry's hash, so altering or removing
an entry breaks every link after it. `verify_chain` recomputes the chain and names the first
broken link. (Signed checkpoints of the chain head, which also catch a chain recomputed from
scratch or a cut-off tail, build on this: see `ot.audit_checkpoints` when present.)

Details hold ids, counts and reasons only: never personal data in plaintext.
"""

from __future__ import annotations

import hashlib
import json
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
class ChainReport:
    """What verifying the chain found: how many entries, the head, and the first broken link."""

    entries: int
    head_id: int | None
    head_hash: str
    first_broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None and not self.problem


async def verify_chain(session: AsyncSession, *, batch: int = 5000) -> ChainReport:
    """Recompute every link, in id order, and stop at the first that does not hold."""
    previous_hash = GENESIS_HASH
    count = 0
    head_id: int | None = None
    last_id = 0
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
            return ChainReport(count, head_id, previous_hash)
        for row in rows:
            assert row.id is not None
            if row.previous_hash != previous_hash:
                return ChainReport(
                    count, head_id, previous_hash, row.id, "does not follow the entry before it"
                )
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
                return ChainReport(
                    count, head_id, previous_hash, row.id, "its content does not match its hash"
                )
            previous_hash = row.entry_hash
            head_id = last_id = row.id
            count += 1


async def entries_of(
    session: AsyncSession, account_id: int, *, limit: int = 100, before_id: int | None = None
) -> list[AuditEntry]:
    """An account's own trail, newest first (what the customer sees)."""
    query = select(AuditEntry).where(AuditEntry.account_id == account_id)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(rows.all())
