"""The tables of teams: members' roles and invitations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

import ot.models.accounts  # noqa: F401  (the table its foreign keys point to)
from ot.models.columns import Encrypted, enum_column

# Encrypted columns (see `ot.models.columns.Encrypted`): key rotation and the plaintext checks
# find every column marked with one of these.
INVITATION_EMAIL = Encrypted("invitation.email")


class MemberRole(StrEnum):
    """What a team member may do with the account's sites (see
    `ot.accounts.permissions.ROLE_SCOPES`)."""

    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"


class Membership(SQLModel, table=True):
    """A person's (account's) role in another account's team. The account itself is its own
    owner and has no row here."""

    __table_args__ = (
        UniqueConstraint("account_id", "member_account_id", name="ux_membership_member"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)  # the team
    member_account_id: int = Field(foreign_key="account.id", index=True)
    role: MemberRole = Field(sa_column=enum_column(MemberRole))
    created_at: datetime


class Invitation(SQLModel, table=True):
    """An invitation to join a team with a role: a random one-time token (only its SHA-256 is
    kept) mailed to an address stored encrypted, valid until `expires_at`."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)  # the team
    email_encrypted: str = Field(sa_column_kwargs=INVITATION_EMAIL.column_info())
    role: MemberRole = Field(sa_column=enum_column(MemberRole))
    token_hash: str = Field(unique=True)
    invited_by: int = Field(foreign_key="account.id")
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_by: int | None = Field(default=None, foreign_key="account.id")
    withdrawn_at: datetime | None = None
