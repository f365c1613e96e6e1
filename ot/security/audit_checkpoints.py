"""Signed checkpoints of the audit trail's head, so that a forger with the database alone is caught.

The hash chain (`ot.security.audit`) catches an altered or removed entry, but not a chain recomputed
from scratch after an alteration, nor a tail cut off. So every so often (`audit.checkpoint_every_*`
settings) the head entry's id, hash and the number of entries are signed with an Ed25519 key kept
outside the database (`audit-signing.key` in the data folder, or `audit.signing_key_file`). Each
checkpoint is stored in the `audit_checkpoint` table and appended to `audit-checkpoints.jsonl` in
the data folder: deleting the last entries together with their checkpoint rows is still caught by
the file. Verification needs only the public key.

What a cut-off tail can still hide: the entries after the last checkpoint, at most
`checkpoint_every_entries` entries or `checkpoint_every_minutes` of them. Entries older than that
window (and a short grace) that no checkpoint covers fail verification: checkpoints removed
together with a recomputed chain are caught that way.

Whoever holds the host holds the signing key too, and could sign checkpoints of a rewritten
trail. What the key cannot forge is a head kept elsewhere: `verify_trail(expected_heads=...)`
checks that heads printed earlier (`latest_head`) are still in the chain.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import paths
from ot.clock import as_utc, utcnow
from ot.config import AuditSettings, Settings
from ot.db import create_engine
from ot.models import AuditCheckpoint, AuditEntry
from ot.private_files import ensure_private_dir
from ot.security.audit import AUDIT_LOCK_ID, ChainReport, SignedHead, moment_text, verify_chain
from ot.security.secrets import create_secret_file

logger = logging.getLogger(__name__)

_SIGNED_KIND = "opentracker audit checkpoint v1"
# How often `ot serve` asks whether a checkpoint is due.
POLL_SECONDS = 30.0
# An entry is signed at most `checkpoint_every_minutes` after it was written, plus one poll of
# the background loop and the signing itself: verification allows this much more before it calls
# an entry no checkpoint covers overdue.
SIGNING_GRACE = timedelta(minutes=1)
_HEAD_HASH = re.compile(r"^[0-9a-f]{64}$")


# --- the signing key ----------------------------------------------------------------------------


def signing_key_path(settings: Settings) -> Path:
    return settings.audit.signing_key_file or paths.audit_signing_key_path(settings.data_dir)


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the signing key, creating it (mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        raw = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()) + b"\n"
        create_secret_file(path, raw)
    return _read_signing_key(path)


def _read_signing_key(path: Path) -> Ed25519PrivateKey:
    for _ in range(50):  # another process may be between creating and writing the file
        if path.stat().st_size:
            break
        time.sleep(0.02)
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_bytes().strip()))
    except Exception as error:
        # Without the file's content or the error's text: both may hold the key.
        problem = type(error).__name__
        raise RuntimeError(f"audit signing key {path} is damaged ({problem})") from None


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as base64 text: what an auditor keeps to verify with."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes_raw()).decode()


def parse_public_key(value: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(value.strip(), validate=True))
    except Exception:
        raise ValueError("not an Ed25519 public key in base64") from None


def public_key_of(settings: Settings) -> Ed25519PublicKey | None:
    """The public key of the configured signing key, or None when there is none yet."""
    path = signing_key_path(settings)
    if not path.exists():
        return None
    return _read_signing_key(path).public_key()


# --- writing checkpoints -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed head, as found in the table or in the file."""

    entry_id: int
    entries: int
    head_hash: str
    at: datetime
    public_key: str
    signature: str
    found_in: str  # "table" or "file"

    def signed_text(self) -> bytes:
        return signed_text(self.entry_id, self.entries, self.head_hash, self.at)

    def head(self) -> SignedHead:
        return SignedHead(self.entry_id, self.entries, self.head_hash, self.at)


def signed_text(entry_id: int, entries: int, head_hash: str, at: datetime) -> bytes:
    """The canonical text a checkpoint's signature covers."""
    content = [_SIGNED_KIND, entry_id, entries, head_hash, as_utc(at).isoformat()]
    return json.dumps(content, separators=(",", ":")).encode()


def _is_due(
    policy: AuditSettings, now: datetime, unsigned: int, oldest_unsigned: datetime | None
) -> bool:
    if unsigned >= policy.checkpoint_every_entries:
        return True
    return oldest_unsigned is not None and now - as_utc(oldest_unsigned) >= timedelta(
        minutes=policy.checkpoint_every_minutes
    )


async def write_checkpoint(
    session: AsyncSession,
    key: Ed25519PrivateKey,
    log_path: Path,
    *,
    policy: AuditSettings | None = None,
    now: datetime | None = None,
) -> AuditCheckpoint | None:
    """Sign the current head when a checkpoint is due (always, without a policy) and entries are
    not yet covered; the caller commits. The head read is committed: entries are final."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # One checkpoint writer at a time, and no append half-way.
        await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK_ID})
    head = (
        await session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1))
    ).first()
    if head is None or head.id is None:
        return None
    last_signed = (await session.exec(select(func.max(AuditCheckpoint.entry_id)))).one()
    signed_through = int(last_signed or 0)
    if head.id <= signed_through:
        return None
    now = now or utcnow()
    if policy is not None:
        unsigned_query = select(func.count(), func.min(AuditEntry.at)).where(
            col(AuditEntry.id) > signed_through
        )
        unsigned, oldest = (await session.exec(unsigned_query)).one()
        if not _is_due(policy, now, int(unsigned), oldest):
            return None
    entries = int(
        (await session.exec(select(func.count()).where(col(AuditEntry.id) <= head.id))).one()
    )
    now = now.replace(microsecond=0)  # stored and signed alike on both databases
    signature = base64.b64encode(key.sign(signed_text(head.id, entries, head.entry_hash, now)))
    checkpoint = AuditCheckpoint(
        at=now,
        entry_id=head.id,
        entries=entries,
        head_hash=head.entry_hash,
        public_key=public_key_text(key),
        signature=signature.decode(),
    )
    # The file first: the entries it covers are committed already, so a checkpoint in the file
    # whose row was never committed is still true.
    _append_line(log_path, checkpoint)
    session.add(checkpoint)
    await session.flush()
    return checkpoint


def _append_line(log_path: Path, checkpoint: AuditCheckpoint) -> None:
    line = json.dumps(
        {
            "entry_id": checkpoint.entry_id,
            "entries": checkpoint.entries,
            "head_hash": checkpoint.head_hash,
            "at": as_utc(checkpoint.at).isoformat(),
            "public_key": checkpoint.public_key,
            "signature": checkpoint.signature,
        },
        separators=(",", ":"),
    )
    ensure_private_dir(log_path.parent)
    # One write of one short line with O_APPEND: lines of several writers never interleave.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


async def sign_checkpoint(
    engine: AsyncEngine, settings: Settings, *, force: bool = False, now: datetime | None = None
) -> AuditCheckpoint | None:
    """Write a checkpoint in a transaction of its own, if one is due (or whenever `force`)."""
    key = load_or_create_signing_key(signing_key_path(settings))
    log_path = paths.audit_checkpoints_path(settings.data_dir)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        written = await write_checkpoint(
            session, key, log_path, policy=None if force else settings.audit, now=now
        )
        await session.commit()
    return written


async def keep_checkpointing(
    settings: Settings, stop: asyncio.Event, *, poll_seconds: float = POLL_SECONDS
) -> None:
    """Until `stop` is set, check every `poll_seconds` whether a checkpoint is due (the server's
    background process). A failure is logged and tried again, never fatal."""
    engine = create_engine(settings)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
            if stop.is_set():
                return
            try:
                written = await sign_checkpoint(engine, settings)
            except Exception as error:  # a background loop: never let one failure end it
                logger.warning("audit checkpoint failed", extra={"error": type(error).__name__})
                continue
            if written is not None:
                logger.info("audit checkpoint signed", extra={"entry_id": written.entry_id})
    finally:
        await engine.dispose()


# --- verifying ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    """Entries no signed checkpoint covers though one should have by now."""

    entries: int
    since: datetime


@dataclass(frozen=True)
class TrailReport:
    """The chain's report, with what the checkpoints and the heads kept elsewhere added."""

    chain: ChainReport
    checkpoints: int
    problem: str = ""  # a checkpoint that does not hold by itself (bad signature, damaged file)
    overdue: Overdue | None = None
    missing_head: str = ""  # an expected head that is not in the chain
    expected_heads: int = 0

    @property
    def intact(self) -> bool:
        return (
            self.chain.intact
            and not self.problem
            and self.overdue is None
            and not self.missing_head
        )

    @property
    def first_broken_id(self) -> int | None:
        return self.chain.first_broken_id

    def failures(self) -> list[str]:
        """Why the trail cannot be trusted, in words; empty when it holds."""
        found = []
        if self.problem:
            found.append(self.problem)
        if not self.chain.intact:
            found.append(f"entry {self.chain.first_broken_id}: {self.chain.problem}")
        if self.missing_head:
            found.append(
                f"the head {self.missing_head} kept off the host is not in the trail: entries up "
                "to it were rewritten or removed"
            )
        if self.overdue is not None:
            found.append(
                f"{self.overdue.entries} entries since {moment_text(self.overdue.since)} are not "
                "covered by any signed checkpoint: checkpoints were removed, or none are being "
                "signed (without the server's background process, run `ot-admin audit "
                "checkpoint` from cron)"
            )
        return found

    def describe(self) -> str:
        chain = self.chain
        lines = [
            f"audit trail: {_count(chain.entries, 'entry', 'entries')} checked, "
            f"{_count(self.checkpoints, 'signed checkpoint', 'signed checkpoints')}"
        ]
        if chain.signed_through is not None:
            lines.append(
                f"signed up to entry {chain.signed_through}; {chain.unsigned_entries} "
                "later entries not yet signed"
            )
        if self.expected_heads and not self.missing_head:
            lines.append(f"the {self.expected_heads} heads kept off the host are in the trail")
        if self.problem:
            lines.append(f"BROKEN: {self.problem}")
        elif not chain.intact:
            lines.append(f"BROKEN at entry {chain.first_broken_id}: {chain.problem}")
        else:
            lines.extend(f"BROKEN: {failure}" for failure in self.failures())
            if self.intact:
                lines.append("intact")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        chain = self.chain
        return {
            "intact": self.intact,
            "entries": chain.entries,
            "checkpoints": self.checkpoints,
            "signed_through": chain.signed_through,
            "unsigned_entries": chain.unsigned_entries,
            "first_broken_id": chain.first_broken_id,
            "overdue": None
            if self.overdue is None
            else {"entries": self.overdue.entries, "since": as_utc(self.overdue.since).isoformat()},
            "expected_heads": self.expected_heads,
            "problems": self.failures(),
        }


def check_head_hash(value: str) -> str:
    """A head as `ot-admin audit head` prints it: the 64 hex digits of an entry's hash."""
    head = value.strip().lower()
    if not _HEAD_HASH.match(head):
        raise ValueError(
            f"'{value}' is not a head: give the 64 hex digits `ot-admin audit head` printed"
        )
    return head


async def read_checkpoints(session: AsyncSession, log_path: Path) -> tuple[list[Checkpoint], str]:
    """Every checkpoint of the table and the file (duplicates once), and a problem reading the
    file, if any."""
    found: dict[tuple[int, str, str], Checkpoint] = {}
    for row in (await session.exec(select(AuditCheckpoint))).all():
        stored = Checkpoint(
            row.entry_id,
            row.entries,
            row.head_hash,
            row.at,
            row.public_key,
            row.signature,
            "table",
        )
        found[(stored.entry_id, stored.head_hash, stored.signature)] = stored
    problem = ""
    if log_path.exists():
        for number, line in enumerate(log_path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                stored = Checkpoint(
                    int(data["entry_id"]),
                    int(data["entries"]),
                    str(data["head_hash"]),
                    datetime.fromisoformat(data["at"]),
                    str(data["public_key"]),
                    str(data["signature"]),
                    "file",
                )
            except (ValueError, KeyError, TypeError):
                problem = problem or f"line {number} of {log_path.name} is damaged"
                continue
            found.setdefault((stored.entry_id, stored.head_hash, stored.signature), stored)
    return sorted(found.values(), key=lambda each: each.entry_id), problem


def _signature_holds(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_text())
    except (InvalidSignature, ValueError):
        return False
    return True


async def verify_trail(
    session: AsyncSession,
    public_key: Ed25519PublicKey | None,
    log_path: Path,
    *,
    policy: AuditSettings,
    now: datetime,
    expected_heads: Sequence[str] = (),
) -> TrailReport:
    """Check every checkpoint's signature, then the chain against the checkpoints, then that
    no entry older than the signing window is left uncovered and that every head kept elsewhere
    is still in the chain."""
    checkpoints, problem = await read_checkpoints(session, log_path)
    if checkpoints and public_key is None:
        problem = problem or "there are signed checkpoints but no public key to check them with"
    if public_key is not None:
        for each in checkpoints:
            if not _signature_holds(each, public_key):
                problem = problem or (
                    f"the checkpoint of entry {each.entry_id} in the {each.found_in} does not "
                    "carry a valid signature of our key"
                )
    heads = [each.head() for each in checkpoints] if not problem else []
    chain = await verify_chain(session, signed=heads)
    overdue = None
    if chain.intact and not problem:
        overdue = await _overdue(session, chain.signed_through or 0, policy, now)
    missing = ""
    for head in expected_heads:
        found = await session.exec(select(AuditEntry.id).where(AuditEntry.entry_hash == head))
        # The chain was recomputed from its start, so an entry holding this hash is the head
        # that was printed, with everything before it unchanged.
        if found.first() is None:
            missing = missing or head
    return TrailReport(chain, len(checkpoints), problem, overdue, missing, len(expected_heads))


async def _overdue(
    session: AsyncSession, signed_through: int, policy: AuditSettings, now: datetime
) -> Overdue | None:
    cutoff = now - timedelta(minutes=policy.checkpoint_every_minutes) - SIGNING_GRACE
    query = select(func.count(), func.min(AuditEntry.at)).where(
        col(AuditEntry.id) > signed_through, col(AuditEntry.at) < cutoff
    )
    count, since = (await session.exec(query)).one()
    if not count:
        return None
    return Overdue(int(count), as_utc(since))


async def verify(
    engine: AsyncEngine,
    settings: Settings,
    public_key: str | None,
    *,
    expected_heads: Sequence[str] = (),
    now: datetime | None = None,
) -> TrailReport:
    """Verify the configured trail with a given public key, else the signing key's own."""
    key = parse_public_key(public_key) if public_key else public_key_of(settings)
    heads = [check_head_hash(head) for head in expected_heads]
    async with AsyncSession(engine) as session:
        return await verify_trail(
            session,
            key,
            paths.audit_checkpoints_path(settings.data_dir),
            policy=settings.audit,
            now=now or utcnow(),
            expected_heads=heads,
        )


async def latest_head(
    engine: AsyncEngine, settings: Settings, public_key: str | None = None
) -> tuple[TrailReport, Checkpoint | None]:
    """The trail's report and its latest signed checkpoint: the head an operator keeps off the
    host (only worth keeping when the report says the trail is intact)."""
    report = await verify(engine, settings, public_key)
    async with AsyncSession(engine) as session:
        checkpoints, _ = await read_checkpoints(
            session, paths.audit_checkpoints_path(settings.data_dir)
        )
    return report, (checkpoints[-1] if checkpoints else None)


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"
