"""Who may do what: the one place that decides whether a caller may touch an account or a site.

A caller is a `Principal`: an account that logged in (a session), an API key of an account
(limited to its scopes), or a third party holding a grant. Sites belong to an account; the
account's team members act on them within their role. Anything a caller may not reach answers
exactly as something that does not exist (`NotFound`), so nothing leaks about other tenants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.errors import Forbidden, InvalidInput, NotFound
from ot.models import AccountSuspension, MemberRole, Membership, Site
from ot.security.audit import Actor


class Scope(StrEnum):
    """What an API key may do. A logged-in session may do everything its role allows."""

    STATS_READ = "stats:read"
    SITES_READ = "sites:read"
    SITES_WRITE = "sites:write"
    TEAM_READ = "team:read"
    TEAM_WRITE = "team:write"
    GRANTS_READ = "grants:read"
    GRANTS_WRITE = "grants:write"
    ACCOUNT_READ = "account:read"
    ACCOUNT_WRITE = "account:write"


ALL_SCOPES = frozenset(Scope)

# What each role in a team may do with that team's sites and settings.
ROLE_SCOPES: dict[MemberRole, frozenset[Scope]] = {
    MemberRole.OWNER: ALL_SCOPES,
    MemberRole.ADMIN: frozenset(
        {
            Scope.STATS_READ,
            Scope.SITES_READ,
            Scope.SITES_WRITE,
            Scope.TEAM_READ,
            Scope.GRANTS_READ,
            Scope.GRANTS_WRITE,
        }
    ),
    MemberRole.VIEWER: frozenset({Scope.STATS_READ, Scope.SITES_READ, Scope.TEAM_READ}),
}


class PrincipalKind(StrEnum):
    SESSION = "session"
    API_KEY = "api_key"
    GRANT = "grant"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `scopes` bounds what it may do anywhere; roles bound it further
    per team."""

    kind: PrincipalKind
    account_id: int  # the account acting (for a grant: the account that granted it)
    scopes: frozenset[Scope] = ALL_SCOPES
    session_id: int | None = None
    api_key_id: int | None = None
    grant_id: int | None = None
    # For a grant: the only sites it covers (ids); None means no limit beyond membership.
    site_ids: frozenset[int] | None = field(default=None)

    @property
    def actor(self) -> Actor:
        """How the audit trail names this caller."""
        if self.kind is PrincipalKind.GRANT:
            return Actor.grant(self.grant_id)
        if self.kind is PrincipalKind.API_KEY:
            return Actor.account(self.account_id, api_key_id=self.api_key_id)
        return Actor.account(self.account_id)

    def require(self, scope: Scope) -> None:
        """Refuse a caller whose credentials do not carry `scope` at all."""
        if scope not in self.scopes:
            raise Forbidden(f"this key lacks the {scope.value} scope", field="scope")


def parse_scopes(values: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    scopes = set()
    for value in values:
        try:
            scopes.add(Scope(value))
        except ValueError:
            known = ", ".join(sorted(s.value for s in Scope))
            raise InvalidInput(
                f"unknown scope {value!r} (known: {known})", field="scopes"
            ) from None
    return frozenset(scopes)


async def role_in(session: AsyncSession, principal: Principal, team_id: int) -> MemberRole | None:
    """The caller's role in a team (an account), or None when it is not a member."""
    if principal.kind is PrincipalKind.GRANT:
        return None  # a grant reads what it names, it is never a member
    if principal.account_id == team_id:
        return MemberRole.OWNER
    if await session.get(AccountSuspension, team_id) is not None:
        return None  # a suspended account is reachable by none of its members either
    membership = (
        await session.exec(
            select(Membership).where(
                Membership.account_id == team_id,
                Membership.member_account_id == principal.account_id,
            )
        )
    ).first()
    return membership.role if membership is not None else None


async def may(session: AsyncSession, principal: Principal, team_id: int, scope: Scope) -> bool:
    """Whether the caller may do `scope` in a team: its credentials carry the scope and its role
    in that team allows it."""
    if scope not in principal.scopes:
        return False
    role = await role_in(session, principal, team_id)
    return role is not None and scope in ROLE_SCOPES[role]


async def reachable_site(
    session: AsyncSession, principal: Principal, site_id: int, scope: Scope
) -> Site:
    """The site, if the caller may do `scope` on it; otherwise exactly as if it did not exist."""
    site = await session.get(Site, site_id)
    missing = NotFound(f"site {site_id} does not exist", field="site_id")
    if site is None:
        raise missing
    if principal.site_ids is not None and site_id not in principal.site_ids:
        raise missing
    if principal.kind is PrincipalKind.GRANT:
        # Grants are checked by `ot.grants`, which sets site_ids and scopes; the granting
        # account must still own the site.
        if site.account_id != principal.account_id or scope not in principal.scopes:
            raise missing
        return site
    if not await may(session, principal, site.account_id, scope):
        raise missing
    return site


async def writable_site(
    session: AsyncSession, principal: Principal, site_id: int, scope: Scope = Scope.SITES_WRITE
) -> Site:
    """The site, if the caller may change it (`scope`). A site it may only read refuses with
    Forbidden (it knows the site exists); one it cannot see answers exactly as a missing one."""
    try:
        return await reachable_site(session, principal, site_id, scope)
    except NotFound:
        await reachable_site(session, principal, site_id, Scope.SITES_READ)
        raise Forbidden("your role or key may read this site but not change it") from None


async def reachable_team_ids(
    session: AsyncSession, principal: Principal, scope: Scope
) -> list[int]:
    """The accounts (teams) in which the caller may do `scope`: its own and those it belongs to."""
    if principal.kind is PrincipalKind.GRANT or scope not in principal.scopes:
        return []
    teams = [principal.account_id]
    memberships = await session.exec(
        select(Membership).where(Membership.member_account_id == principal.account_id)
    )
    teams += [m.account_id for m in memberships if scope in ROLE_SCOPES[m.role]]
    suspended = set(
        (
            await session.exec(
                select(AccountSuspension.account_id).where(
                    col(AccountSuspension.account_id).in_(teams[1:])
                )
            )
        ).all()
    )
    return [team for team in teams if team not in suspended]
