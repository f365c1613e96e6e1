"""The collector: from a parsed tracker request to committed hits.

For each site a hit is for: drop it if the site says so (Do-Not-Track, excluded IP or path) or
if a bot sent it, otherwise enrich it (browser, OS, device, country, source, UTM, visitor id) and
hand it to the writer, which returns once it is committed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from ot import metrics
from ot.config import CollectorSettings
from ot.errors import InvalidInput, NotFound, OtError, StorageUnavailable
from ot.ingest.geo import GeoLocator
from ot.ingest.hit import EnrichedHit, IncomingHit
from ot.ingest.referrer import classify_referrer
from ot.ingest.urls import parse_page_url, parse_referrer_url
from ot.ingest.useragent import parse_user_agent
from ot.ingest.visitors import SaltKeeper, choose_visitor_id
from ot.ingest.writer import HitWriter
from ot.ips import ip_in_networks, truncate_ip
from ot.models import HIT_IP
from ot.privacy import IpPolicy
from ot.security.crypto import Cipher
from ot.sites.store import SiteConfig, SiteDirectory


@functools.lru_cache(maxsize=4096)  # every stored hit's IP asks for it
def ip_context(site_id: int) -> str:
    """What a hit's stored IP is bound to: its site (see `ot.models.HIT_IP`)."""
    return HIT_IP.context_for({"site_id": site_id})


# Pages and referrers repeat far more than they vary, and their parsing is pure: remember the
# latest few thousand (bounded memory; invalid ones raise and are not remembered).
_page_url = functools.lru_cache(maxsize=8192)(parse_page_url)
_classify_referrer = functools.lru_cache(maxsize=8192)(classify_referrer)


class DropReason(StrEnum):
    """Why a hit was acknowledged but not stored (counted per site and day, and in /metrics)."""

    BOT = "bot"
    DO_NOT_TRACK = "do_not_track"
    EXCLUDED_IP = "excluded_ip"
    EXCLUDED_PATH = "excluded_path"
    DUPLICATE = "duplicate"  # a retry of a hit already stored
    ENGAGEMENT = "engagement"  # Plausible's page-leave events, which we do not use yet


@dataclass(slots=True)
class Prepared:
    """One incoming hit made ready for each of its sites: hits to store, or drop reasons."""

    hits: list[EnrichedHit] = field(default_factory=list)
    drops: list[tuple[int, DropReason]] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """What became of one request's hits."""

    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    # With `partial` (a bulk request): the hits left out, by position, and why.
    refused: list[tuple[int, OtError]] = field(default_factory=list)


@dataclass(slots=True)
class Storing:
    """A request's hits queued for the next commit (`Collector.start_storing`)."""

    outcome: Outcome
    committed: asyncio.Future[list[bool]] | None  # None: nothing to store
    endpoint: str

    async def finished(self) -> Outcome:
        """The outcome, once the hits are committed."""
        if self.committed is not None:
            is_new = await self.committed
            self.outcome.stored = sum(is_new)
            self.outcome.duplicates = len(is_new) - self.outcome.stored
            metrics.hits_accepted.labels(self.endpoint).inc(self.outcome.stored)
            if self.outcome.duplicates:
                metrics.hits_dropped.labels(DropReason.DUPLICATE).inc(self.outcome.duplicates)
        return self.outcome


class CollectsHits(Protocol):
    """What the server's handlers hand hits to: a `Collector` on their own event loop, or a
    `ot.ingest.process.CollectorProcess` that has one run in a process of its own."""

    async def collect(
        self,
        incomings: Sequence[IncomingHit],
        *,
        endpoint: str,
        now: datetime,
        partial: bool = False,
    ) -> Outcome: ...


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        *,
        sites: SiteDirectory,
        writer: HitWriter,
        geo: GeoLocator,
        salts: SaltKeeper,
        cipher: Cipher,
        visitor_key: bytes,
    ) -> None:
        self._sites = sites
        self._writer = writer
        self._geo = geo
        self._salts = salts
        self._cipher = cipher
        self._visitor_key = visitor_key
        self._allowed_params = frozenset(settings.allowed_query_params)

    async def resolve_sites(self, incoming: IncomingHit) -> list[SiteConfig]:
        """The sites a hit is for; unknown domains among several are skipped."""
        if incoming.site_id is not None:
            site = await self._sites.by_id(incoming.site_id)
            if site is None:
                raise NotFound(f"site {incoming.site_id} does not exist", field="idsite")
            return [site]
        found = []
        for domain in incoming.domains:
            site = await self._sites.by_domain(domain)
            if site is not None and site not in found:
                found.append(site)
        if not found:
            names = ", ".join(incoming.domains)
            raise NotFound(f"no site is registered for the domain {names}", field="domain")
        return found

    async def prepare(self, incoming: IncomingHit, now: datetime) -> Prepared:
        """Enrich one incoming hit for each of its sites, without storing anything. Bad input
        raises here, before anything is queued."""
        if incoming.timestamp is not None:
            _check_timestamp(incoming.timestamp, now)
        prepared = Prepared()
        try:
            sites = await self.resolve_sites(incoming)
            for site in sites:
                hit = await self._enrich(incoming, site, now)
                if isinstance(hit, DropReason):
                    prepared.drops.append((site.id, hit))
                else:
                    prepared.hits.append(hit)
        except SQLAlchemyError as error:
            # Site lookups and the day's salt read the database: if it fails, nothing is
            # acknowledged and the tracker retries.
            raise StorageUnavailable(
                f"the database is unavailable ({type(error).__name__}); retry later"
            ) from error
        return prepared

    async def store(self, prepared: Sequence[Prepared], *, endpoint: str, now: datetime) -> Outcome:
        """Commit prepared hits (waiting for the commit) and count the dropped ones."""
        return await self.start_storing(prepared, endpoint=endpoint, now=now).finished()

    def start_storing(
        self, prepared: Sequence[Prepared], *, endpoint: str, now: datetime
    ) -> Storing:
        """Queue prepared hits for the next commit and count the dropped ones, now. Raises
        `Overloaded` at once when the queue is full."""
        outcome = Outcome()
        for item in prepared:
            for site_id, reason in item.drops:
                self._writer.count_dropped(site_id, now.date(), reason)
                outcome.dropped += 1
        hits = [hit for item in prepared for hit in item.hits]
        return Storing(outcome, self._writer.enqueue(hits) if hits else None, endpoint)

    async def collect(
        self,
        incomings: Sequence[IncomingHit],
        *,
        endpoint: str,
        now: datetime,
        partial: bool = False,
    ) -> Outcome:
        """Prepare and store the hits of one request: stored whole, or refused whole (the first
        refusal raised). With `partial` (a bulk request) a hit that cannot be prepared is left
        out and named in the outcome's `refused`, and the others are stored."""
        storing = await self.start_collecting(
            incomings, endpoint=endpoint, now=now, partial=partial
        )
        return await storing.finished()

    async def start_collecting(
        self,
        incomings: Sequence[IncomingHit],
        *,
        endpoint: str,
        now: datetime,
        partial: bool = False,
    ) -> Storing:
        """`collect` up to the queueing of its hits, done when this returns. Requests started
        one after the other are committed in that order: one task can start many, then wait
        for each (the collector process does, a task per burst of requests, not per request)."""
        prepared: list[Prepared] = []
        refused: list[tuple[int, OtError]] = []
        for position, incoming in enumerate(incomings):
            try:
                prepared.append(await self.prepare(incoming, now))
            except OtError as error:
                if not partial:
                    raise
                refused.append((position, error))
        storing = self.start_storing(prepared, endpoint=endpoint, now=now)
        storing.outcome.refused = refused
        return storing

    async def _enrich(
        self, incoming: IncomingHit, site: SiteConfig, now: datetime
    ) -> EnrichedHit | DropReason:
        page = _page_url(
            incoming.url,
            allowed_query_params=self._allowed_params,
            hash_routing=incoming.hash_routing,
        )
        referrer_url = _parse_referrer(incoming.referrer)
        if site.respect_do_not_track and incoming.do_not_track:
            return DropReason.DO_NOT_TRACK
        if site.excluded_networks and ip_in_networks(incoming.ip, site.excluded_networks):
            return DropReason.EXCLUDED_IP
        if site.excludes_path(page.pathname):
            return DropReason.EXCLUDED_PATH
        client = parse_user_agent(incoming.user_agent)
        if client.is_bot:
            return DropReason.BOT
        timestamp = incoming.timestamp or now
        referrer = _classify_referrer(referrer_url, page.hostname, page.source_param)
        location = self._geo.locate(incoming.ip)
        visitor_id = choose_visitor_id(
            site.visitor_mode,
            visitor_key=self._visitor_key,
            # The day the hit arrives, not the day it claims: a backdated hit must neither revive
            # a deleted salt nor make today's look old.
            salt=await self._salts.salt_for(now),
            site_id=site.id,
            client_id=incoming.client_visitor_id,
            ip=incoming.ip,
            user_agent=incoming.user_agent,
        )
        return EnrichedHit(
            site_id=site.id,
            timestamp=timestamp,
            name=incoming.name,
            visitor_id=visitor_id,
            hostname=page.hostname,
            pathname=page.pathname,
            query=page.query,
            referrer=referrer.url,
            referrer_source=referrer.source,
            utm_source=page.utm_source,
            utm_medium=page.utm_medium,
            utm_campaign=page.utm_campaign,
            utm_content=page.utm_content,
            utm_term=page.utm_term,
            browser=client.browser,
            browser_version=client.browser_version,
            os=client.os,
            os_version=client.os_version,
            device=client.device,
            country=location.country,
            region=location.region,
            city=location.city,
            language=incoming.language or "",
            screen=incoming.screen or "",
            props=incoming.props,
            revenue_amount=incoming.revenue.amount if incoming.revenue else None,
            revenue_currency=incoming.revenue.currency if incoming.revenue else "",
            interactive=incoming.interactive,
            event_id=incoming.event_id,
            ip_encrypted=self._ip_to_store(incoming.ip, site.ip_policy, site.id),
        )

    def _ip_to_store(self, ip: str, policy: IpPolicy, site_id: int) -> str | None:
        if policy is IpPolicy.NONE or not ip:
            return None
        kept = ip if policy is IpPolicy.FULL else truncate_ip(ip)
        return self._cipher.encrypt(kept, context=ip_context(site_id))


# How far a trusted sender (Matomo `cdt` with the owner's token) may date a hit: back as far as
# Matomo accepts, forward only as much as clocks disagree.
OLDEST_HIT = timedelta(days=20 * 365)
CLOCK_SKEW = timedelta(minutes=10)


def _check_timestamp(timestamp: datetime, now: datetime) -> None:
    if timestamp > now + CLOCK_SKEW:
        raise InvalidInput("the hit's time is in the future", field="cdt")
    if timestamp < now - OLDEST_HIT:
        raise InvalidInput("the hit's time is more than 20 years ago", field="cdt")


@functools.lru_cache(maxsize=8192)
def _parse_referrer(referrer: str | None) -> str:
    if not referrer:
        return ""
    try:
        return parse_referrer_url(referrer)
    except InvalidInput:
        # A referrer we cannot read is not worth losing the hit over: count it as direct.
        return ""
