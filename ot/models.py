"""The database tables. Queries live with their noun (`ot.sites`, `ot.visits`, ...), not here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Enum, Index, Integer, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from ot.crypto import Encrypted
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


# Encrypted columns (see `ot.crypto.Encrypted`): key rotation and the plaintext checks find every
# column marked with one of these.
ACCOUNT_NAME = Encrypted("account.name")
ACCOUNT_EMAIL = Encrypted("account.email")
ACCOUNT_COMPANY = Encrypted("account.company")
ACCOUNT_ADDRESS = Encrypted("account.address")
ACCOUNT_PHONE = Encrypted("account.phone")
ACCOUNT_TOTP_SECRET = Encrypted("account.totp_secret")
PROFILE_OLD_VALUES = Encrypted("profile_change.old_values")
INVITATION_EMAIL = Encrypted("invitation.email")
GRANT_GRANTEE = Encrypted("grant.grantee")
GRANT_PURPOSE = Encrypted("grant.purpose")
GRANT_READ_QUERY = Encrypted("grant_read.query", bound_to=("grant_id",))
# Bound to the site, so that an IP copied into another tenant's hits does not decrypt.
HIT_IP = Encrypted("hit.ip", bound_to=("site_id",), former_contexts=("hit.ip",))


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
    name_encrypted: str = Field(sa_column_kwargs=ACCOUNT_NAME.column_info())
    created_at: datetime
    # Registration and profile (`ot.registration`, `ot.profile`); empty for accounts an operator
    # made with `ot-admin account create`. Personal fields only as `ot.crypto` ciphertexts.
    email_encrypted: str | None = Field(default=None, sa_column_kwargs=ACCOUNT_EMAIL.column_info())
    email_index: str | None = Field(default=None, unique=True, index=True)  # blind index
    email_verified_at: datetime | None = None
    company_encrypted: str | None = Field(
        default=None, sa_column_kwargs=ACCOUNT_COMPANY.column_info()
    )
    address_encrypted: str | None = Field(
        default=None, sa_column_kwargs=ACCOUNT_ADDRESS.column_info()
    )
    phone_encrypted: str | None = Field(default=None, sa_column_kwargs=ACCOUNT_PHONE.column_info())
    region: str | None = Field(default=None, max_length=2)  # "nl" or "us" (`ot.registration`)
    password_hash: str | None = None
    # Second factor (`ot.second_factor`): a secret set but not enabled awaits its first code.
    totp_secret_encrypted: str | None = Field(
        default=None, sa_column_kwargs=ACCOUNT_TOTP_SECRET.column_info()
    )
    totp_enabled_at: datetime | None = None
    totp_last_step: int | None = None  # the last time step used: a code works once


class Site(SQLModel, table=True):
    """A website whose hits we collect; its numeric id is the Matomo `idsite`."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    domain: str = Field(unique=True, max_length=253)
    timezone: str = "UTC"
    # The privacy defaults are `ot.privacy.DEFAULT_PRIVACY`'s, as everywhere a site is added.
    visitor_mode: VisitorMode = Field(
        default=DEFAULT_PRIVACY.visitor_mode, sa_column=_enum_column(VisitorMode)
    )
    ip_policy: IpPolicy = Field(default=DEFAULT_PRIVACY.ip_policy, sa_column=_enum_column(IpPolicy))
    excluded_ips: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    excluded_paths: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hash_routing: bool = False
    respect_do_not_track: bool = DEFAULT_PRIVACY.respect_do_not_track
    # Hits older than this many days are deleted by the retention job; None keeps them all.
    retention_days: int | None = DEFAULT_PRIVACY.retention_days
    created_at: datetime
    # Control of the domain, shown by a DNS TXT record or a file holding the token.
    verification_token: str | None = None
    verified_at: datetime | None = None


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


class AuditCheckpoint(SQLModel, table=True):
    """The audit chain's head at one moment, signed (Ed25519) by a key kept outside the database,
    so that a chain recomputed from scratch or cut short is caught (see `ot.audit_checkpoints`).
    Each checkpoint is also appended to a file in the data folder."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    entry_id: int = Field(index=True)  # the head entry covered
    entries: int  # how many entries the chain held up to and including it
    head_hash: str
    public_key: str  # which signing key made it (base64 of the raw Ed25519 public key)
    signature: str  # base64 of the Ed25519 signature of the canonical checkpoint text


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
    last import stopped and a rotated one starts afresh (`ot.logimport.state`)."""

    __tablename__ = "log_import"
    __table_args__ = (Index("ux_log_import_site_file", "site_id", "file_identity", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id")
    file_identity: str = Field(max_length=64)
    path: str
    byte_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    lines_read: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The --include-* switches the lines before the offset were imported with ("404,static").
    switches: str | None = None
    # Occurrences of the identical lines of the last seconds read (`ot.logimport.identity`).
    line_counts: str | None = None
    # Imported before hits' ids were made of the lines: they are made of their place in the log.
    position_based_ids: bool = False
    started_at: datetime
    updated_at: datetime


# Grants: a third party's express permission to read some statistics


class Grant(SQLModel, table=True):
    """A customer's express permission for a named third party to read some of an account's
    statistics: which sites, metrics and dimensions, which days, until when. The read-only key
    and the share link's token are kept only as SHA-256 hashes, the link's password as an
    argon2 hash, the grantee's name and the purpose encrypted (`ot.crypto`)."""

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
    # grant, or the account asked to be deleted (`ot.grants.suspension`).
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


class Consent(SQLModel, table=True):
    """A customer's express consent to hosting and transfer in a data region, with the version
    of the statement consented to. Never updated: a new consent is a new row."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    region: str = Field(max_length=2)
    statement_version: str
    given_at: datetime


class EmailVerification(SQLModel, table=True):
    """A one-time link proving an address: at registration or for a new address. Only the
    token's SHA-256 is kept; it works once, before `expires_at`."""

    __tablename__ = "email_verification"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    purpose: str = Field(max_length=20)  # "registration" or "email_change"
    token_hash: str = Field(unique=True)
    # For an e-mail change: the new address, which takes effect once verified.
    email_encrypted: str | None = Field(default=None, sa_column_kwargs=ACCOUNT_EMAIL.column_info())
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class LoginThrottle(SQLModel, table=True):
    """Recent failed log-ins of one e-mail address or one IP, both kept as blind indexes."""

    __tablename__ = "login_throttle"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # "email:<blind index>" or "ip:<blind index>"
    failures: int = 0
    last_failure_at: datetime
    blocked_until: datetime | None = None


class MailQuota(SQLModel, table=True):
    """Mails that anyone could make us send to one address in the current period
    (`ot.mail_quota`), counted to cap them; the address only as a blind index. Rows of periods
    that are over are deleted."""

    __tablename__ = "mail_quota"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # blind index of the address
    period_started_at: datetime = Field(index=True)
    mails: int = 0


class RecoveryCode(SQLModel, table=True):
    """A one-time code that stands in for the second factor; only its SHA-256 is kept."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    code_hash: str = Field(unique=True)
    created_at: datetime
    used_at: datetime | None = None


class ProfileChange(SQLModel, table=True):
    """One change of a customer's profile, for the history they can read: who, when, which
    fields, and the old values (encrypted as one JSON object)."""

    __tablename__ = "profile_change"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    at: datetime
    actor: str
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    old_values_encrypted: str | None = Field(
        default=None, sa_column_kwargs=PROFILE_OLD_VALUES.column_info()
    )


# Teams


class Invitation(SQLModel, table=True):
    """An invitation to join a team with a role: a random one-time token (only its SHA-256 is
    kept) mailed to an address stored encrypted, valid until `expires_at`."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)  # the team
    email_encrypted: str = Field(sa_column_kwargs=INVITATION_EMAIL.column_info())
    role: MemberRole = Field(sa_column=_enum_column(MemberRole))
    token_hash: str = Field(unique=True)
    invited_by: int = Field(foreign_key="account.id")
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_by: int | None = Field(default=None, foreign_key="account.id")
    withdrawn_at: datetime | None = None


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
