"""The tables of accounts: the customer, their keys, sessions, consents, verifications, second
factor, profile history and deletion."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from ot.models.columns import Encrypted

# Encrypted columns (see `ot.models.columns.Encrypted`): key rotation and the plaintext checks
# find every column marked with one of these.
ACCOUNT_NAME = Encrypted("account.name")
ACCOUNT_EMAIL = Encrypted("account.email")
ACCOUNT_COMPANY = Encrypted("account.company")
ACCOUNT_ADDRESS = Encrypted("account.address")
ACCOUNT_PHONE = Encrypted("account.phone")
ACCOUNT_TOTP_SECRET = Encrypted("account.totp_secret")
PROFILE_OLD_VALUES = Encrypted("profile_change.old_values")
SSH_KEY_PUBLIC_KEY = Encrypted("ssh_key.public_key")
SSH_KEY_NAME = Encrypted("ssh_key.name")
SUSPENSION_REASON = Encrypted("account_suspension.reason")


class Account(SQLModel, table=True):
    """A customer: owns sites and API tokens. Personal fields are stored encrypted."""

    id: int | None = Field(default=None, primary_key=True)
    name_encrypted: str = Field(sa_column_kwargs=ACCOUNT_NAME.column_info())
    created_at: datetime
    # Registration and profile (`ot.accounts.registration`, `ot.accounts.profile`); empty for
    # accounts an operator made with `ot-admin accounts create`. Personal fields only as
    # `ot.security.crypto` ciphertexts.
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
    region: str | None = Field(default=None, max_length=2)  # "nl" or "us" (registration)
    password_hash: str | None = None
    # Second factor (`ot.accounts.second_factor`): a secret set but not enabled awaits its first
    # code.
    totp_secret_encrypted: str | None = Field(
        default=None, sa_column_kwargs=ACCOUNT_TOTP_SECRET.column_info()
    )
    totp_enabled_at: datetime | None = None
    totp_last_step: int | None = None  # the last time step used: a code works once


class ApiToken(SQLModel, table=True):
    """A bearer token for APIs and Matomo's `token_auth`; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str
    token_hash: str = Field(unique=True)
    prefix: str  # the first characters, to recognise a token in listings
    # What the key may do (`ot.accounts.permissions.Scope` values); keys made before scopes read
    # stats only.
    scopes: list[str] = Field(
        default_factory=lambda: ["stats:read"], sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class SshKey(SQLModel, table=True):
    """A customer's SSH public key, which opens their `ot tui` over SSH (`ot.accounts.ssh_keys`).
    The key and its name are what the customer gave us, so encrypted like the rest; the
    fingerprint (OpenSSH's SHA256 form) finds a key when sshd asks whose it is."""

    __tablename__ = "ssh_key"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    fingerprint: str = Field(unique=True)  # "SHA256:<base64>": one key, one account
    key_type: str  # "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
    public_key_encrypted: str = Field(sa_column_kwargs=SSH_KEY_PUBLIC_KEY.column_info())
    name_encrypted: str = Field(sa_column_kwargs=SSH_KEY_NAME.column_info())
    created_at: datetime
    last_used_at: datetime | None = None


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
    (`ot.accounts.mail_quota`), counted to cap them; the address only as a blind index. Rows of
    periods that are over are deleted."""

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


# The customer's own rights (ot.rights.account_deletion)


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


class AccountSuspension(SQLModel, table=True):
    """An account an operator suspended (abuse, a court order, unpaid bills beyond dunning):
    nothing of it is reachable — log-in, sessions, API keys, grants, SSH — until the operator
    lifts it (the row is then removed; the audit trail keeps both acts). Its sites' hits are
    still collected, so the customer loses no data."""

    __tablename__ = "account_suspension"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    suspended_at: datetime
    suspended_by: str = Field(max_length=32)  # the operator's login
    reason_encrypted: str = Field(sa_column_kwargs=SUSPENSION_REASON.column_info())
