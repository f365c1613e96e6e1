"""Teams: the people (accounts) who work on an account's sites, with a role each, by invitation.

An account is the owner of its own team and has no membership row. Others join by accepting an
invitation: a random one-time token mailed to an address that is stored encrypted. It is bound
to that address: only a logged-in account whose confirmed e-mail address is the invited one can
accept it, so a forwarded or intercepted mail lets nobody else in. A caller never hands out a
role above its own, and a member may always leave. Anything about a team the caller cannot see
answers exactly as missing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.grant_suspension import SuspensionReason, may_grant, suspend_grants_of_member
from ot.accounts.permissions import Principal, PrincipalKind, Scope, may, role_in
from ot.accounts.store import account_email, get_account, normalise_email
from ot.clock import as_utc, utcnow
from ot.errors import Conflict, Forbidden, InvalidInput, NotFound
from ot.mailer import Mail, quoted
from ot.models import INVITATION_EMAIL, Invitation, MemberRole, Membership
from ot.security import audit
from ot.security.audit import AuditAction
from ot.security.crypto import Cipher

INVITATION_PREFIX = "oti_"
ACCEPT_PATH = "/ot/v1/team/invitations/accept"
INVITATION_LIFETIME = timedelta(days=7)
EMAIL_CONTEXT = INVITATION_EMAIL.context
MAX_EMAIL_LENGTH = 254
# Bounds the mails one team can make us send before some are accepted or withdrawn.
MAX_PENDING_INVITATIONS = 50
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_RANK = {MemberRole.VIEWER: 0, MemberRole.ADMIN: 1, MemberRole.OWNER: 2}


class InvitedElsewhere(Forbidden):
    """The invitation was sent to another address than the caller's confirmed one."""


@dataclass(frozen=True)
class NewInvitation:
    """A stored invitation and its token, which exists in plaintext only in the mail."""

    invitation: Invitation
    token: str


def _digest(token: str) -> str:
    # 256 random bits: a plain hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def validate_email(email: str) -> str:
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise InvalidInput("this is not an e-mail address", field="email")
    return email


async def team_for(
    session: AsyncSession, principal: Principal, team_id: int | None, scope: Scope
) -> int:
    """The team a request is about: the caller's own account unless it names another it may
    act on with `scope` (any other answers as missing)."""
    team = principal.account_id if team_id is None else team_id
    if not await may(session, principal, team, scope):
        if await may(session, principal, team, Scope.TEAM_READ):
            raise Forbidden(f"your role in team {team} does not allow this", field="team_id")
        raise NotFound(f"team {team} does not exist", field="team_id")
    return team


async def _check_ceiling(
    session: AsyncSession, principal: Principal, team_id: int, role: MemberRole
) -> None:
    own = await role_in(session, principal, team_id)
    if own is None or _RANK[role] > _RANK[own]:
        raise Forbidden(
            f"you cannot hand out or change the {role.value} role: it is above yours",
            field="role",
        )


async def invite(
    session: AsyncSession,
    cipher: Cipher,
    principal: Principal,
    email: str,
    role: MemberRole,
    team_id: int | None = None,
) -> NewInvitation:
    team = await team_for(session, principal, team_id, Scope.TEAM_WRITE)
    await _check_ceiling(session, principal, team, role)
    email = validate_email(email)
    now = utcnow()
    pending = await session.exec(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.account_id == team,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.withdrawn_at).is_(None),
            col(Invitation.expires_at) > now,
        )
    )
    if pending.one() >= MAX_PENDING_INVITATIONS:
        raise Conflict(
            f"a team has at most {MAX_PENDING_INVITATIONS} open invitations: withdraw some",
            field="email",
        )
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation(
        account_id=team,
        email_encrypted=cipher.encrypt(email, context=EMAIL_CONTEXT),
        role=role,
        token_hash=_digest(token),
        invited_by=principal.account_id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        AuditAction.TEAM_INVITED,
        actor=principal.actor,
        account_id=team,
        details={"invitation_id": invitation.id, "role": role.value},
    )
    return NewInvitation(invitation, token)


def invitation_email(invitation: Invitation, cipher: Cipher) -> str:
    return cipher.decrypt(invitation.email_encrypted, context=EMAIL_CONTEXT)


def invitation_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{ACCEPT_PATH}?token={token}"


def invitation_mail(new: NewInvitation, cipher: Cipher, team_name: str, base_url: str) -> Mail:
    """The mail carrying the token. It asks for nothing: the invitee logs in and accepts. The
    team's name is the customer's own text, so it is only ever quoted (`ot.mailer.quoted`)."""
    invitation = new.invitation
    expires = as_utc(invitation.expires_at).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"You are invited to join a team on opentracker, as {invitation.role.value}.\n"
        f"The team's name, as its owner wrote it: {quoted(team_name)}\n\n"
        "To join, log in to opentracker with the account of this address (or register with\n"
        "it first) and accept the invitation with this code; the link shows how:\n\n"
        f"  {invitation_link(base_url, new.token)}\n  code: {new.token}\n\n"
        f"The invitation can be used once, only with this address, and expires on {expires}.\n"
        "If you did not expect it, ignore this message: nothing happens unless you accept.\n"
    )
    return Mail(
        to=invitation_email(invitation, cipher),
        subject="An invitation to a team on opentracker",
        text=text,
    )


async def open_invitations(
    session: AsyncSession, principal: Principal, team_id: int | None = None
) -> list[Invitation]:
    """The team's invitations neither accepted nor withdrawn (expired ones included), newest
    first."""
    team = await team_for(session, principal, team_id, Scope.TEAM_READ)
    rows = await session.exec(
        select(Invitation)
        .where(
            Invitation.account_id == team,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.withdrawn_at).is_(None),
        )
        .order_by(col(Invitation.id).desc())
    )
    return list(rows.all())


async def withdraw_invitation(
    session: AsyncSession, principal: Principal, invitation_id: int
) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    missing = NotFound(f"invitation {invitation_id} does not exist", field="invitation_id")
    if invitation is None or invitation.accepted_at or invitation.withdrawn_at:
        raise missing
    if not await may(session, principal, invitation.account_id, Scope.TEAM_READ):
        raise missing
    await team_for(session, principal, invitation.account_id, Scope.TEAM_WRITE)
    invitation.withdrawn_at = utcnow()
    session.add(invitation)
    await session.flush()
    await audit.record(
        session,
        AuditAction.TEAM_INVITATION_WITHDRAWN,
        actor=principal.actor,
        account_id=invitation.account_id,
        details={"invitation_id": invitation_id},
    )
    return invitation


def _refused() -> InvalidInput:
    return InvalidInput(
        "this invitation is not valid: it was used, withdrawn or has expired", field="token"
    )


async def live_invitation(session: AsyncSession, token: str) -> Invitation:
    """The invitation of a token that can still be accepted. Unknown, used, withdrawn and
    expired tokens are refused alike."""
    if not token.startswith(INVITATION_PREFIX) or len(token) > 100:
        raise _refused()
    invitation = (
        await session.exec(select(Invitation).where(Invitation.token_hash == _digest(token)))
    ).first()
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.withdrawn_at is not None
        or is_expired(invitation, utcnow())
    ):
        raise _refused()
    return invitation


async def accept_invitation(
    session: AsyncSession, cipher: Cipher, principal: Principal, token: str
) -> Membership:
    """Join the team of a live invitation, once, as the account it was sent to: the caller's
    confirmed address must be the invited one.

    A used, withdrawn, expired or made-up token, or one sent to another address, is refused
    and kept in the caller's own trail: the caller commits refusals (`OtError`) too."""
    try:
        membership = await _join(session, cipher, principal, token)
    except (InvalidInput, InvitedElsewhere) as refusal:
        reason = "token not valid" if isinstance(refusal, InvalidInput) else "another address"
        await audit.record(
            session,
            AuditAction.TEAM_INVITATION_REFUSED,
            actor=principal.actor,
            account_id=principal.account_id,
            details={"reason": reason},
        )
        raise
    await audit.record(
        session,
        AuditAction.TEAM_JOINED,
        actor=principal.actor,
        account_id=membership.account_id,
        details={"member_id": membership.id, "role": membership.role.value},
    )
    return membership


async def _join(
    session: AsyncSession, cipher: Cipher, principal: Principal, token: str
) -> Membership:
    if principal.kind is not PrincipalKind.SESSION:
        raise Forbidden("log in to accept an invitation", field="token")
    invitation = await live_invitation(session, token)
    if invitation.account_id == principal.account_id:
        raise Conflict("this is your own team: you own it already", field="token")
    account = await get_account(session, principal.account_id)
    email = account_email(account, cipher)
    if (
        email is None
        or account.email_verified_at is None
        or normalise_email(email) != normalise_email(invitation_email(invitation, cipher))
    ):
        raise InvitedElsewhere(
            "this invitation was sent to another address: log in with the account of the "
            "address it was sent to (with that address confirmed), or ask for an invitation to "
            "yours",
            field="token",
        )
    existing = await role_in(session, principal, invitation.account_id)
    if existing is not None:
        raise Conflict(f"you are already in this team, as {existing.value}", field="token")
    now = utcnow()
    # Claimed with a conditional update, so two requests racing with one token cannot both win.
    claimed = await session.exec(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id, col(Invitation.accepted_at).is_(None))
        .values(accepted_at=now, accepted_by=principal.account_id)
    )
    if not claimed.rowcount:
        raise _refused()
    membership = Membership(
        account_id=invitation.account_id,
        member_account_id=principal.account_id,
        role=invitation.role,
        created_at=now,
    )
    session.add(membership)
    try:
        await session.flush()
    except IntegrityError:
        # Another invitation to the same team was accepted by the same account meanwhile. Undone
        # here, so the caller may commit the refusal like any other.
        await session.rollback()
        raise Conflict("you are already in this team", field="token") from None
    return membership


async def members(
    session: AsyncSession, principal: Principal, team_id: int | None = None
) -> tuple[int, list[Membership]]:
    """The team and its members (besides the account itself, which owns it), oldest first."""
    team = await team_for(session, principal, team_id, Scope.TEAM_READ)
    rows = await session.exec(
        select(Membership).where(Membership.account_id == team).order_by(col(Membership.id))
    )
    return team, list(rows.all())


async def my_memberships(session: AsyncSession, principal: Principal) -> list[Membership]:
    """The other teams the caller belongs to."""
    rows = await session.exec(
        select(Membership)
        .where(Membership.member_account_id == principal.account_id)
        .order_by(col(Membership.id))
    )
    return list(rows.all())


async def _membership(session: AsyncSession, principal: Principal, member_id: int) -> Membership:
    membership = await session.get(Membership, member_id)
    if membership is None or not (
        membership.member_account_id == principal.account_id
        or await may(session, principal, membership.account_id, Scope.TEAM_READ)
    ):
        raise NotFound(f"member {member_id} does not exist", field="member_id")
    return membership


async def change_role(
    session: AsyncSession, principal: Principal, member_id: int, role: MemberRole | None
) -> tuple[Membership, MemberRole]:
    """Give a member another role; returns the membership and its former role."""
    membership = await _membership(session, principal, member_id)
    await team_for(session, principal, membership.account_id, Scope.TEAM_WRITE)
    if role is None:
        raise InvalidInput("role: the new role is required (owner, admin or viewer)", field="role")
    await _check_ceiling(session, principal, membership.account_id, membership.role)
    await _check_ceiling(session, principal, membership.account_id, role)
    former = membership.role
    membership.role = role
    session.add(membership)
    await session.flush()
    if may_grant(former) and not may_grant(role):
        await suspend_grants_of_member(
            session,
            membership.account_id,
            membership.member_account_id,
            SuspensionReason.ROLE_LOWERED,
            actor=principal.actor,
            now=utcnow(),
        )
    await audit.record(
        session,
        AuditAction.TEAM_ROLE_CHANGED,
        actor=principal.actor,
        account_id=membership.account_id,
        details={"member_id": member_id, "from": former.value, "to": role.value},
    )
    return membership, former


async def remove_member(
    session: AsyncSession, principal: Principal, member_id: int
) -> tuple[Membership, bool]:
    """Remove a member from a team, effective at once; returns it and whether it left by
    itself. The grants that answer to it are suspended (`ot.accounts.grant_suspension`)."""
    membership = await _membership(session, principal, member_id)
    leaving = membership.member_account_id == principal.account_id
    if not leaving:
        await team_for(session, principal, membership.account_id, Scope.TEAM_WRITE)
        await _check_ceiling(session, principal, membership.account_id, membership.role)
    await session.delete(membership)
    await session.flush()
    await suspend_grants_of_member(
        session,
        membership.account_id,
        membership.member_account_id,
        SuspensionReason.MEMBER_LEFT if leaving else SuspensionReason.MEMBER_REMOVED,
        actor=principal.actor,
        now=utcnow(),
    )
    await audit.record(
        session,
        AuditAction.TEAM_MEMBER_LEFT if leaving else AuditAction.TEAM_MEMBER_REMOVED,
        actor=principal.actor,
        account_id=membership.account_id,
        details={"member_id": member_id, "member_account_id": membership.member_account_id},
    )
    return membership, leaving


def is_expired(invitation: Invitation, now: datetime) -> bool:
    return as_utc(invitation.expires_at) <= now
