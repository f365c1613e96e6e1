"""Signed checkpoints of the audit trail (`ot.security.audit_checkpoints`): whoever can write the
database but does not hold the signing key cannot alter, rewrite or cut the trail unnoticed."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import paths
from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.security import audit, audit_checkpoints
from ot.security.audit import Actor, AuditAction
from ot.security.audit_checkpoints import TrailReport, public_key_text, sign_checkpoint, signed_text


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
                AuditAction.LOGIN_SUCCEEDED,
                actor=Actor.account(number),
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
    engine: AsyncEngine,
    settings: Settings,
    public_key: str | None = None,
    *,
    expected_heads: list[str] | None = None,
    later: timedelta = timedelta(0),
) -> TrailReport:
    """Verify as an operator would, `later` than now."""
    return await audit_checkpoints.verify(
        engine, settings, public_key, expected_heads=expected_heads or [], now=utcnow() + later
    )


def past_the_signing_window(settings: Settings) -> timedelta:
    """Long enough after an entry that a checkpoint must cover it by then."""
    window = timedelta(minutes=settings.audit.checkpoint_every_minutes)
    return window + audit_checkpoints.SIGNING_GRACE + timedelta(seconds=1)


async def remove_every_checkpoint(engine: AsyncEngine, settings: Settings) -> None:
    """What a forger with the database and the data folder can do: rows and file gone."""
    await execute(engine, "DELETE FROM audit_checkpoint")
    paths.audit_checkpoints_path(settings.data_dir).unlink(missing_ok=True)


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
    await recompute_chain(engine)
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
    await recompute_chain(engine)
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


async def test_entries_no_signed_checkpoint_covers_past_the_signing_window_fail_verification(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Every checkpoint removed (rows and file) and the chain recomputed: the chain alone holds,
    but its entries should have been signed long ago."""
    ids = await append(engine, 4)
    await checkpoint(engine, settings)
    await execute(engine, "UPDATE audit_entry SET actor = 'account:99' WHERE id = :id", id=ids[1])
    await recompute_chain(engine)
    await remove_every_checkpoint(engine, settings)
    [first] = await rows_of(engine, "SELECT at FROM audit_entry WHERE id = :id", id=ids[0])

    report = await verify(engine, settings, later=past_the_signing_window(settings))
    assert not report.intact
    assert report.chain.intact, "the recomputed chain holds by itself"
    assert report.overdue is not None and report.overdue.entries == 4
    since = audit.moment_text(_as_datetime(first["at"]))
    assert f"4 entries since {since} are not covered by any signed checkpoint" in report.describe()


async def test_entries_younger_than_the_signing_window_may_wait_for_their_checkpoint(
    engine: AsyncEngine, settings: Settings
) -> None:
    await append(engine, 2)
    await checkpoint(engine, settings)
    await append(engine, 3)
    report = await verify(engine, settings)
    assert report.intact, report.describe()
    assert report.chain.unsigned_entries == 3 and report.overdue is None
    later = await verify(engine, settings, later=past_the_signing_window(settings))
    assert later.overdue is not None and later.overdue.entries == 3, "only the unsigned ones"


async def test_a_head_kept_off_the_host_catches_a_trail_signed_again_with_the_stolen_key(
    engine: AsyncEngine, settings: Settings
) -> None:
    """The signing key lives on the host: whoever takes the host can rewrite the trail and sign
    it again. A head printed before and kept elsewhere is what they cannot forge."""
    ids = await append(engine, 3)
    await checkpoint(engine, settings)
    report, head = await audit_checkpoints.latest_head(engine, settings)
    assert report.intact and head is not None and head.entry_id == ids[-1]
    assert (await verify(engine, settings, expected_heads=[head.head_hash])).intact

    await execute(engine, "UPDATE audit_entry SET action = 'nothing' WHERE id = :id", id=ids[0])
    await recompute_chain(engine)
    await remove_every_checkpoint(engine, settings)
    await checkpoint(engine, settings)  # with the key found on the host
    assert (await verify(engine, settings)).intact, "the re-signed trail looks intact by itself"

    caught = await verify(engine, settings, expected_heads=[head.head_hash])
    assert not caught.intact
    assert caught.missing_head == head.head_hash
    assert "kept off the host is not in the trail" in caught.describe()


async def test_a_head_must_be_the_64_hex_digits_of_a_hash(
    engine: AsyncEngine, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="not a head"):
        await verify(engine, settings, expected_heads=["abc123"])


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
    ids = await append(engine, 1)
    a_minute_less = utcnow() + timedelta(minutes=settings.audit.checkpoint_every_minutes - 1)
    assert await sign_checkpoint(engine, settings, now=a_minute_less) is None, "not due yet"
    a_minute_more = utcnow() + timedelta(minutes=settings.audit.checkpoint_every_minutes + 1)
    written = await sign_checkpoint(engine, settings, now=a_minute_more)
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


async def rows_of(engine: AsyncEngine, sql: str, **params: object) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(text(sql), params)).mappings()]


def _as_datetime(value: object) -> datetime:
    """A stored moment: SQLite hands back text, PostgreSQL a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


async def recompute_chain(engine: AsyncEngine) -> None:
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
