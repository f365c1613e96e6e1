"""The tables of grants: a third party's express permission to read some statistics, and the
reads made through it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

import ot.models.accounts  # noqa: F401  (the table its foreign keys point to)
from ot.models.columns import Encrypted

# Encrypted columns (see `ot.models.columns.Encrypted`): key rotation and the plaintext checks
# find every column marked with one of these.
GRANT_GRANTEE = Encrypted("grant.grantee")
GRANT_PURPOSE = Encrypted("grant.purpose")
GRANT_READ_QUERY = Encrypted("grant_read.query", bound_to=("grant_id",))


class Grant(SQLModel, table=True):
    """A customer's express permission for a named third party to read some of an account's
    statistics: which sites, metrics and dimensions, which days, until when. The read-only key
    and the share link's token are kept only as SHA-256 hashes, the link's password as an
    argon2 hash, the grantee's name and the purpose encrypted (`ot.security.crypto`)."""

    __tablename__ = "access_grant"  # `grant` is an SQL keyword

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)  # the team whose sites
    created_by_account_id: int = Field(foreign_key="account.id")
    grantee_encrypted: str = Field(sa_column_kwargs=GRANT_GRANTEE.column_info())
    purpose_encrypted: str = Field(sa_column_kwargs=GRANT_PURPOSE.column_info())
    site_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    metrics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dimensions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    date_from: date | None = None  # the first and last days readable, in each site's zone
    date_to: date | None = None
    # Rows with fewer visitors than this are hidden from the third party; None: nothing hidden.
    min_visitors: int | None = None
    key_hash: str = Field(unique=True)
    key_prefix: str
    link_token_hash: str | None = Field(default=None, unique=True)
    link_password_hash: str | None = None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    # A suspended grant reads nothing until an owner of the account confirms or revokes it: the
    # account answerable for it (`created_by_account_id`) left the team or lost the role to
    # grant, or the account asked to be deleted (`ot.accounts.grant_suspension`).
    suspended_at: datetime | None = None
    suspended_reason: str | None = None


class GrantRead(SQLModel, table=True):
    """One read through a grant, shown to the customer: when, through what, the whole query as
    it was asked (encrypted, bound to its grant) and its shape (metrics, dimensions, which
    dimensions were filtered, the days read, rows shown and cells hidden), never anything about
    visitors."""

    __tablename__ = "grant_read"

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="access_grant.id", index=True)
    at: datetime
    via: str  # "key" or "link"
    site_id: int | None = None  # None when the query named no granted site
    outcome: str  # "answered" or "refused"
    reason: str = ""  # for a refusal: the part of the query that was outside the grant
    metrics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dimensions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    filtered_dimensions: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    first_day: date | None = None
    last_day: date | None = None
    rows_returned: int = 0
    rows_hidden: int = 0  # under a threshold: the cells left out for counting fewer visitors
    # The request body as received, JSON (site, filters and all).
    query_encrypted: str | None = Field(
        default=None, sa_column_kwargs=GRANT_READ_QUERY.column_info()
    )
