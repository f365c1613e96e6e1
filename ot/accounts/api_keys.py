"""API keys: random, shown once, stored only as a SHA-256 hash, limited to scopes, revocable.

A key acts for the account that made it (its creator) and carries a subset of what the creator
may do: its scopes bound it everywhere, and in other accounts' teams the creator's role bounds it
further (`ot.accounts.permissions.may`), so a key never does more than the person behind it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Principal, PrincipalKind, Scope, may, parse_scopes
from ot.accounts.store import get_account
from ot.clock import as_utc, utcnow
from ot.errors import Conflict, Forbidden, InvalidInput
from ot.models import ApiToken, Site
from ot.security import audit
from ot.security.audit import Actor, AuditAction

TOKEN_PREFIX = "ot_"
PREFIX_SHOWN = 10
DEFAULT_SCOPES: tuple[Scope, ...] = (Scope.STATS_READ,)
MAX_NAME_LENGTH = 100
# Bounds what one account can pile up; nobody needs more live keys than this.
MAX_LIVE_KEYS = 100
# How stale `last_used_at` may get before a request writes it again: saves a write per request.
_TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    # A plain hash is enough: tokens are 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def _scopes_of(values: Iterable[Scope | str]) -> frozenset[Scope]:
    scopes = parse_scopes([str(value) for value in values])
    if not scopes:
        raise InvalidInput("a key needs at least one scope", field="scopes")
    return scopes


async def create_token(
    session: AsyncSession,
    account_id: int,
    name: str,
    scopes: Iterable[Scope | str] = DEFAULT_SCOPES,
    *,
    actor: Actor,
    creator: Principal | None = None,
) -> tuple[ApiToken, str]:
    """Create a key of the account; the plaintext is returned once and never stored.

    `creator` is the caller making it through the API (None for an operator): the key cannot
    carry a scope the creator lacks."""
    await get_account(session, account_id)
    name = name.strip()
    if not name:
        raise InvalidInput("the token name must not be blank", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the token name is longer than {MAX_NAME_LENGTH} characters", field="name"
        )
    wanted = _scopes_of(scopes)
    if creator is not None:
        if creator.account_id != account_id or creator.kind is not PrincipalKind.SESSION:
            raise Forbidden("only a logged-in session makes keys, for its own account")
        beyond = wanted - creator.scopes
        if beyond:
            names = ", ".join(sorted(scope.value for scope in beyond))
            raise Forbidden(f"a key cannot hold more than you may do ({names})", field="scopes")
    live = await session.exec(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.account_id == account_id, col(ApiToken.revoked_at).is_(None))
    )
    if live.one() >= MAX_LIVE_KEYS:
        raise Conflict(f"an account holds at most {MAX_LIVE_KEYS} live keys", field="name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:PREFIX_SHOWN],
        scopes=sorted(scope.value for scope in wanted),
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        AuditAction.KEY_CREATED,
        actor=actor,
        account_id=account_id,
        details={"key_id": token.id, "scopes": list(token.scopes)},
    )
    return token, plaintext


async def find_token(session: AsyncSession, plaintext: str) -> ApiToken | None:
    """The live token with this plaintext, or None (unknown, malformed or revoked)."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 100:
        return None
    digest = hash_token(plaintext)
    token = (await session.exec(select(ApiToken).where(ApiToken.token_hash == digest))).first()
    if token is None or token.revoked_at is not None:
        return None
    # Compare again in constant time: the index lookup above is not.
    return token if hmac.compare_digest(token.token_hash, digest) else None


def principal_of_key(token: ApiToken) -> Principal:
    """The caller a key authenticates: its account, limited to the key's scopes."""
    assert token.id is not None
    return Principal(
        PrincipalKind.API_KEY,
        token.account_id,
        parse_scopes(token.scopes),
        api_key_id=token.id,
    )


async def record_use(session: AsyncSession, token: ApiToken) -> bool:
    """Note that the key was used, at most once a minute; True when a write is pending (the
    caller commits it)."""
    now = utcnow()
    if token.last_used_at is not None and now - as_utc(token.last_used_at) < _TOUCH_EVERY:
        return False
    token.last_used_at = now
    session.add(token)
    await session.flush()
    return True


async def list_tokens(session: AsyncSession, account_id: int) -> list[ApiToken]:
    """Every key of the account, revoked ones included, oldest first."""
    await get_account(session, account_id)
    query = select(ApiToken).where(ApiToken.account_id == account_id).order_by(col(ApiToken.id))
    return list((await session.exec(query)).all())


async def revoke_token(
    session: AsyncSession, account_id: int, token_id: int, *, actor: Actor
) -> bool:
    """Revoke one of the account's live keys, at once; False when it has no such live key."""
    result = await session.exec(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            col(ApiToken.account_id) == account_id,
            col(ApiToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if not result.rowcount:
        return False
    await audit.record(
        session,
        AuditAction.KEY_REVOKED,
        actor=actor,
        account_id=account_id,
        details={"key_id": token_id},
    )
    return True


async def token_may_track(engine: AsyncEngine, plaintext: str, site_id: int) -> bool:
    """Whether a Matomo `token_auth` may write the site's hits (a `sites:write` key of someone
    allowed to write that site), which lets it set the visitor's IP (`cip`) and the hit's time
    (`cdt`)."""
    async with AsyncSession(engine) as session:
        token = await find_token(session, plaintext)
        if token is None:
            return False
        site = await session.get(Site, site_id)
        if site is None:
            return False
        return await may(session, principal_of_key(token), site.account_id, Scope.SITES_WRITE)
