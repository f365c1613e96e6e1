"""From a credential to the caller it authenticates: a log-in session's token, an API key, a
grant's key or its share link becomes a `Principal`. The one middleware that lets callers in
(`ot.server.auth`) reads the credential off the request and asks here; nothing else does.

Each function notes the use it sees (a session's last_seen_at, a key's last_used_at, a wrong
link password in the audit trail) in the caller's transaction: the caller commits it."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.api_keys import TOKEN_PREFIX, find_token, principal_of_key, record_use
from ot.accounts.permissions import ALL_SCOPES, Principal, PrincipalKind
from ot.accounts.sessions import SESSION_PREFIX, csrf_matches, find_session
from ot.accounts.suspension import refuse_if_suspended
from ot.config import AccountSettings
from ot.errors import Forbidden, Unauthorized
from ot.grants.store import (
    GRANT_KEY_PREFIX,
    LINK_TOKEN_PREFIX,
    authenticate_grant,
    principal_of_grant,
)


class CredentialKind(StrEnum):
    """What a caller presents, told apart by the credential's prefix."""

    SESSION = "session"  # ots_...: a log-in session's token (or the session cookie)
    API_KEY = "api_key"  # ot_...: an API key, limited to its scopes
    GRANT_KEY = "grant_key"  # otg_...: a third party's read-only key of a grant
    SHARE_LINK = "share_link"  # otl_...: a grant's share link, perhaps with a password


_PREFIXES = {
    SESSION_PREFIX: CredentialKind.SESSION,
    GRANT_KEY_PREFIX: CredentialKind.GRANT_KEY,
    LINK_TOKEN_PREFIX: CredentialKind.SHARE_LINK,
    TOKEN_PREFIX: CredentialKind.API_KEY,
}


def kind_of(credential: str) -> CredentialKind | None:
    """The kind of a credential by its prefix; None for one we never issue."""
    for prefix, kind in _PREFIXES.items():
        if credential.startswith(prefix):
            return kind
    return None


def grant_via(kind: CredentialKind) -> str:
    """How a third party came, as a grant's read log names it: with the key or the link."""
    return "link" if kind is CredentialKind.SHARE_LINK else "key"


async def session_principal(
    session: AsyncSession,
    token: str,
    settings: AccountSettings,
    *,
    csrf_needed: bool = False,
    csrf_token: str | None = None,
) -> Principal:
    """The account of a live log-in session. A browser's cookie comes by itself on any request,
    so on unsafe methods it also needs the session's CSRF token (`csrf_needed`)."""
    row = await find_session(session, token, settings)
    if row is None:
        raise Unauthorized("the session has expired or was ended: log in again", field="token")
    if csrf_needed and not csrf_matches(row, csrf_token):
        raise Forbidden("missing or wrong X-CSRF-Token header", field="X-CSRF-Token")
    await refuse_if_suspended(session, row.account_id)
    assert row.id is not None
    return Principal(PrincipalKind.SESSION, row.account_id, ALL_SCOPES, session_id=row.id)


async def key_principal(session: AsyncSession, plaintext: str) -> Principal:
    """The account of a live API key, limited to the key's scopes; its use is noted."""
    token = await find_token(session, plaintext)
    if token is None:
        raise Unauthorized("the API key is not valid or was revoked", field="token")
    await refuse_if_suspended(session, token.account_id)
    await record_use(session, token)
    return principal_of_key(token)


async def grant_principal(
    session: AsyncSession, credential: str, password: str | None = None
) -> Principal:
    """The third party of a live grant's key or share link: it reads the grant's sites' stats
    and nothing else. A wrong link password is written to the audit trail."""
    grant = await authenticate_grant(session, credential, password)
    await refuse_if_suspended(session, grant.account_id)
    return principal_of_grant(grant)
