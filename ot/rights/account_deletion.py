"""Deleting an account on its owner's request: scheduled, cancellable during a grace period,
then purged.

Asking ends every session and API key at once, and suspends every grant of the account's sites
and every grant it made in other teams (`ot.accounts.grant_suspension`): third parties read nothing
from that moment, and a cancelled deletion leaves the grants suspended until an owner confirms each.
Once the grace period is over, the purge deletes the hits and visits of the account's sites (in
batches), then every row of every table that refers to the account or to its sites (found through
the foreign keys, so tables added later are purged too), and blanks the account row's personal
columns: the row stays as a tombstone (other tables' history and the audit trail refer to its id)
without any personal data. Audit entries stay; they hold ids and counts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, Table, delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.grant_suspension import suspend_grants_for_deletion
from ot.accounts.sessions import revoke_all_sessions
from ot.accounts.store import get_account, password_confirms
from ot.clock import as_utc
from ot.errors import Conflict, Forbidden, NotFound
from ot.models import Account, AccountDeletion, ApiToken, AuditEntry, Site, every_table
from ot.rights.retention import HIT, VISIT, delete_in_batches
from ot.security import audit
from ot.security.audit import Actor, AuditAction

PURGE_ACTOR = Actor.system("purge")
ACCOUNT: Table = Account.__table__  # type: ignore[attr-defined]
# Tables a purge keeps: the record of the purge itself and the audit trail (no personal data).
KEPT_TABLES = frozenset({AccountDeletion.__tablename__, AuditEntry.__tablename__})
# Columns of the account row a tombstone keeps: they say nothing about the person.
TOMBSTONE_KEEPS = frozenset({"id", "created_at"})


async def pending_deletion(session: AsyncSession, account_id: int) -> AccountDeletion | None:
    """The account's deletion request, if one is scheduled or done."""
    return await session.get(AccountDeletion, account_id)


async def request_deletion(
    session: AsyncSession, account_id: int, *, now: datetime, grace_days: int, actor: Actor
) -> AccountDeletion:
    """Schedule the purge `grace_days` from now; end every session and API key and suspend
    every grant at once."""
    await get_account(session, account_id)
    existing = await pending_deletion(session, account_id)
    if existing is not None:
        when = as_utc(existing.purge_after).isoformat()
        raise Conflict(f"the account's deletion is already scheduled for {when}", field="account")
    request = AccountDeletion(
        account_id=account_id, requested_at=now, purge_after=now + timedelta(days=grace_days)
    )
    session.add(request)
    sessions = await revoke_all_sessions(session, account_id)
    keys = await session.exec(
        update(ApiToken)
        .where(col(ApiToken.account_id) == account_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    grants = await suspend_grants_for_deletion(session, account_id, actor=actor, now=now)
    await audit.record(
        session,
        AuditAction.ACCOUNT_DELETION_REQUESTED,
        actor=actor,
        account_id=account_id,
        details={
            "purge_after": as_utc(request.purge_after).isoformat(),
            "sessions_ended": sessions,
            "keys_revoked": keys.rowcount,
            "grants_suspended": len(grants),
        },
    )
    await session.flush()
    return request


async def request_deletion_by_owner(
    session: AsyncSession,
    account_id: int,
    password: str,
    *,
    now: datetime,
    grace_days: int,
    actor: Actor,
) -> AccountDeletion:
    """The owner's own request, with its password asked again, as the act cannot be undone
    once purged. A wrong password is refused and kept in the trail: the caller commits refusals
    (`OtError`) too."""
    if not await password_confirms(session, account_id, password):
        await audit.record(
            session,
            AuditAction.ACCOUNT_DELETION_REFUSED,
            actor=actor,
            account_id=account_id,
            details={"reason": "wrong_password"},
        )
        raise Forbidden("the password is not right", field="password")
    return await request_deletion(session, account_id, now=now, grace_days=grace_days, actor=actor)


async def cancel_deletion(session: AsyncSession, account_id: int, *, actor: Actor) -> None:
    """Cancel a scheduled deletion during its grace period."""
    request = await pending_deletion(session, account_id)
    if request is None or request.purged_at is not None:
        raise NotFound("no deletion of this account is scheduled", field="account")
    await session.delete(request)
    await audit.record(
        session, AuditAction.ACCOUNT_DELETION_CANCELLED, actor=actor, account_id=account_id
    )
    await session.flush()


@dataclass
class PurgeReport:
    account_id: int
    hits: int = 0
    visits: int = 0
    rows: dict[str, int] = field(default_factory=dict)


async def purge_due_accounts(engine: AsyncEngine, now: datetime, batch_size: int) -> list[int]:
    """Purge every account whose grace period is over; returns their ids."""
    async with AsyncSession(engine) as session:
        due = (
            await session.exec(
                select(AccountDeletion.account_id).where(
                    col(AccountDeletion.purge_after) <= now,
                    col(AccountDeletion.purged_at).is_(None),
                )
            )
        ).all()
    for account_id in due:
        await purge_account(engine, account_id, now=now, batch_size=batch_size)
    return list(due)


async def purge_account(
    engine: AsyncEngine, account_id: int, *, now: datetime, batch_size: int
) -> PurgeReport:
    """Delete everything the account holds and leave a tombstone. Safe to run again after an
    interruption: each step deletes only what is left."""
    report = PurgeReport(account_id)
    async with AsyncSession(engine) as session:
        site_ids = list(
            (await session.exec(select(Site.id).where(Site.account_id == account_id))).all()
        )
    for site_id in site_ids:
        report.hits += await delete_in_batches(engine, HIT, HIT.c.site_id == site_id, batch_size)
        report.visits += await delete_in_batches(
            engine, VISIT, VISIT.c.site_id == site_id, batch_size
        )
    async with engine.begin() as connection:
        for table in reversed(every_table()):
            condition = _belongs_to_account(table, account_id, {})
            if table.name in KEPT_TABLES or table is ACCOUNT or condition is None:
                continue
            result = await connection.execute(delete(table).where(condition))
            if result.rowcount:
                report.rows[table.name] = result.rowcount
        await connection.execute(
            update(ACCOUNT).where(ACCOUNT.c.id == account_id).values(**_tombstone(account_id))
        )
    async with AsyncSession(engine) as session:
        request = await pending_deletion(session, account_id)
        if request is None:  # an operator's purge without a customer's request
            request = AccountDeletion(account_id=account_id, requested_at=now, purge_after=now)
        request.purged_at = now
        session.add(request)
        await audit.record(
            session,
            AuditAction.ACCOUNT_PURGED,
            actor=PURGE_ACTOR,
            account_id=account_id,
            details={"hits": report.hits, "visits": report.visits, "rows": report.rows},
        )
        await session.commit()
    return report


def _belongs_to_account(
    table: Table, account_id: int, memo: dict[str, ColumnElement[bool] | None]
) -> ColumnElement[bool] | None:
    """The rows of `table` that refer to the account, directly or through the rows of other
    tables that do (a site's goals, a site's rollups, ...); None when nothing can."""
    if table is ACCOUNT:
        return ACCOUNT.c.id == account_id
    if table.name in memo:
        return memo[table.name]
    memo[table.name] = None  # a cycle of foreign keys ends here
    conditions: list[ColumnElement[bool]] = []
    for foreign_key in table.foreign_keys:
        parent = foreign_key.column.table
        if not isinstance(parent, Table) or parent.name in KEPT_TABLES:
            continue
        if parent is ACCOUNT:
            conditions.append(foreign_key.parent == account_id)
            continue
        parent_condition = _belongs_to_account(parent, account_id, memo)
        if parent_condition is not None:
            conditions.append(
                foreign_key.parent.in_(sa_select(foreign_key.column).where(parent_condition))
            )
    condition = None
    for part in conditions:
        condition = part if condition is None else condition | part
    memo[table.name] = condition
    return condition


def _tombstone(account_id: int) -> dict[str, Any]:
    """New values for every personal column of the account row: NULL where allowed, otherwise
    an empty (or, where unique, a per-account) string."""
    values: dict[str, Any] = {}
    column: Column[Any]
    for column in ACCOUNT.columns:
        if column.name in TOMBSTONE_KEEPS:
            continue
        if column.nullable:
            values[column.name] = None
        elif _is_text(column):
            values[column.name] = f"purged:{account_id}" if column.unique else ""
    return values


def _is_text(column: Column[Any]) -> bool:
    # SQLModel's AutoString is a TypeDecorator over String.
    return isinstance(getattr(column.type, "impl", column.type), String)


async def is_purged(session: AsyncSession, account_id: int) -> bool:
    request = await pending_deletion(session, account_id)
    return request is not None and request.purged_at is not None
