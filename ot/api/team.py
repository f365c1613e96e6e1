"""`/ot/v1/team`: members and invitations of the caller's team (or of another team it may
manage, named by `team_id`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from ot.api.accounts import MAX_EMAIL_LENGTH
from ot.api.common import Model, ObjectId, Strict


class MemberRole(StrEnum):
    """What a team member may do with the team's sites. The same values as the core's
    `ot.models.MemberRole` (tests/test_client.py checks they agree)."""

    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"


class InvitationIn(Strict):
    email: str = Field(
        min_length=3, max_length=MAX_EMAIL_LENGTH, description="The address to invite."
    )
    role: MemberRole = Field(description="The role the invited person gets.")
    team_id: ObjectId | None = Field(
        default=None, description="The team to invite to; default: my account."
    )


class InvitationOut(Model):
    id: int = Field(description="The invitation's id, for withdrawing it.")
    team_id: int = Field(description="The team invited to.")
    email: str = Field(description="The address invited.")
    role: MemberRole = Field(description="The role offered.")
    created_at: datetime = Field(description="When it was sent.")
    expires_at: datetime = Field(description="When its token stops working.")
    expired: bool = Field(description="Whether it has expired.")


class InvitationList(Model):
    invitations: list[InvitationOut] = Field(description="The team's open invitations.")


class Acceptance(Strict):
    token: str = Field(
        min_length=1, max_length=200, description="The token of the mailed invitation."
    )


class InvitationLink(Model):
    team_id: int = Field(description="The team invited to.")
    role: MemberRole = Field(description="The role offered.")
    expires_at: datetime = Field(description="When the invitation expires.")
    how_to_accept: str = Field(description="How to accept it, for people.")


class MemberOut(Model):
    id: int = Field(description="The membership's id: what PATCH and DELETE name.")
    team_id: int = Field(description="The team.")
    account_id: int = Field(description="The member's account.")
    name: str = Field(description="The member's name.")
    role: MemberRole = Field(description="The member's role.")
    created_at: datetime = Field(description="When the member joined.")


class MemberList(Model):
    team_id: int = Field(description="The team listed.")
    owner_account_id: int = Field(
        description="The account itself, owner of its team without a membership."
    )
    members: list[MemberOut] = Field(description="The team's other members.")


class Memberships(Model):
    memberships: list[MemberOut] = Field(description="The other teams the caller belongs to.")


class RoleChange(Strict):
    # Required, but checked after the member is found: a stranger's request for another team's
    # member answers as missing whatever its body.
    role: MemberRole | None = Field(default=None, description="The member's new role.")


class Withdrawn(Model):
    withdrawn: int = Field(description="How many invitations were withdrawn.")


class Left(Model):
    removed: int = Field(description="How many memberships were removed.")
    left: bool = Field(description="Whether the caller removed itself.")
