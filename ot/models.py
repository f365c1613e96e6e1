"""The database tables. Queries live with their noun (`ot.sites`, `ot.visits`, ...), not here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Enum, Index, Integer, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from ot.privacy import IpPolicy, VisitorMode

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum_column(enum: type[StrEnum]) -> Column[Any]:
    """Store an enum by its value as plain text: readable in SQL and free of PostgreSQL enum
    types that every new member would have to migrate."""
    return Column(
        Enum(enum, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        nullable=False,
    )


class Account(SQLModel, table=True):
    """A customer: owns sites and API tokens. Personal fields are stored encrypted."""

    id: int | None = Field(default=None, primary_key=True)
    name_encrypted: str
    created_at: datetime


class Site(SQLModel, table=True):
    """A website whose hits we collect; its numeric id is the Matomo `idsite`."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    domain: str = Field(unique=True, max_length=253)
    timezone: str = "UTC"
    visitor_mode: VisitorMode = Field(
        default=VisitorMode.COOKIELESS, sa_column=_enum_column(VisitorMode)
    )
    ip_policy: IpPolicy = Field(default=IpPolicy.TRUNCATED, sa_column=_enum_column(IpPolicy))
    excluded_ips: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    excluded_paths: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hash_routing: bool = False
    respect_do_not_track: bool = True
    # Hits older than this many days are deleted by the retention job; None keeps them all.
    retention_days: int | None = None
    created_at: datetime


class GoalKind(StrEnum):
    """What completes a goal."""

    PAGE = "page"  # a pageview whose path matches a pattern (`*` within a segment, `**` across)
    EVENT = "event"  # a custom event of a given name ("Signup", "Outbound Link: Click", "404")


class Goal(SQLModel, table=True):
    """Something a site's owner wants visitors to do; conversions are counted per goal."""

    __table_args__ = (UniqueConstraint("site_id", "display_name", name="ux_goal_site_name"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    kind: GoalKind = Field(sa_column=_enum_column(GoalKind))
    # The path pattern of a page goal, or the event name of an event goal.
    target: str
    display_name: str
    created_at: datetime


class ApiToken(SQLModel, table=True):
    """A bearer token for APIs and Matomo's `token_auth`; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str
    token_hash: str = Field(unique=True)
    prefix: str  # the first characters, to recognise a token in listings
    # What the key may do (`ot.access.Scope` values); keys made before scopes read stats only.
    scopes: list[str] = Field(
        default_factory=lambda: ["stats:read"], sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class LoginSession(SQLModel, table=True):
    """A logged-in session: the token is random, only its SHA-256 is kept, and it ends at the
    first of its idle expiry, its absolute expiry, log-out or revocation."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    token_hash: str = Field(unique=True)
    # Double-submit CSRF token for browsers that authenticate with the session cookie.
    csrf_token_hash: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute: a session never outlives this, however active
    revoked_at: datetime | None = None


class MemberRole(StrEnum):
    """What a team member may do with the account's sites (see `ot.access.ROLE_SCOPES`)."""

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
    role: MemberRole = Field(sa_column=_enum_column(MemberRole))
    created_at: datetime


class AuditEntry(SQLModel, table=True):
    """One security-relevant event. Append-only and hash-chained: each entry's hash covers its
    content and the previous entry's hash (see `ot.audit`)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str  # "account:12", "operator:alice", "grant:3", "anonymous"
    action: str  # "login.succeeded", "key.created", ...
    account_id: int | None = Field(default=None, index=True)  # whose trail it belongs to
    # Ids and reasons only: never personal data in plaintext.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    previous_hash: str
    entry_hash: str


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
    ip_encrypted: str | None = None
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


class RollupDay(SQLModel, table=True):
    """One local day (span 1) or one week from Monday (span 7) of one site, summed per value
    of one dimension ("" for the whole site).

    Hit-side sums count the hits of the span (by their time); visit-side sums count the visits
    that started in it, as the stats engine reads them from `hit` and `visit`. Small rows in day
    order, so that summing a range reads little (a month is four weeks and a few days); the
    bitmaps are in `rollup_bitmap`."""

    __tablename__ = "rollup_day"
    __table_args__ = (Index("ix_rollup_day_site_day", "site_id", "day"),)  # rolling a day again

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    dimension: str = Field(primary_key=True)
    span_days: int = Field(primary_key=True)
    day: date = Field(primary_key=True)  # the first day of the span
    value: str = Field(primary_key=True)
    visitors: int  # the span's uniques
    daily_visitors: int  # the sum of each day's uniques
    pageviews: int
    events: int
    visits: int
    visit_pageviews: int
    bounces: int
    duration_seconds: int


class RollupBitmap(SQLModel, table=True):
    """The visitor ordinals and visit ids of one `rollup_day` row as compressed bitmaps, kept
    in value order, so that the days of one value are read together: unions over days give
    exact uniques."""

    __tablename__ = "rollup_bitmap"
    __table_args__ = (Index("ix_rollup_bitmap_site_day", "site_id", "day"),)  # rolling a day again

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    dimension: str = Field(primary_key=True)
    span_days: int = Field(primary_key=True)
    value: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    visitor_bitmap: bytes
    visit_bitmap: bytes


class RollupPendingDay(SQLModel, table=True):
    """A local day whose rollup is missing or out of date: new hits arrived for it."""

    __tablename__ = "rollup_pending_day"

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    day: date = Field(primary_key=True)


class RollupProgress(SQLModel, table=True):
    """How far the rollups of one site are."""

    __tablename__ = "rollup_progress"

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    timezone: str  # the zone of the rolled days; a site that changes zone is rolled again
    # Hits up to this id have had their days marked pending.
    hit_watermark: int = Field(sa_column=Column(BigInteger, nullable=False))
    next_ordinal: int
    complete_through: date | None = None  # every day up to this one is rolled and current
    rolled_at: datetime | None = None


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


# Access-log import


class LogImport(SQLModel, table=True):
    """How far an access log has been imported into a site: the file is recognised by a hash of
    its first line (not its path, which rotation reuses), so a grown file continues where the
    last import stopped and a rotated one starts afresh."""

    __tablename__ = "log_import"
    __table_args__ = (Index("ux_log_import_site_file", "site_id", "file_identity", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id")
    file_identity: str = Field(max_length=64)
    path: str
    byte_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    lines_read: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_at: datetime
    updated_at: datetime


# The customer's own rights (ot.deletion)


class AccountDeletion(SQLModel, table=True):
    """An account whose owner asked for it to be deleted: its sessions and keys ended at once,
    its data is purged once `purge_after` has passed (the grace period), unless the request is
    cancelled first (the row is then removed). After the purge the row stays, with `purged_at`,
    as the record that the account is a tombstone."""

    __tablename__ = "account_deletion"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    requested_at: datetime
    purge_after: datetime = Field(index=True)
    purged_at: datetime | None = None
