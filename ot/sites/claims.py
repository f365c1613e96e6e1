"""Owning a domain: a site is verified once its domain publishes the site's token, and a team that
proves control of a domain held by another account's *unverified* site takes it (a claim).

Domains are unique (the collector routes hits by domain), so without claims whoever added a
domain first, rightly or not, would keep it. A claim moves the domain, never data: the site that
held it stays in its account with every hit and rollup, renamed to
`<domain>.released-<id>.invalid` (a name no browser sends), and its owner is told by mail and
in its audit trail. A verified site's domain can never be claimed.

The proof itself (`ot.sites.verification`) is network I/O: callers check it outside any
transaction, then call `mark_verified` or `take_domain`, which check again what they rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import account_email, get_account
from ot.clock import utcnow
from ot.errors import Conflict
from ot.mailer import Mail
from ot.models import Site
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher
from ot.sites.store import insert_site, new_verification_token
from ot.sites.verification import VerificationMethod

RELEASED_SUFFIX = "invalid"  # RFC 2606: never resolves, so no real page sends hits for it
MAX_DOMAIN_LENGTH = 253


async def ensure_token(session: AsyncSession, site: Site) -> str:
    """The site's verification token, made now for sites added before tokens existed."""
    if not site.verification_token:
        site.verification_token = new_verification_token()
        session.add(site)
        await session.flush()
    assert site.verification_token is not None
    return site.verification_token


async def mark_verified(
    session: AsyncSession, site: Site, method: VerificationMethod, *, domain: str, actor: Actor
) -> bool:
    """Record that `domain` showed the site's token, with an audit entry; False when the site
    was verified already (it stays so) or no longer holds that domain (a claim took it)."""
    if site.verified_at is not None or site.domain != domain:
        return False
    site.verified_at = utcnow()
    session.add(site)
    await session.flush()
    await audit.record(
        session,
        AuditAction.SITE_VERIFIED,
        actor=actor,
        account_id=site.account_id,
        details={"site_id": site.id, "method": method.value},
    )
    return True


async def claimable_holder(session: AsyncSession, team_id: int, domain: str) -> Site | None:
    """The site holding the (normalised) domain if a claim by this team may take it from it;
    None when the domain is free. Refused when the team holds it already or its holder proved
    control of it."""
    holder = (await session.exec(select(Site).where(Site.domain == domain))).first()
    if holder is None:
        return None
    if holder.account_id == team_id:
        raise Conflict(
            f"{domain} is already a site of this team (id {holder.id}): verify that site instead",
            field="domain",
        )
    if holder.verified_at is not None:
        raise Conflict(
            f"{domain} belongs to a site whose owner proved control of the domain: it cannot be "
            "claimed",
            field="domain",
        )
    return holder


def released_domain(domain: str, site_id: int) -> str:
    """The name a site keeps once its domain was claimed: unique, valid, never routed to."""
    name = f"{domain}.released-{site_id}.{RELEASED_SUFFIX}"
    if len(name) > MAX_DOMAIN_LENGTH:
        name = f"site-{site_id}.released.{RELEASED_SUFFIX}"
    return name


@dataclass(frozen=True)
class Claimed:
    site: Site  # the claiming team's new, verified site
    released: Site | None  # the other account's site that held the domain, now renamed


async def take_domain(
    session: AsyncSession,
    team_id: int,
    domain: str,
    method: VerificationMethod,
    *,
    actor: Actor,
    holder_id: int | None,
    site_settings: dict[str, Any],
) -> Claimed:
    """Give the team a verified site for the domain it proved control of, renaming the
    unverified site that held it. `holder_id` is the holder the proof was checked against:
    should the domain have changed hands meanwhile, nothing is done."""
    holder = await claimable_holder(session, team_id, domain)
    if (holder.id if holder is not None else None) != holder_id:
        raise Conflict(f"{domain} changed hands while it was checked: try again", field="domain")
    if holder is not None:
        assert holder.id is not None
        holder.domain = released_domain(domain, holder.id)
        session.add(holder)
        await session.flush()  # the domain is free before the new site takes it
        await audit.record(
            session,
            AuditAction.SITE_DOMAIN_RELEASED,
            actor=actor,
            account_id=holder.account_id,
            details={"site_id": holder.id, "reason": "claimed by a team that proved control"},
        )
    site = await insert_site(session, team_id, domain, **site_settings)
    site.verified_at = utcnow()
    session.add(site)
    await session.flush()
    await audit.record(
        session,
        AuditAction.SITE_CLAIMED,
        actor=actor,
        account_id=team_id,
        details={"site_id": site.id, "method": method.value, "released": holder is not None},
    )
    return Claimed(site, holder)


async def release_notice(
    session: AsyncSession, cipher: Cipher, released: Site, domain: str
) -> Mail | None:
    """The mail telling the owner of a released site what happened (None without an address)."""
    account = await get_account(session, released.account_id)
    address = account_email(account, cipher)
    if not address:
        return None
    return Mail(
        to=address,
        subject=f"The domain {domain} was claimed by its owner",
        text=(
            f"Someone proved control of {domain} by publishing the verification token we gave "
            "them, as a DNS record or as a file on the domain's web server. Hits for "
            f"{domain} now go to their site.\n\n"
            f"Your site that held the domain (id {released.id}) stays in your account with all "
            f"its statistics, renamed {released.domain}; it receives no new hits.\n\n"
            "A domain whose site is verified cannot be claimed again. If you believe this is "
            "a mistake, contact whoever runs this opentracker service.\n"
        ),
    )
