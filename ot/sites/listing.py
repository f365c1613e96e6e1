"""Plausible's Sites API, read side: the sites a caller may read, newest first, a page at a time
with opaque `after`/`before` cursors (as `GET /api/v1/sites` lists them), and one site by its
domain (`GET /api/v1/sites/:site_id`). Another tenant's site answers exactly as a missing one."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Principal, Scope, may, reachable_team_ids
from ot.errors import InvalidInput, NotFound
from ot.models import Site
from ot.sites.store import normalise_domain

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000  # larger limits are cut to this, as Plausible cuts them
SITE_NOT_FOUND = "Site could not be found"
TEAM_NOT_FOUND = "Team could not be found"


@dataclass(frozen=True)
class SitePage:
    """One page of sites, and the cursors of the pages after and before it (None: no page)."""

    sites: list[Site]
    after: str | None
    before: str | None
    limit: int


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InvalidInput("Parameter `limit` must be a whole number from 1", field="limit")
    return min(int(text), MAX_LIMIT)


def _cursor(site: Site) -> str:
    text = json.dumps({"id": site.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _site_id_of(cursor: str, parameter: str) -> int:
    """The site id a cursor of ours holds; anything else is refused naming the parameter."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        site_id = found["id"]
    except (ValueError, UnicodeError, binascii.Error, KeyError, TypeError):
        site_id = None
    if not isinstance(site_id, int) or isinstance(site_id, bool):
        raise InvalidInput(
            f"Parameter `{parameter}` is not a cursor from a previous answer", field=parameter
        )
    return site_id


async def list_site_page(
    session: AsyncSession,
    principal: Principal,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = DEFAULT_LIMIT,
    team_id: str | None = None,
) -> SitePage:
    """The caller's sites (its own account's and its teams', where its role reads sites),
    newest first; `after` and `before` are cursors from an earlier page."""
    if after and before:
        raise InvalidInput("Give `after` or `before`, not both", field="after")
    teams = await reachable_team_ids(session, principal, Scope.SITES_READ)
    if team_id:
        chosen = int(team_id) if team_id.isascii() and team_id.isdigit() else None
        if chosen not in teams:
            raise NotFound(TEAM_NOT_FOUND, field="team_id")
        teams = [chosen]
    query = select(Site).where(col(Site.account_id).in_(teams))
    if before:
        # The page before: the next sites up by id, read upwards and turned round.
        query = query.where(col(Site.id) > _site_id_of(before, "before"))
        rows = list((await session.exec(query.order_by(col(Site.id)).limit(limit + 1))).all())
        sites = list(reversed(rows[:limit]))
        more_before, more_after = len(rows) > limit, True
    else:
        if after:
            query = query.where(col(Site.id) < _site_id_of(after, "after"))
        rows = list(
            (await session.exec(query.order_by(col(Site.id).desc()).limit(limit + 1))).all()
        )
        sites = rows[:limit]
        more_before, more_after = bool(after), len(rows) > limit
    return SitePage(
        sites=sites,
        after=_cursor(sites[-1]) if sites and more_after else None,
        before=_cursor(sites[0]) if sites and more_before else None,
        limit=limit,
    )


async def readable_site_by_domain(
    session: AsyncSession, principal: Principal, domain: object, scope: Scope = Scope.SITES_READ
) -> Site:
    """A site the caller may do `scope` on (read it, or read its stats), by its domain
    (Plausible's `site_id`, spelled any way). Another tenant's site, an unknown one and a
    malformed name (or no name at all) raise the same NotFound."""
    if not isinstance(domain, str):
        raise NotFound(SITE_NOT_FOUND, field="site_id")
    try:
        name = normalise_domain(domain)
    except InvalidInput:
        raise NotFound(SITE_NOT_FOUND, field="site_id") from None
    site = (await session.exec(select(Site).where(Site.domain == name))).first()
    if site is None or not await may(session, principal, site.account_id, scope):
        raise NotFound(SITE_NOT_FOUND, field="site_id")
    return site
