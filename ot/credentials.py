"""Who may read which site's stats: an API token with the `stats:read` scope reads the sites of
its own account, and any other site answers exactly as one that does not exist."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import find_token, principal_of_key, record_use
from ot.accounts.permissions import Scope, may
from ot.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from ot.grants.store import GRANT_KEY_PREFIX, authenticate_grant
from ot.models import ApiToken, Grant, Site
from ot.sites.store import normalise_domain

READ = Scope.STATS_READ
SITE_NOT_FOUND = "Site does not exist or user does not have access to it."


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization or not authorization.strip():
        raise Unauthorized(
            "Missing API key. Please use a valid API key as a Bearer Token.", field="api_key"
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Invalid API key. Send it as 'Authorization: Bearer <key>'.", field="api_key"
        )
    return token.strip()


async def authenticate(session: AsyncSession, plaintext: str) -> ApiToken:
    """The live key of the request, which must carry `stats:read`; its use is recorded (and
    committed: the session has done nothing else yet)."""
    token = await find_token(session, plaintext)
    if token is None:
        raise Unauthorized(
            "Invalid API key. Please make sure you're using a valid API key.", field="api_key"
        )
    if Scope.STATS_READ.value not in token.scopes:
        raise Forbidden(
            "This API key lacks the stats:read scope. Create a key with it.", field="api_key"
        )
    if await record_use(session, token):
        await session.commit()
    return token


async def readable_site(session: AsyncSession, token: ApiToken, site_id: object) -> Site:
    """The site a token asked for by domain (Plausible's `site_id`): one of its account's own, or
    of a team the account belongs to with a role that reads stats (`ot.accounts.permissions`).
    Another account's site, an unknown one and a malformed name all raise the same NotFound."""
    if not isinstance(site_id, str):
        raise NotFound(SITE_NOT_FOUND, field="site_id")
    try:
        domain = normalise_domain(site_id)
    except InvalidInput:
        raise NotFound(SITE_NOT_FOUND, field="site_id") from None
    site = (await session.exec(select(Site).where(Site.domain == domain))).first()
    if site is None or not await may(session, principal_of_key(token), site.account_id, READ):
        raise NotFound(SITE_NOT_FOUND, field="site_id")
    return site


# A third party's grant key (`otg_...`, see `ot.grants`) also reads through the Stats API v2,
# within its grant's limits.


def is_grant_key(token: str) -> bool:
    return token.startswith(GRANT_KEY_PREFIX)


async def authenticate_grant_key(session: AsyncSession, plaintext: str) -> Grant:
    """The live grant of a key; a revoked or expired one answers as an invalid key."""
    try:
        return await authenticate_grant(session, plaintext)
    except Unauthorized:
        raise Unauthorized(
            "Invalid API key. Please make sure you're using a valid API key.", field="api_key"
        ) from None
