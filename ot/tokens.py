"""API tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import get_account
from ot.clock import utcnow
from ot.errors import InvalidInput
from ot.models import ApiToken, Site

TOKEN_PREFIX = "ot_"
PREFIX_SHOWN = 10


def hash_token(token: str) -> str:
    # A plain hash is enough: tokens are 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, account_id: int, name: str) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned once and never stored."""
    await get_account(session, account_id)
    name = name.strip()
    if not name:
        raise InvalidInput("the token name must not be blank", field="name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:PREFIX_SHOWN],
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
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


async def list_tokens(session: AsyncSession, account_id: int) -> list[ApiToken]:
    await get_account(session, account_id)
    query = select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id)  # type: ignore[arg-type]
    return list((await session.exec(query)).all())


async def token_may_track(engine: AsyncEngine, plaintext: str, site_id: int) -> bool:
    """Whether a Matomo `token_auth` belongs to the account owning the site, which lets it set
    the visitor's IP (`cip`) and the hit's time (`cdt`)."""
    async with AsyncSession(engine) as session:
        token = await find_token(session, plaintext)
        if token is None:
            return False
        site = await session.get(Site, site_id)
        return site is not None and site.account_id == token.account_id
