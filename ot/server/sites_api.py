"""`/ot/v1/sites`: the domains of the caller's teams — add, read, configure, verify, claim,
remove.

Reads need `sites:read`, changes `sites:write`, from a logged-in session or a key a session
made, and a role in the site's team that allows it. Every change goes to the audit trail.
Verifying and claiming ask the domain for its proof (DNS, HTTP) outside any transaction."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import (
    Scope,
    reachable_site,
    reachable_team_ids,
    writable_site,
)
from ot.accounts.team import team_for
from ot.api.sites import (
    ClaimOut,
    NewSite,
    Removed,
    SiteList,
    SiteOut,
    SiteSettingsIn,
    Verification,
    VerifyOut,
)
from ot.clock import as_utc
from ot.models import Site
from ot.server.accounts_api import send_mails
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, ENGINE, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import path_id
from ot.sites.claims import (
    claimable_holder,
    ensure_token,
    mark_verified,
    release_notice,
    take_domain,
)
from ot.sites.snippet import tracking_snippet
from ot.sites.store import (
    add_site,
    check_new_site,
    delete_site,
    sites_of_teams,
    update_site,
)
from ot.sites.verification import (
    Fetcher,
    Proof,
    VerificationMethod,
    claim_token,
    fetch_text,
    prove_control,
    txt_lookup,
)

# Tests hand the server a fetcher that serves the verification file from loopback.
VERIFICATION_FETCHER: web.AppKey[Fetcher] = web.AppKey("verification_fetcher")


def _proof_out(proof: Proof) -> Verification:
    return Verification(
        token=proof.token,
        file_url=proof.file_url,
        dns_name=proof.dns_name,
        dns_value=proof.dns_value,
    )


def _out(request: web.Request, site: Site) -> SiteOut:
    verification = (
        _proof_out(Proof.of(site.domain, site.verification_token))
        if site.verification_token
        else None
    )
    return SiteOut(
        id=site.id or 0,
        account_id=site.account_id,
        domain=site.domain,
        timezone=site.timezone,
        visitor_mode=site.visitor_mode,
        ip_policy=site.ip_policy,
        excluded_ips=list(site.excluded_ips),
        excluded_paths=list(site.excluded_paths),
        hash_routing=site.hash_routing,
        respect_do_not_track=site.respect_do_not_track,
        retention_days=site.retention_days,
        created_at=as_utc(site.created_at),
        verified_at=as_utc(site.verified_at) if site.verified_at else None,
        verification=verification,
        snippet=tracking_snippet(site, request.app[SETTINGS]),
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_READ,
    summary="List the sites of my teams",
    answers=SiteList,
)
async def list_sites(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        teams = await reachable_team_ids(session, principal, Scope.SITES_READ)
        sites = await sites_of_teams(session, teams)
        return json_answer(SiteList(sites=[_out(request, site) for site in sites]))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Add a site to my account (or to a team I may add sites to)",
    body=NewSite,
    answers=SiteOut,
    status=201,
)
async def create_site(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewSite)
    async with transaction(request, locked=False) as session:
        team = await team_for(session, principal, body.team_id, Scope.SITES_WRITE)
        site = await add_site(
            session,
            team,
            body.domain,
            timezone=body.timezone,
            visitor_mode=body.visitor_mode,
            ip_policy=body.ip_policy,
            excluded_ips=body.excluded_ips,
            excluded_paths=body.excluded_paths,
            hash_routing=body.hash_routing,
            respect_do_not_track=body.respect_do_not_track,
            retention_days=body.retention_days,
            actor=principal.actor,
        )
    return json_answer(_out(request, site), status=201)


@endpoint(RouteNeeds.ACCOUNT, scope=Scope.SITES_READ, summary="Read a site", answers=SiteOut)
async def get_site(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    site_id = path_id(request, "site_id")
    async with AsyncSession(engine_for(request)) as session:
        site = await reachable_site(session, principal, site_id, Scope.SITES_READ)
        return json_answer(_out(request, site))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Configure a site: time zone, visitor mode, IP policy, exclusions, retention, DNT",
    body=SiteSettingsIn,
    answers=SiteOut,
)
async def change_site(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, SiteSettingsIn)
    site_id = path_id(request, "site_id")
    async with transaction(request, locked=False) as session:
        site = await writable_site(session, principal, site_id)
        changes = body.model_dump(include=body.model_fields_set)
        await update_site(session, site, changes, actor=principal.actor)
    return json_answer(_out(request, site))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Remove a site and every hit, visit, rollup and goal stored for it",
    answers=Removed,
)
async def remove_site(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    site_id = path_id(request, "site_id")
    async with transaction(request, locked=False) as session:
        site = await writable_site(session, principal, site_id)
        removed = await delete_site(session, site, actor=principal.actor)
    return json_answer(Removed(removed=removed))


async def _proof_of_control(
    request: web.Request, domain: str, token: str
) -> VerificationMethod | None:
    return await prove_control(
        domain,
        token,
        fetcher=request.app.get(VERIFICATION_FETCHER, fetch_text),
        lookup_txt=txt_lookup(request.app[SETTINGS].verification),
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Verify a site: its domain publishes the site's token (DNS TXT record or a file)",
    answers=VerifyOut,
)
async def verify(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    site_id = path_id(request, "site_id")
    async with transaction(request, locked=False) as session:
        site = await writable_site(session, principal, site_id)
        token = await ensure_token(session, site)
    domain = site.domain
    method = None
    if site.verified_at is None:
        method = await _proof_of_control(request, domain, token)
    if method is not None:
        async with transaction(request, locked=False) as session:
            site = await writable_site(session, principal, site_id)
            await mark_verified(session, site, method, domain=domain, actor=principal.actor)
    proof = Proof.of(domain, token)
    hint = (
        "verified"
        if site.verified_at is not None
        else f"not verified yet: {proof.instructions()}, then try again"
    )
    answer = VerifyOut(
        verified=site.verified_at is not None,
        method=method.value if method is not None and site.verified_at is not None else None,
        verified_at=as_utc(site.verified_at) if site.verified_at else None,
        hint=hint,
    )
    return json_answer(answer)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.SITES_WRITE,
    summary="Claim a domain by proving control of it: a verified site for my team, taking the "
    "domain from another account's unverified site if one holds it",
    body=NewSite,
    answers=ClaimOut,
)
async def claim_site(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, NewSite)
    site_settings = body.model_dump(exclude={"domain", "team_id"})
    async with AsyncSession(request.app[ENGINE]) as session:
        team = await team_for(session, principal, body.team_id, Scope.SITES_WRITE)
        domain = check_new_site(
            body.domain,
            timezone=body.timezone,
            excluded_ips=body.excluded_ips,
            excluded_paths=body.excluded_paths,
            retention_days=body.retention_days,
        )
        holder = await claimable_holder(session, team, domain)
        holder_id = holder.id if holder is not None else None
    proof = Proof.of(domain, claim_token(request.app[CIPHER], team, domain))
    method = await _proof_of_control(request, domain, proof.token)
    if method is None:
        hint = f"not claimed yet: to prove you control {domain}, {proof.instructions()}, then ask "
        hint += "again"
        return json_answer(ClaimOut(claimed=False, site=None, proof=_proof_out(proof), hint=hint))
    async with transaction(request, locked=False) as session:
        claimed = await take_domain(
            session,
            team,
            domain,
            method,
            actor=principal.actor,
            holder_id=holder_id,
            site_settings=site_settings,
        )
        mails = []
        if claimed.released is not None:
            notice = await release_notice(session, request.app[CIPHER], claimed.released, domain)
            mails = [notice] if notice is not None else []
    await send_mails(request, mails)
    answer = ClaimOut(
        claimed=True,
        site=_out(request, claimed.site),
        proof=_proof_out(proof),
        hint=f"claimed: {domain} is a verified site of your team now",
    )
    return json_answer(answer)
