"""Grants never outlive the people and the account behind them.

A grant is answerable to one account: the member who made it (`created_by_account_id`), or the
owner who later confirmed it. It is suspended, and its key and share link read nothing, as soon
as that account leaves the team, is removed from it, or is given a role that may not manage
grants; and every grant of an account (and every grant its people made in other teams) is
suspended the moment the account asks to be deleted. Only an owner of the team brings a
suspended grant back, by confirming it (it then answers to that owner), or revokes it; a
cancelled deletion brings nothing back by itself. Each suspension is audited with its actor.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import ROLE_SCOPES, Scope
from ot.models import Grant, MemberRole
from ot.security import audit
from ot.security.audit import Actor, AuditAction


class SuspensionReason(StrEnum):
    MEMBER_REMOVED = "member_removed"
    MEMBER_LEFT = "member_left"
    ROLE_LOWERED = "role_lowered"
    ACCOUNT_DELETION_REQUESTED = "account_deletion_requested"
    CREATOR_DELETION_REQUESTED = "creator_deletion_requested"


def may_grant(role: MemberRole) -> bool:
    return Scope.GRANTS_WRITE in ROLE_SCOPES[role]


async def _suspend(
    session: AsyncSession,
    which: ColumnElement[bool],
    reason: SuspensionReason,
    *,
    actor: Actor,
    now: datetime,
) -> list[int]:
    """Suspend the live grants `which` selects; returns their ids."""
    grants = (
        await session.exec(
            select(Grant).where(
                which,
                col(Grant.revoked_at).is_(None),
                col(Grant.suspended_at).is_(None),
                col(Grant.expires_at) > now,
            )
        )
    ).all()
    for grant in grants:
        grant.suspended_at = now
        grant.suspended_reason = reason.value
        session.add(grant)
    await session.flush()
    for grant in grants:
        await audit.record(
            session,
            AuditAction.GRANT_SUSPENDED,
            actor=actor,
            account_id=grant.account_id,
            details={
                "grant_id": grant.id,
                "reason": reason.value,
                "answerable_account_id": grant.created_by_account_id,
            },
        )
    return [grant.id for grant in grants if grant.id is not None]


async def suspend_grants_of_member(
    session: AsyncSession,
    team_id: int,
    member_account_id: int,
    reason: SuspensionReason,
    *,
    actor: Actor,
    now: datetime,
) -> list[int]:
    """A member left the team, was removed, or may no longer grant: the team's grants that
    answer to it stop until an owner confirms them."""
    which = (col(Grant.account_id) == team_id) & (
        col(Grant.created_by_account_id) == member_account_id
    )
    return await _suspend(session, which, reason, actor=actor, now=now)


async def suspend_grants_for_deletion(
    session: AsyncSession, account_id: int, *, actor: Actor, now: datetime
) -> list[int]:
    """The account asked to be deleted: every grant of its sites stops, and so does every grant
    it made as a member of another team."""
    own = await _suspend(
        session,
        col(Grant.account_id) == account_id,
        SuspensionReason.ACCOUNT_DELETION_REQUESTED,
        actor=actor,
        now=now,
    )
    made_elsewhere = await _suspend(
        session,
        col(Grant.created_by_account_id) == account_id,
        SuspensionReason.CREATOR_DELETION_REQUESTED,
        actor=actor,
        now=now,
    )
    return own + made_elsewhere
