"""The table of lawful disclosure requests: an authority's demand for a customer's data, its
scope, and the decision on it (`ot.disclosure.requests`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from ot.models.columns import Encrypted, enum_column

# Encrypted columns (see `ot.models.columns.Encrypted`): key rotation and the plaintext checks
# find every column marked with one of these. Every free text of a request is encrypted: an
# authority's text names officers and, with the account, the person investigated.
DISCLOSURE_AUTHORITY = Encrypted("disclosure_request.authority")
DISCLOSURE_LEGAL_BASIS = Encrypted("disclosure_request.legal_basis")
DISCLOSURE_REFERENCE = Encrypted("disclosure_request.reference")
DISCLOSURE_DECISION_NOTE = Encrypted("disclosure_request.decision_note")


class Jurisdiction(StrEnum):
    """Whose law a request is made under: the customer's data region (`Account.region`)."""

    NL = "nl"
    US = "us"


class DataCategory(StrEnum):
    """What a request may ask for, and an export may hold."""

    CUSTOMER_INFORMATION = "customer_information"  # the account's profile: name, e-mail, ...
    STATISTICS = "statistics"  # aggregated numbers of the scoped sites
    RAW_HITS = "raw_hits"  # the scoped sites' stored hits, without their IPs
    IPS = "ips"  # the IPs stored with those hits (as the site's IP policy kept them)


class DisclosureState(StrEnum):
    """Where a request is in its life (`ot.disclosure.requests.TRANSITIONS`)."""

    OPENED = "opened"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPORTED = "exported"  # approved, and its bundle written (at least once)


class DisclosureRequest(SQLModel, table=True):
    """An authority's request for one account's data: who asks, on what legal basis, what exactly
    (the scope), by when, whether the customer may be told, and what we decided.

    `account_id` has no foreign key on purpose: the record outlives the account's purge (the
    purge follows foreign keys to find what to delete), as the law requires of it."""

    __tablename__ = "disclosure_request"

    id: int | None = Field(default=None, primary_key=True)
    state: DisclosureState = Field(sa_column=enum_column(DisclosureState))
    jurisdiction: Jurisdiction = Field(sa_column=enum_column(Jurisdiction))
    authority_encrypted: str = Field(sa_column_kwargs=DISCLOSURE_AUTHORITY.column_info())
    legal_basis_encrypted: str = Field(sa_column_kwargs=DISCLOSURE_LEGAL_BASIS.column_info())
    reference_encrypted: str = Field(sa_column_kwargs=DISCLOSURE_REFERENCE.column_info())
    # The scope: one account, the sites named (written out when the request named none), the
    # moments from `period_start` (included) to `period_end` (excluded), the data categories.
    account_id: int = Field(index=True)
    site_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    period_start: datetime
    period_end: datetime
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deadline: datetime
    # A gag: the customer may not be told until `gag_ends_at`, or, with no end, until the
    # authority lifts it.
    gagged: bool
    gag_ends_at: datetime | None = None
    opened_by: str = Field(max_length=32)  # operators' logins
    opened_at: datetime
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = None
    decision_note_encrypted: str | None = Field(
        default=None, sa_column_kwargs=DISCLOSURE_DECISION_NOTE.column_info()
    )
    # What the approval let through, when narrower than asked (a partial disclosure): None
    # where the approval took the request's own sites or categories.
    approved_site_ids: list[int] | None = Field(default=None, sa_column=Column(JSON))
    approved_categories: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # The last bundle written: by whom, when, and the SHA-256 of its file (also in the trail).
    exported_by: str | None = Field(default=None, max_length=32)
    exported_at: datetime | None = None
    bundle_sha256: str | None = Field(default=None, max_length=64)
    # When the customer was told (`ot.disclosure.notices`), by whom.
    notified_by: str | None = Field(default=None, max_length=32)
    notified_at: datetime | None = None
