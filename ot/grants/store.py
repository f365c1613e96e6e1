"""Grants: made by a customer, listed, revoked, confirmed after a suspension
(`ot.accounts.grant_suspension`), and found again from the key or link a third party presents. Keys
and link tokens are random, shown once and kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.passwords import (
    LINK_PASSWORD_MAX_LENGTH,
    LINK_PASSWORD_MIN_LENGTH,
    hash_password_in_thread,
    password_matches_in_thread,
)
from ot.accounts.permissions import (
    Principal,
    PrincipalKind,
    Scope,
    may,
    reachable_site,
    reachable_team_ids,
    role_in,
)
from ot.clock import as_utc, utcnow
from ot.config import AccountSettings
from ot.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from ot.grants.cells import check_terms as check_threshold_terms
from ot.models import GRANT_GRANTEE, GRANT_PURPOSE, AccountDeletion, Grant, GrantRead, MemberRole
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher
from ot.stats.query import METRICS, is_known_dimension

GRANT_KEY_PREFIX = "otg_"
LINK_TOKEN_PREFIX = "otl_"
PREFIX_SHOWN = 12
MAX_SITES = 100
MAX_NAMES = 100  # metrics or dimensions named in one grant
MAX_GRANT_DAYS = 730  # a grant ends within two years: permission is renewed, not forgotten
MAX_MIN_VISITORS = 1_000_000
# A window's days must be real calendar days in every time zone, a day before and after too.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
GRANTEE_CONTEXT = GRANT_GRANTEE.context
PURPOSE_CONTEXT = GRANT_PURPOSE.context
STATUSES = ("active", "suspended", "expired", "revoked")
REFUSED = "the grant key or link is not valid, was revoked or suspended, or has expired"


@dataclass(frozen=True)
class GrantTerms:
    """What a customer grants: to whom, why, what, and until when."""

    grantee: str
    purpose: str
    site_ids: tuple[int, ...]
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    expires_at: datetime
    date_from: date | None = None
    date_to: date | None = None
    min_visitors: int | None = None
    share_link: bool = False
    link_password: str | None = None


@dataclass(frozen=True)
class IssuedGrant:
    """A new grant and its secrets, in plaintext this once."""

    grant: Grant
    key: str
    link_token: str | None


def _digest(secret: str) -> str:
    # 256 random bits: a plain hash is enough, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def status_of(grant: Grant, now: datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if now >= as_utc(grant.expires_at):
        return "expired"
    if grant.suspended_at is not None:
        return "suspended"
    return "active"


def texts_of(grant: Grant, cipher: Cipher) -> tuple[str, str]:
    """The grantee's name and the purpose, decrypted."""
    return (
        cipher.decrypt(grant.grantee_encrypted, context=GRANTEE_CONTEXT),
        cipher.decrypt(grant.purpose_encrypted, context=PURPOSE_CONTEXT),
    )


def _text(value: str, field: str, longest: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} must not be blank", field=field)
    if len(value) > longest:
        raise InvalidInput(f"{field} must be at most {longest} characters", field=field)
    return value


def _names(values: tuple[str, ...], field: str, known: Any) -> list[str]:
    if len(values) > MAX_NAMES:
        raise InvalidInput(f"name at most {MAX_NAMES} {field}", field=field)
    if len(set(values)) != len(values):
        raise InvalidInput(f"{field} must not repeat", field=field)
    for value in values:
        if not known(value):
            raise InvalidInput(f'unknown {field.rstrip("s")} "{value}"', field=field)
    return list(values)


def _check_terms(terms: GrantTerms, now: datetime) -> None:
    if not terms.site_ids:
        raise InvalidInput("name at least one site", field="site_ids")
    if len(terms.site_ids) > MAX_SITES or len(set(terms.site_ids)) != len(terms.site_ids):
        raise InvalidInput(f"name up to {MAX_SITES} different sites", field="site_ids")
    if not terms.metrics:
        raise InvalidInput("name at least one metric", field="metrics")
    if terms.expires_at.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone offset", field="expires_at")
    if terms.expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if terms.expires_at > now + timedelta(days=MAX_GRANT_DAYS):
        raise InvalidInput(f"a grant may run for at most {MAX_GRANT_DAYS} days", field="expires_at")
    for field, day in (("date_from", terms.date_from), ("date_to", terms.date_to)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInput(f"{field} must be from {FIRST_DAY} to {LAST_DAY}", field=field)
    if terms.date_from and terms.date_to and terms.date_from > terms.date_to:
        raise InvalidInput("date_from must not be after date_to", field="date_from")
    if terms.min_visitors is not None and not 0 <= terms.min_visitors <= MAX_MIN_VISITORS:
        raise InvalidInput(
            f"min_visitors must be from 0 to {MAX_MIN_VISITORS}", field="min_visitors"
        )
    if terms.link_password is not None:
        if not terms.share_link:
            raise InvalidInput("a password protects a share link: ask for one", field="share_link")
        if not LINK_PASSWORD_MIN_LENGTH <= len(terms.link_password) <= LINK_PASSWORD_MAX_LENGTH:
            raise InvalidInput(
                f"the link password must be {LINK_PASSWORD_MIN_LENGTH} to "
                f"{LINK_PASSWORD_MAX_LENGTH} characters",
                field="link_password",
            )


async def create_grant(
    session: AsyncSession,
    cipher: Cipher,
    principal: Principal,
    terms: GrantTerms,
    password_hashing: AccountSettings,
) -> IssuedGrant:
    """Grant a third party what `terms` say. The caller must be allowed to manage grants on
    every named site; all of them must belong to one account. A link password is hashed like an
    account's, with `password_hashing`'s parameters."""
    now = utcnow()
    _check_terms(terms, now)
    grantee = _text(terms.grantee, "grantee", 200)
    purpose = _text(terms.purpose, "purpose", 2000)
    metrics = _names(terms.metrics, "metrics", lambda name: name in METRICS)
    dimensions = _names(terms.dimensions, "dimensions", is_known_dimension)
    if terms.min_visitors:
        check_threshold_terms(metrics, dimensions)
    owners = set()
    for site_id in terms.site_ids:
        site = await reachable_site(session, principal, site_id, Scope.GRANTS_WRITE)
        owners.add(site.account_id)
    if len(owners) != 1:
        raise InvalidInput("the sites of one grant must belong to one account", field="site_ids")
    await _refuse_while_deletion_is_pending(session, next(iter(owners)))
    key = GRANT_KEY_PREFIX + secrets.token_urlsafe(32)
    link_token = LINK_TOKEN_PREFIX + secrets.token_urlsafe(32) if terms.share_link else None
    link_password_hash = (
        await hash_password_in_thread(terms.link_password, password_hashing)
        if terms.link_password
        else None
    )
    grant = Grant(
        account_id=owners.pop(),
        created_by_account_id=principal.account_id,
        grantee_encrypted=cipher.encrypt(grantee, context=GRANTEE_CONTEXT),
        purpose_encrypted=cipher.encrypt(purpose, context=PURPOSE_CONTEXT),
        site_ids=list(terms.site_ids),
        metrics=metrics,
        dimensions=dimensions,
        date_from=terms.date_from,
        date_to=terms.date_to,
        min_visitors=terms.min_visitors or None,
        key_hash=_digest(key),
        key_prefix=key[:PREFIX_SHOWN],
        link_token_hash=_digest(link_token) if link_token else None,
        link_password_hash=link_password_hash,
        created_at=now,
        expires_at=terms.expires_at,
    )
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        AuditAction.GRANT_CREATED,
        actor=principal.actor,
        account_id=grant.account_id,
        details={
            "grant_id": grant.id,
            "site_ids": grant.site_ids,
            "metrics": grant.metrics,
            "dimensions": grant.dimensions,
            "date_from": grant.date_from.isoformat() if grant.date_from else None,
            "date_to": grant.date_to.isoformat() if grant.date_to else None,
            "expires_at": as_utc(grant.expires_at).isoformat(),
            "min_visitors": grant.min_visitors,
            "share_link": link_token is not None,
            "password_protected": grant.link_password_hash is not None,
        },
    )
    return IssuedGrant(grant, key, link_token)


async def _refuse_while_deletion_is_pending(session: AsyncSession, account_id: int) -> None:
    if await session.get(AccountDeletion, account_id) is not None:
        raise Conflict(
            "the account is to be deleted, so nobody outside it reads its statistics: cancel "
            "the deletion first",
            field="account",
        )


async def list_grants(
    session: AsyncSession, principal: Principal, status: str | None = None
) -> list[Grant]:
    """The grants of every account whose grants the caller may see, newest first; only those
    of one status when `status` names one."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    teams = await reachable_team_ids(session, principal, Scope.GRANTS_READ)
    if not teams:
        return []
    rows = await session.exec(
        select(Grant).where(col(Grant.account_id).in_(teams)).order_by(col(Grant.id).desc())
    )
    now = utcnow()
    return [grant for grant in rows.all() if status is None or status_of(grant, now) == status]


async def grant_of(
    session: AsyncSession, principal: Principal, grant_id: int, scope: Scope
) -> Grant:
    """A grant the caller may do `scope` with; anything else exactly as a missing one."""
    grant = await session.get(Grant, grant_id)
    if grant is None or not await may(session, principal, grant.account_id, scope):
        raise NotFound(f"grant {grant_id} does not exist", field="grant_id")
    return grant


async def revoke_grant(session: AsyncSession, principal: Principal, grant_id: int) -> Grant:
    """End a grant at once: its key and link stop working on the next request. Revoking a
    revoked grant changes nothing."""
    grant = await grant_of(session, principal, grant_id, Scope.GRANTS_WRITE)
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        session.add(grant)
        await session.flush()
        await audit.record(
            session,
            AuditAction.GRANT_REVOKED,
            actor=principal.actor,
            account_id=grant.account_id,
            details={"grant_id": grant.id},
        )
    return grant


async def confirm_grant(session: AsyncSession, principal: Principal, grant_id: int) -> Grant:
    """An owner of the team lets a suspended grant read again; from now on it answers to that
    owner (and is suspended again should the owner leave)."""
    grant = await grant_of(session, principal, grant_id, Scope.GRANTS_READ)
    role = await role_in(session, principal, grant.account_id)
    if role is not MemberRole.OWNER or Scope.GRANTS_WRITE not in principal.scopes:
        raise Forbidden("only an owner of the team confirms a suspended grant", field="grant_id")
    now = utcnow()
    status = status_of(grant, now)
    if status != "suspended":
        raise Conflict(f"grant {grant_id} is {status}, not suspended", field="grant_id")
    await _refuse_while_deletion_is_pending(session, grant.account_id)
    reason, answerable = grant.suspended_reason, grant.created_by_account_id
    grant.suspended_at = None
    grant.suspended_reason = None
    grant.created_by_account_id = principal.account_id
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        AuditAction.GRANT_CONFIRMED,
        actor=principal.actor,
        account_id=grant.account_id,
        details={
            "grant_id": grant.id,
            "suspended_because": reason,
            "formerly_answerable_account_id": answerable,
        },
    )
    return grant


async def reads_of(
    session: AsyncSession,
    principal: Principal,
    grant_id: int,
    *,
    limit: int = 100,
    before_id: int | None = None,
) -> list[GrantRead]:
    """Every read through a grant, newest first: what the customer sees of its use."""
    await grant_of(session, principal, grant_id, Scope.GRANTS_READ)
    query = select(GrantRead).where(GrantRead.grant_id == grant_id)
    if before_id is not None:
        query = query.where(col(GrantRead.id) < before_id)
    rows = await session.exec(query.order_by(col(GrantRead.id).desc()).limit(limit))
    return list(rows.all())


def is_grant_credential(credential: str) -> bool:
    return credential.startswith((GRANT_KEY_PREFIX, LINK_TOKEN_PREFIX))


def via_of(credential: str) -> str:
    """How a third party came: with the grant's key, or with its share link."""
    return "link" if credential.startswith(LINK_TOKEN_PREFIX) else "key"


async def authenticate_grant(
    session: AsyncSession, credential: str, password: str | None = None
) -> Grant:
    """The live grant of a key or link token; Unauthorized for anything else, revoked and
    expired grants included. A password-protected link also needs its password."""
    refused = Unauthorized(REFUSED, field="token")
    if not is_grant_credential(credential) or len(credential) > 100:
        raise refused
    digest = _digest(credential)
    by_link = via_of(credential) == "link"
    column = Grant.link_token_hash if by_link else Grant.key_hash
    grant = (await session.exec(select(Grant).where(column == digest))).first()
    stored = (grant.link_token_hash if by_link else grant.key_hash) if grant else None
    if grant is None or stored is None or not hmac.compare_digest(stored, digest):
        raise refused
    if not await _readable(session, grant):
        raise refused
    needs_password = by_link and grant.link_password_hash is not None
    if needs_password and not await _password_ok(password, grant):
        await audit.record(
            session,
            AuditAction.GRANT_PASSWORD_REFUSED,
            actor=Actor.grant(grant.id),
            account_id=grant.account_id,
            details={"grant_id": grant.id},
        )
        raise Unauthorized("this share link needs its password", field="password")
    return grant


async def live_grant(session: AsyncSession, grant_id: int) -> Grant:
    """The grant again, at the moment of reading: one revoked, suspended or expired since the
    caller was authenticated reads nothing."""
    grant = await session.get(Grant, grant_id)
    if grant is None or not await _readable(session, grant):
        raise Unauthorized(REFUSED, field="token")
    return grant


async def _readable(session: AsyncSession, grant: Grant) -> bool:
    """Active, and its account not asked to be deleted: the deletion request suspends every
    grant, and this holds even for one made in a race with the request."""
    if status_of(grant, utcnow()) != "active":
        return False
    return await session.get(AccountDeletion, grant.account_id) is None


async def _password_ok(password: str | None, grant: Grant) -> bool:
    """Whether `password` opens the grant's link, checked off the event loop. The stored hash
    names its own argon2 parameters; a value that is no hash matches nothing."""
    stored = grant.link_password_hash
    if not password or stored is None or len(password) > LINK_PASSWORD_MAX_LENGTH:
        return False
    return await password_matches_in_thread(password, stored)


def principal_of_grant(grant: Grant) -> Principal:
    """The caller a grant makes: it reads stats of its sites, nothing else."""
    assert grant.id is not None
    return Principal(
        PrincipalKind.GRANT,
        grant.account_id,
        frozenset({Scope.STATS_READ}),
        grant_id=grant.id,
        site_ids=frozenset(grant.site_ids),
    )
