"""The audit trail (`ot.security.audit`): entries are chained by hash, and verification names the
first entry that was altered or whose predecessor was removed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.config import Settings
from ot.db import create_engine
from ot.security import audit
from ot.security.audit import Actor, AuditAction


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


async def verify(engine: AsyncEngine) -> audit.ChainReport:
    async with AsyncSession(engine) as session:
        return await audit.verify_chain(session, batch=2)


async def test_an_untouched_trail_verifies(engine: AsyncEngine) -> None:
    ids = await append(engine, 5)
    report = await verify(engine)
    assert report.intact and report.entries == 5 and report.head_id == ids[-1]


async def test_an_empty_trail_verifies(engine: AsyncEngine) -> None:
    report = await verify(engine)
    assert report.intact and report.entries == 0 and report.head_hash == audit.GENESIS_HASH


async def test_an_altered_entry_is_the_first_broken_link(engine: AsyncEngine) -> None:
    ids = await append(engine, 5)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE audit_entry SET actor = 'account:99' WHERE id = :id"), {"id": ids[2]}
        )
    report = await verify(engine)
    assert not report.intact
    assert report.first_broken_id == ids[2] and report.entries == 2
    assert "content" in report.problem


async def test_a_removed_entry_breaks_the_link_of_the_one_after_it(engine: AsyncEngine) -> None:
    ids = await append(engine, 5)
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_entry WHERE id = :id"), {"id": ids[1]})
    report = await verify(engine)
    assert report.first_broken_id == ids[2] and "follow" in report.problem


async def test_an_entry_is_kept_only_with_the_act_it_records(engine: AsyncEngine) -> None:
    await append(engine, 1)
    async with AsyncSession(engine) as session:
        await audit.record(session, AuditAction.KEY_CREATED, actor=Actor.account(1), account_id=1)
        await session.rollback()
    await append(engine, 1)
    report = await verify(engine)
    assert report.intact and report.entries == 2


async def test_an_account_sees_its_own_trail_newest_first(engine: AsyncEngine) -> None:
    await append(engine, 3)
    async with AsyncSession(engine) as session:
        entries = await audit.entries_of(session, 1)
        assert [(e.actor, e.account_id) for e in entries] == [("account:1", 1)]
