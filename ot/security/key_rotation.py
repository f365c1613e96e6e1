"""Key rotation for encrypted columns: add a key, re-encrypt every stored value under it in small
batches while the server keeps running, count values per key, and retire a key nothing uses.

Encrypted columns are found by their `ot.models.columns.Encrypted` marker on the model (not by a
list kept here), so a column added later is rotated and checked without a change to this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column, ColumnElement, MetaData, Table, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.errors import Conflict, NotFound, OtError
from ot.models import every_table
from ot.models.columns import ENCRYPTED_INFO, Encrypted
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import VERSION, Cipher, DecryptionError
from ot.security.secrets import add_encryption_key, read_secrets, remove_encryption_key

BATCH_SIZE = 500


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column of one table, and how its values are bound."""

    table: Table
    column: Column[str]
    encrypted: Encrypted

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def key(self) -> Column[int]:
        [primary_key] = self.table.primary_key.columns
        return primary_key


def encrypted_columns(metadata: MetaData | None = None) -> list[EncryptedColumn]:
    """Every column of every table marked with an `Encrypted` (of every table of `ot.models`
    unless `metadata` is given)."""
    found = []
    for table in every_table() if metadata is None else metadata.sorted_tables:
        for column in table.columns:
            encrypted = column.info.get(ENCRYPTED_INFO)
            if isinstance(encrypted, Encrypted):
                if len(table.primary_key.columns) != 1:
                    raise TypeError(f"{table.name}: encrypted columns need a one-column key")
                found.append(EncryptedColumn(table, column, encrypted))
    return found


def _key_prefix(key_id: str) -> str:
    return f"{VERSION}.{key_id}.%"


@dataclass
class KeyUsage:
    """How many stored values each key id encrypts, per column; and values that are not ours."""

    by_key: Counter[str] = field(default_factory=Counter)
    by_column: dict[str, Counter[str]] = field(default_factory=dict)
    not_encrypted: Counter[str] = field(default_factory=Counter)  # column -> plaintext values


async def key_usage(engine: AsyncEngine, key_ids: list[str]) -> KeyUsage:
    """Count values per key id (any other id counts as "unknown")."""
    usage = KeyUsage()
    async with engine.connect() as connection:
        for each in encrypted_columns():
            counts: Counter[str] = Counter()
            total = (
                await connection.execute(
                    select(func.count())
                    .select_from(each.table)
                    # "" holds nothing: a purged account's tombstone blanks its fields so
                    .where(each.column.is_not(None), each.column != "")
                )
            ).scalar_one()
            for key_id in key_ids:
                counts[key_id] = (
                    await connection.execute(
                        select(func.count())
                        .select_from(each.table)
                        .where(each.column.like(_key_prefix(key_id)))
                    )
                ).scalar_one()
            ours = (
                await connection.execute(
                    select(func.count())
                    .select_from(each.table)
                    .where(each.column.like(f"{VERSION}.%"))
                )
            ).scalar_one()
            unknown = ours - sum(counts.values())
            if unknown:
                counts["unknown"] = unknown
            if total - ours:
                usage.not_encrypted[each.name] = total - ours
            usage.by_column[each.name] = +counts
            usage.by_key.update(counts)
    return usage


SAMPLE_SIZE = 20  # values per key and column that `sample_unreadable` decrypts


async def sample_unreadable(engine: AsyncEngine, cipher: Cipher) -> tuple[int, Counter[str]]:
    """Decrypt the newest values each key encrypts in each column: how many were tried, and
    per column how many did not decrypt. A key id matching proves little on its own (a secrets
    file from another installation has the same ids); reading values proves the key is theirs,
    without decrypting millions of hits' IPs."""
    tried = 0
    unreadable: Counter[str] = Counter()
    async with engine.connect() as connection:
        for each in encrypted_columns():
            bound = [each.table.c[name] for name in each.encrypted.bound_to]
            for key_id in cipher.key_ids:
                rows = (
                    (
                        await connection.execute(
                            select(each.column, *bound)
                            .where(each.column.like(_key_prefix(key_id)))
                            .order_by(each.key.desc())
                            .limit(SAMPLE_SIZE)
                        )
                    )
                    .mappings()
                    .all()
                )
                for row in rows:
                    tried += 1
                    bound_values = {name: row[name] for name in each.encrypted.bound_to}
                    context = each.encrypted.context_for(bound_values)
                    if _decrypt(cipher, row[each.column.name], context, each.encrypted) is None:
                        unreadable[each.name] += 1
    return tried, unreadable


@dataclass
class RotationReport:
    new_key_id: str
    reencrypted: Counter[str] = field(default_factory=Counter)  # column -> values
    unreadable: Counter[str] = field(default_factory=Counter)  # column -> values left as they were


def start_rotation(secrets_file: Path) -> str:
    """Add a new key to the secrets file and make it current: new values use it at once."""
    try:
        return add_encryption_key(secrets_file)
    except OSError as error:
        raise OtError(f"cannot write the secrets file {secrets_file}: {error.strerror}") from None


async def reencrypt(
    engine: AsyncEngine,
    secrets_file: Path,
    report: RotationReport,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int | None], None] | None = None,
) -> None:
    """Re-encrypt every value not under the current key, a batch per transaction.

    A value changed by someone else meanwhile is left alone (the update names the old value); a
    pass repeats until it finds nothing more, which also catches values a server wrote with the
    old key before it noticed the new one. `progress` is told the values looked at, of those
    counted at the start (a later pass's are added to both).
    """
    cipher = Cipher(read_secrets(secrets_file))
    looked_at = 0
    total = await _count_to_reencrypt(engine, cipher) if progress is not None else 0

    def batch_read(values: int) -> None:
        nonlocal looked_at, total
        looked_at += values
        total = max(total, looked_at)
        if progress is not None:
            progress(looked_at, total)

    while True:
        changed = 0
        report.unreadable.clear()  # each pass meets every unreadable value again
        for each in encrypted_columns():
            changed += await _reencrypt_column(engine, cipher, each, report, batch_size, batch_read)
        if not changed:
            if progress is not None:
                progress(looked_at, looked_at)  # done, though others changed values meanwhile
            return


def _needs_reencrypting(each: EncryptedColumn, cipher: Cipher) -> ColumnElement[bool]:
    return and_(
        each.column.is_not(None),
        each.column != "",  # holds nothing: a purged account's tombstone blanks its fields so
        each.column.not_like(_key_prefix(cipher.current_key_id)),
    )


async def _count_to_reencrypt(engine: AsyncEngine, cipher: Cipher) -> int:
    count = 0
    async with engine.connect() as connection:
        for each in encrypted_columns():
            query = select(func.count()).select_from(each.table)
            count += (
                await connection.execute(query.where(_needs_reencrypting(each, cipher)))
            ).scalar_one()
    return count


async def _reencrypt_column(
    engine: AsyncEngine,
    cipher: Cipher,
    each: EncryptedColumn,
    report: RotationReport,
    batch_size: int,
    batch_read: Callable[[int], None],
) -> int:
    bound = [each.table.c[name] for name in each.encrypted.bound_to]
    last_key: int | None = None
    changed = 0
    while True:
        query = select(each.key, each.column, *bound).where(_needs_reencrypting(each, cipher))
        if last_key is not None:
            query = query.where(each.key > last_key)
        async with engine.begin() as connection:
            rows = (
                (await connection.execute(query.order_by(each.key).limit(batch_size)))
                .mappings()
                .all()
            )
            if not rows:
                return changed
            updates = []
            for row in rows:
                context = each.encrypted.context_for({n: row[n] for n in each.encrypted.bound_to})
                plaintext = _decrypt(cipher, row[each.column.name], context, each.encrypted)
                if plaintext is None:
                    report.unreadable[each.name] += 1
                    continue
                updates.append(
                    {
                        "row_key": row[each.key.name],
                        "old_value": row[each.column.name],
                        "new_value": cipher.encrypt(plaintext, context=context),
                    }
                )
            if updates:
                statement = (
                    update(each.table)
                    .where(
                        and_(
                            each.key == bindparam("row_key"),
                            each.column == bindparam("old_value"),
                        )
                    )
                    .values({each.column.name: bindparam("new_value")})
                )
                await connection.execute(statement, updates)
            last_key = rows[-1][each.key.name]
        report.reencrypted[each.name] += len(updates)
        changed += len(updates)
        batch_read(len(rows))


def _decrypt(cipher: Cipher, value: str, context: str, encrypted: Encrypted) -> str | None:
    """The plaintext, read with today's context or a former one; None when neither works."""
    for candidate in (context, *encrypted.former_contexts):
        try:
            return cipher.decrypt(value, context=candidate)
        except DecryptionError:
            continue
    return None


async def rotate(
    engine: AsyncEngine,
    secrets_file: Path,
    *,
    actor: Actor,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int | None], None] | None = None,
) -> RotationReport:
    """Add a key, make it current, and re-encrypt everything under it (`reencrypt`)."""
    report = RotationReport(start_rotation(secrets_file))
    await reencrypt(engine, secrets_file, report, batch_size=batch_size, progress=progress)
    details = {
        "key_id": report.new_key_id,
        "reencrypted": sum(report.reencrypted.values()),
        "unreadable": sum(report.unreadable.values()),
    }
    await _record(engine, AuditAction.KEYS_ROTATED, actor, details)
    return report


async def _record(
    engine: AsyncEngine, action: AuditAction, actor: Actor, details: dict[str, object]
) -> None:
    """A key's change in a transaction of its own: the secrets file is no part of the
    database's."""
    async with AsyncSession(engine) as session:
        await audit.record(session, action, actor=actor, details=details)
        await session.commit()


async def retire_key(engine: AsyncEngine, secrets_file: Path, key_id: str, *, actor: Actor) -> None:
    """Remove a key from the secrets file, only when no stored value uses it any more."""
    secrets = read_secrets(secrets_file)
    if key_id not in secrets.encryption_keys:
        raise NotFound(f"there is no key {key_id}", field="key_id")
    if key_id == secrets.current_key_id:
        raise Conflict(f"key {key_id} is the current key: rotate to a new key first")
    usage = await key_usage(engine, [key_id])
    if usage.by_key[key_id]:
        raise Conflict(
            f"key {key_id} still encrypts {usage.by_key[key_id]} stored values: "
            "run `ot-admin keys rotate` (or let it finish) first"
        )
    remove_encryption_key(secrets_file, key_id)
    await _record(engine, AuditAction.KEYS_RETIRED, actor, {"key_id": key_id})
