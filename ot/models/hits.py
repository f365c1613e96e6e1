"""The tables of the write path: hits, visits, visitor ordinals and salts, and dropped hits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Numeric
from sqlmodel import Field, SQLModel

import ot.models.sites  # noqa: F401  (the table its foreign keys point to)
from ot.models.columns import Encrypted

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Encrypted columns (see `ot.models.columns.Encrypted`): key rotation and the plaintext checks
# find every column marked with one of these.
# Bound to the site, so that an IP copied into another tenant's hits does not decrypt.
HIT_IP = Encrypted("hit.ip", bound_to=("site_id",), former_contexts=("hit.ip",))


class Hit(SQLModel, table=True):
    """One pageview or custom event, enriched. Dashboards read rollups, not this table."""

    __table_args__ = (
        Index("ix_hit_site_timestamp", "site_id", "timestamp"),
        Index("ux_hit_site_event_id", "site_id", "event_id", unique=True),
        Index("ix_hit_visit", "visit_id"),
        # Goals and `event:name` filters read one event name over a time range.
        Index("ix_hit_site_name_timestamp", "site_id", "name", "timestamp"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    site_id: int = Field(foreign_key="site.id")
    timestamp: datetime
    name: str
    visitor_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    visit_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    hostname: str
    pathname: str
    query: str
    referrer: str
    referrer_source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    country: str
    region: str
    city: str
    language: str
    screen: str
    props: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    revenue_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(22, 4)))
    revenue_currency: str = ""
    interactive: bool = True
    event_id: str | None = None
    ip_encrypted: str | None = Field(default=None, sa_column_kwargs=HIT_IP.column_info())
    # Only imported access-log lines have these; tracker hits leave them empty.
    http_status: int | None = None
    response_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))


class Visit(SQLModel, table=True):
    """One visitor's hits without a gap longer than the visit timeout, kept up to date by the
    writer in the same transaction as the hits, so visit metrics never scan raw hits."""

    __table_args__ = (
        Index("ix_visit_site_visitor_last_seen", "site_id", "visitor_id", "last_seen_at"),
        Index("ix_visit_site_started", "site_id", "started_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    site_id: int = Field(foreign_key="site.id")
    visitor_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_at: datetime
    last_seen_at: datetime
    entry_page: str
    exit_page: str
    hostname: str
    pageviews: int
    events: int
    interactions: int  # pageviews + interactive events: a visit of one interaction is a bounce
    is_bounce: bool
    duration_seconds: int
    referrer: str
    referrer_source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    country: str
    region: str
    city: str
    language: str
    screen: str


class VisitorOrdinal(SQLModel, table=True):
    """A small dense number for each visitor of a site, in order of first appearance in the
    rollups, so that a day's visitors fit in a compressed bitmap (see ot.rollups)."""

    __tablename__ = "visitor_ordinal"
    __table_args__ = (Index("ux_visitor_ordinal_site_ordinal", "site_id", "ordinal", unique=True),)

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    visitor_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ordinal: int


class VisitorSalt(SQLModel, table=True):
    """The random salt of one UTC day for cookieless visitor ids; deleted after two days."""

    __tablename__ = "visitor_salt"

    day: date = Field(primary_key=True)
    salt: bytes
    created_at: datetime


class DroppedHits(SQLModel, table=True):
    """Hits we refused to store (bots, excluded IPs/paths, Do-Not-Track), counted per site and
    day so the customer can see them without us keeping anything about those visitors."""

    __tablename__ = "dropped_hits"

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    day: date = Field(primary_key=True)
    reason: str = Field(primary_key=True)
    count: int
