"""Objects of an account's team made through the core, as its owner would make them: a key, an
invitation, and a member."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import create_token
from ot.accounts.permissions import Principal, PrincipalKind
from ot.accounts.store import EMAIL_CONTEXT, create_account, email_index, get_account
from ot.accounts.team import accept_invitation, invite
from ot.clock import utcnow
from ot.config import Settings
from ot.models import MemberRole
from ot.security.crypto import Cipher
from ot.security.secrets import load_or_create_secrets
from tests.support import TEST_OPERATOR, helper_engine


def session_of(account_id: int) -> Principal:
    """The account logged in, as the server sees it."""
    return Principal(PrincipalKind.SESSION, account_id, session_id=1)


async def new_account(settings: Settings, name: str = "Someone", email: str | None = None) -> int:
    """An account, with `email` as its confirmed address when given."""
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        cipher = cipher_of(settings)
        account = await create_account(session, cipher, name, actor=TEST_OPERATOR)
        if email is not None:
            account.email_encrypted = cipher.encrypt(email, context=EMAIL_CONTEXT)
            account.email_index = email_index(cipher, email)
            account.email_verified_at = utcnow()
            session.add(account)
        await session.commit()
        assert account.id is not None
        return account.id


def member_address(account_id: int) -> str:
    """The confirmed address `add_member` gives an account that has none."""
    return f"member-{account_id}@example.org"


def cipher_of(settings: Settings) -> Cipher:
    return Cipher(load_or_create_secrets(settings.data_dir))


async def add_member(settings: Settings, team_id: int, member_id: int, role: MemberRole) -> int:
    """Invite an account to a team and accept for it; returns the membership id. An invitation
    is accepted only by its address, so an account without a confirmed one gets
    `member_address(member_id)`."""
    cipher = cipher_of(settings)
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        member = await get_account(session, member_id)
        if member.email_encrypted is None or member.email_verified_at is None:
            address = member_address(member_id)
            member.email_encrypted = cipher.encrypt(address, context=EMAIL_CONTEXT)
            member.email_index = email_index(cipher, address)
            member.email_verified_at = utcnow()
            session.add(member)
        else:
            address = cipher.decrypt(member.email_encrypted, context=EMAIL_CONTEXT)
        new = await invite(session, cipher, session_of(team_id), address, role)
        membership = await accept_invitation(session, cipher, session_of(member_id), new.token)
        await session.commit()
        assert membership.id is not None
        return membership.id


async def team_objects(settings: Settings, account_id: int) -> dict[str, str]:
    """A key, an open invitation and a member of the account's team, by path parameter."""
    member_id = await add_member(
        settings, account_id, await new_account(settings, "A Member"), MemberRole.VIEWER
    )
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        key, _ = await create_token(session, account_id, "victim's key", actor=TEST_OPERATOR)
        new = await invite(
            session,
            cipher_of(settings),
            session_of(account_id),
            "invited@example.org",
            MemberRole.ADMIN,
        )
        await session.commit()
        return {
            "key_id": str(key.id),
            "invitation_id": str(new.invitation.id),
            "member_id": str(member_id),
        }
