"""`/ot/v1/grants`: a customer's express permissions for third parties, and the reads made
through them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from ot.api.common import MAX_ID, Model, Strict

# Kept equal to the core's (`ot.grants.store`, `ot.accounts.passwords`; tests/test_client.py
# checks they agree).
MAX_GRANT_DAYS = 730
LINK_PASSWORD_MAX_LENGTH = 1000
STATUSES = ("active", "suspended", "expired", "revoked")

SiteId = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class NewGrant(Strict):
    grantee: str = Field(min_length=1, max_length=200, description="who is granted access")
    purpose: str = Field(min_length=1, max_length=2000, description="what for")
    site_ids: list[SiteId] = Field(
        min_length=1, max_length=100, description="The sites the grant may read."
    )
    metrics: list[Name] = Field(
        min_length=1, max_length=100, description="The metrics it may read."
    )
    dimensions: list[Name] = Field(
        default_factory=list, max_length=100, description="The dimensions it may break down by."
    )
    date_from: date | None = Field(default=None, description="first readable day (inclusive)")
    date_to: date | None = Field(default=None, description="last readable day (inclusive)")
    expires_at: AwareDatetime = Field(description=f"at most {MAX_GRANT_DAYS} days ahead")
    min_visitors: int | None = Field(
        default=None, ge=0, le=1_000_000, description="hide rows with fewer visitors; 0: off"
    )
    share_link: bool = Field(default=False, description="Whether to make a share link too.")
    link_password: str | None = Field(
        default=None,
        max_length=LINK_PASSWORD_MAX_LENGTH,
        description="A password the share link asks for, if any.",
    )


class GrantOut(Model):
    id: int = Field(description="The grant's id.")
    status: str = Field(description="One of: " + ", ".join(STATUSES) + ".")
    grantee: str = Field(description="Who is granted access.")
    purpose: str = Field(description="What for.")
    site_ids: list[int] = Field(description="The sites it may read.")
    metrics: list[str] = Field(description="The metrics it may read.")
    dimensions: list[str] = Field(description="The dimensions it may break down by.")
    date_from: date | None = Field(description="First readable day, if limited.")
    date_to: date | None = Field(description="Last readable day, if limited.")
    min_visitors: int | None = Field(description="Rows with fewer visitors are hidden.")
    key_prefix: str = Field(description="The grant key's first characters.")
    share_link: bool = Field(description="Whether it has a share link.")
    password_protected: bool = Field(description="Whether the share link asks for a password.")
    created_by_account_id: int = Field(
        description="The account the grant answers to: its maker, or the owner who confirmed it."
    )
    created_at: datetime = Field(description="When it was made.")
    expires_at: datetime = Field(description="When it stops working.")
    revoked_at: datetime | None = Field(description="When it was revoked, if it was.")
    suspended_at: datetime | None = Field(description="When it was suspended, if it is.")
    suspended_reason: str | None = Field(
        description="member_removed, member_left, role_lowered, account_deletion_requested or "
        "creator_deletion_requested"
    )


class IssuedGrantOut(GrantOut):
    key: str = Field(description="The third party's key: shown this once.")
    link_token: str | None = Field(description="The share link's token: shown this once.")


class GrantList(Model):
    grants: list[GrantOut] = Field(description="The grants the caller may see.")


class GrantReadOut(Model):
    id: int = Field(description="The read's id (for `before_id`).")
    at: datetime = Field(description="When the third party read.")
    via: str = Field(description="Through what: the key or the share link.")
    query: dict[str, Any] | None = Field(description="the whole query, as the third party sent it")
    site_id: int | None = Field(description="The site read, if the query named one granted.")
    outcome: str = Field(description="Whether it was answered or refused.")
    reason: str = Field(description="Why it was refused, if it was.")
    metrics: list[str] = Field(description="The metrics asked for.")
    dimensions: list[str] = Field(description="The dimensions asked for.")
    filtered_dimensions: list[str] = Field(description="The dimensions filtered on.")
    first_day: date | None = Field(description="The first day read.")
    last_day: date | None = Field(description="The last day read.")
    rows_returned: int = Field(description="Rows answered.")
    rows_hidden: int = Field(description="Rows hidden for having too few visitors.")


class GrantReadList(Model):
    reads: list[GrantReadOut] = Field(description="The reads, newest first.")
