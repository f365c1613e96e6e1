"""Objects of an account's team made through the core, as its owner would make them: a key, an
invitation, and a member."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.access import Principal, PrincipalKind
from ot.accounts import create_account
from ot.config import Settings
from ot.crypto import Cipher
from ot.models import MemberRole
from ot.secrets import load_or_create_secrets
from ot.team import accept_invitation, invite
from ot.tokens import create_token
from tests.support import helper_engine


def session_of(account_id: int) -> Principal:
    """The account logged in, as the server sees it."""
    return Principal(PrincipalKind.SESSION, account_id, session_id=1)


async def new_account(settings: Settings, name: str = "Someone") -> int:
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        account = await create_account(session, cipher_of(settings), name)
        await session.commit()
        assert account.id is not None
        return account.id


def cipher_of(settings: Settings) -> Cipher:
    return Cipher(load_or_create_secrets(settings.data_dir))


async def add_member(settings: Settings, team_id: int, member_id: int, role: MemberRole) -> int:
    """Invite an account to a team and accept for it; returns the membership id."""
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        new = await invite(
            session, cipher_of(settings), session_of(team_id), "new@example.org", role
        )
        membership = await accept_invitation(session, session_of(member_id), new.token)
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
        key, _ = await create_token(session, account_id, "victim's key")
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
