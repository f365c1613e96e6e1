"""Signed checkpoints of the audit trail (`ot.audit_checkpoints`): whoever can write the database
but does not hold the signing key cannot alter, rewrite or cut the trail unnoticed."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import audit, audit_checkpoints, paths
from ot.audit_checkpoints import TrailReport, public_key_text, sign_checkpoint, signed_text
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, to write entries and then tamper with them behind the code's back."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def append(engine: AsyncEngine, count: int) -> list[int]:
    ids = []
    for number in range(count):
        async with AsyncSession(engine) as session:
            entry = await audit.record(
                session,
                "login.succeeded",
                actor=f"account:{number}",
                account_id=number,
                details={"session_id": number},
            )
            ids.append(entry.id or 0)
            await session.commit()
    return ids


async def checkpoint(engine: AsyncEngine, settings: Settings) -> int:
    written = await sign_checkpoint(engine, settings, force=True)
    assert written is not None
    return written.entry_id


async def verify(
    engine: AsyncEngine, settings: Settings, public_key: str | None = None
) -> TrailReport:
    return await audit_checkpoints.verify(engine, settings, public_key)


async def execute(engine: AsyncEngine, sql: str, **params: object) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


async def test_a_trail_with_checkpoints_verifies(engine: AsyncEngine, settings: Settings) -> None:
    await append(engine, 3)
    await checkpoint(engine, settings)
    ids = await append(engine, 2)
    await checkpoint(engine, settings)
    report = await verify(engine, settings)
    assert report.intact, report.describe()
    assert report.checkpoints == 2 and report.chain.entries == 5
    assert report.chain.signed_through == ids[-1] and report.chain.unsigned_entries == 0
    assert report.describe().endswith("intact")


async def test_each_checkpoint_is_kept_in_the_table_and_in_the_data_folder(
    engine: AsyncEngine, settings: Settings
) -> None:
    [entry_id] = await append(engine, 1)
    await checkpoint(engine, settings)
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM audit_checkpoint"))).mappings().one()
    [line] = paths.audit_checkpoints_path(settings.data_dir).read_text().splitlines()
    stored = json.loads(line)
    assert stored["entry_id"] == row["entry_id"] == entry_id
    assert stored["signature"] == row["signature"]


async def test_nothing_is_signed_twice(engine: AsyncEngine, settings: Settings) -> None:
    await append(engine, 2)
    await checkpoint(engine, settings)
    assert await sign_checkpoint(engine, settings, force=True) is None


async def test_an_altered_entry_is_named_with_why(engine: AsyncEngine, settings: Settings) -> None:
    ids = await append(engine, 5)
    await checkpoint(engine, settings)
    await execute(engine, "UPDATE audit_entry SET action = 'nothing' WHERE id = :id", id=ids[2])
    report = await verify(engine, settings)
    assert not report.intact
    assert report.first_broken_id == ids[2]
    assert "content does not match" in report.describe()


async def test_deleting_the_last_entries_is_caught(engine: AsyncEngine, settings: Settings) -> None:
    ids = await append(engine, 5)
    await checkpoint(engine, settings)
    await execute(engine, "DELETE FROM audit_entry WHERE id >= :id", id=ids[3])
    report = await verify(engine, settings)
    assert not report.intact
    assert report.first_broken_id == ids[-1]
    assert "cut from the end" in report.chain.problem


async def test_a_chain_recomputed_after_an_alteration_is_caught(
    engine: AsyncEngine, settings: Settings
) -> None:
    """A forger without the signing key alters an entry and recomputes every hash after it."""
    ids = await append(engine, 6)
    await checkpoint(engine, settings)
    await execute(engine, "UPDATE audit_entry SET actor = 'account:99' WHERE id = :id", id=ids[1])
    await _recompute_chain(engine)
    async with AsyncSession(engine) as session:
        assert (await audit.verify_chain(session)).intact, "the chain alone no longer shows it"

    report = await verify(engine, settings)
    assert not report.intact
    assert report.first_broken_id == ids[-1]
    assert "differs from the checkpoint signed at" in report.chain.problem


async def test_a_middle_entry_removed_and_the_chain_recomputed_is_caught(
    engine: AsyncEngine, settings: Settings
) -> None:
    ids = await append(engine, 4)
    await checkpoint(engine, settings)
    await execute(engine, "DELETE FROM audit_entry WHERE id = :id", id=ids[1])
    await _recompute_chain(engine)
    report = await verify(engine, settings)
    assert report.first_broken_id == ids[-1] and not report.intact


async def test_cutting_the_tail_and_its_checkpoint_rows_is_caught_by_the_file(
    engine: AsyncEngine, settings: Settings
) -> None:
    await append(engine, 3)
    await checkpoint(engine, settings)
    ids = await append(engine, 3)
    await checkpoint(engine, settings)
    # Truncate the tail back past the last checkpoint, and remove that checkpoint's row too.
    await execute(engine, "DELETE FROM audit_entry WHERE id >= :id", id=ids[0])
    await execute(engine, "DELETE FROM audit_checkpoint WHERE entry_id >= :id", id=ids[0])
    report = await verify(engine, settings)
    assert not report.intact
    assert report.first_broken_id == ids[-1]
    assert "cut from the end" in report.chain.problem


async def test_cutting_the_tail_and_every_checkpoint_row_is_caught_by_the_file(
    engine: AsyncEngine, settings: Settings
) -> None:
    ids = await append(engine, 4)
    await checkpoint(engine, settings)
    await execute(engine, "DELETE FROM audit_entry WHERE id > :id", id=ids[0])
    await execute(engine, "DELETE FROM audit_checkpoint")
    report = await verify(engine, settings)
    assert report.first_broken_id == ids[-1] and not report.intact


async def test_a_checkpoint_not_signed_by_our_key_is_refused(
    engine: AsyncEngine, settings: Settings
) -> None:
    [entry_id] = await append(engine, 1)
    await checkpoint(engine, settings)
    forger = Ed25519PrivateKey.generate()
    now = utcnow().replace(microsecond=0)
    async with engine.connect() as connection:
        head_hash = (
            await connection.execute(text("SELECT entry_hash FROM audit_entry"))
        ).scalar_one()
    signature = base64.b64encode(forger.sign(signed_text(entry_id, 1, head_hash, now))).decode()
    await execute(
        engine,
        "INSERT INTO audit_checkpoint (at, entry_id, entries, head_hash, public_key, signature) "
        "VALUES (:at, :entry_id, 1, :head_hash, :public_key, :signature)",
        at=now,
        entry_id=entry_id,
        head_hash=head_hash,
        public_key=public_key_text(forger),
        signature=signature,
    )
    report = await verify(engine, settings)
    assert not report.intact
    assert "valid signature" in report.problem


async def test_a_damaged_checkpoint_file_is_reported(
    engine: AsyncEngine, settings: Settings
) -> None:
    await append(engine, 1)
    await checkpoint(engine, settings)
    with paths.audit_checkpoints_path(settings.data_dir).open("a") as file:
        file.write("{not json\n")
    report = await verify(engine, settings)
    assert not report.intact and "damaged" in report.problem


async def test_verifying_needs_only_the_public_key(engine: AsyncEngine, settings: Settings) -> None:
    await append(engine, 2)
    await checkpoint(engine, settings)
    key_path = paths.audit_signing_key_path(settings.data_dir)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    public_key = public_key_text(audit_checkpoints.load_or_create_signing_key(key_path))
    key_path.unlink()  # an auditor's machine: no signing key
    assert (await verify(engine, settings, public_key)).intact
    other = public_key_text(Ed25519PrivateKey.generate())
    assert not (await verify(engine, settings, other)).intact


async def test_checkpoints_are_signed_every_n_entries(
    engine: AsyncEngine, settings: Settings
) -> None:
    every_three = settings.model_copy(
        update={"audit": settings.audit.model_copy(update={"checkpoint_every_entries": 3})}
    )
    await append(engine, 2)
    assert await sign_checkpoint(engine, every_three) is None, "not due yet"
    ids = await append(engine, 1)
    written = await sign_checkpoint(engine, every_three)
    assert written is not None and written.entry_id == ids[-1]


async def test_checkpoints_are_signed_at_least_every_m_minutes(
    engine: AsyncEngine, settings: Settings
) -> None:
    soon = settings.model_copy(
        update={"audit": settings.audit.model_copy(update={"checkpoint_every_minutes": 0.01})}
    )
    ids = await append(engine, 1)
    await asyncio.sleep(0.7)  # 0.01 minutes and some
    written = await sign_checkpoint(engine, soon)
    assert written is not None and written.entry_id == ids[-1]


async def test_the_background_loop_signs_when_due_and_stops_when_told(
    engine: AsyncEngine, settings: Settings
) -> None:
    every_entry = settings.model_copy(
        update={"audit": settings.audit.model_copy(update={"checkpoint_every_entries": 1})}
    )
    await append(engine, 2)
    stop = asyncio.Event()
    loop = asyncio.create_task(
        audit_checkpoints.keep_checkpointing(every_entry, stop, poll_seconds=0.05)
    )
    for _ in range(1200):  # up to a minute on a busy machine; ends as soon as it signed
        if paths.audit_checkpoints_path(settings.data_dir).exists():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 60)
    assert (await verify(engine, settings)).chain.unsigned_entries == 0


async def _recompute_chain(engine: AsyncEngine) -> None:
    """What a forger with the database alone can do: every hash made anew, in order."""
    async with engine.begin() as connection:
        rows = (
            (await connection.execute(text("SELECT * FROM audit_entry ORDER BY id")))
            .mappings()
            .all()
        )
        previous = audit.GENESIS_HASH
        for row in rows:
            details = row["details"]
            if isinstance(details, str):
                details = json.loads(details)
            at = row["at"]
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            new_hash = audit.entry_hash(
                previous, row["id"], at, row["actor"], row["action"], row["account_id"], details
            )
            await connection.execute(
                text("UPDATE audit_entry SET previous_hash = :p, entry_hash = :h WHERE id = :id"),
                {"p": previous, "h": new_hash, "id": row["id"]},
            )
            previous = new_hash
