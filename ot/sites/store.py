"""Sites: the websites an account collects hits for, and the collector's cached view of them."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import Column, delete
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import get_account
from ot.clock import utcnow
from ot.errors import Conflict, InvalidInput, NotFound
from ot.ips import Network, parse_networks
from ot.models import Site, every_table
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode
from ot.security import audit
from ot.security.audit import Actor, AuditAction

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
MAX_EXCLUDED_PATHS = 100
MAX_EXCLUDED_IPS = 100
MAX_RETENTION_DAYS = 3660  # ten years
# Bounds the cache even when strangers send hits for endless made-up domains.
MAX_CACHED_SITES = 10_000


def normalise_domain(domain: str) -> str:
    """The canonical form sites are stored and looked up by: lower case, no "www.", IDNA."""
    value = domain.strip().lower().rstrip(".")
    if "://" in value or "/" in value:
        raise InvalidInput(
            f"'{domain}' is a URL: give the bare domain, e.g. example.com", field="domain"
        )
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(f"'{domain}' is not a valid domain name", field="domain") from None
    value = value.removeprefix("www.")
    if not _HOSTNAME.match(value):
        raise InvalidInput(f"'{domain}' is not a valid domain name", field="domain")
    return value


@cache
def _known_zones() -> frozenset[str]:
    """The IANA zone names: listing them walks the tz database's folder (tens of milliseconds),
    and the list does not change while the process runs."""
    return frozenset(available_timezones())


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone '{name}' (use an IANA name such as Europe/Amsterdam)",
            field="timezone",
        ) from None
    if name not in _known_zones() and name != "UTC":
        raise InvalidInput(f"unknown time zone '{name}'", field="timezone")
    return name


def validate_excluded_paths(patterns: Iterable[str]) -> list[str]:
    result = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern.startswith("/"):
            raise InvalidInput(
                f"excluded path '{pattern}' must start with '/' (wildcards * allowed)",
                field="excluded_paths",
            )
        result.append(pattern)
    if len(result) > MAX_EXCLUDED_PATHS:
        raise InvalidInput(f"at most {MAX_EXCLUDED_PATHS} excluded paths", field="excluded_paths")
    return result


def validate_excluded_ips(values: Iterable[str]) -> list[str]:
    values = list(values)
    if len(values) > MAX_EXCLUDED_IPS:
        raise InvalidInput(f"at most {MAX_EXCLUDED_IPS} excluded IPs", field="excluded_ips")
    return [str(network) for network in parse_networks(values, field="excluded_ips")]


def validate_retention_days(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"retention_days is a number of days from 1 to {MAX_RETENTION_DAYS}, or null to "
            "keep hits",
            field="retention_days",
        )
    return days


def check_new_site(
    domain: str,
    *,
    timezone: str = "UTC",
    excluded_ips: Iterable[str] = (),
    excluded_paths: Iterable[str] = (),
    retention_days: int | None = DEFAULT_PRIVACY.retention_days,
) -> str:
    """Refuse a new site's bad settings before anything else is done (a claim checks them
    before asking the domain for its proof); returns the normalised domain."""
    normalised = normalise_domain(domain)
    validate_timezone(timezone)
    validate_excluded_ips(excluded_ips)
    validate_excluded_paths(excluded_paths)
    validate_retention_days(retention_days)
    return normalised


def new_verification_token() -> str:
    return secrets.token_hex(16)


async def add_site(
    session: AsyncSession,
    account_id: int,
    domain: str,
    *,
    actor: Actor,
    timezone: str = "UTC",
    visitor_mode: VisitorMode = DEFAULT_PRIVACY.visitor_mode,
    ip_policy: IpPolicy = DEFAULT_PRIVACY.ip_policy,
    excluded_ips: Iterable[str] = (),
    excluded_paths: Iterable[str] = (),
    hash_routing: bool = False,
    respect_do_not_track: bool = DEFAULT_PRIVACY.respect_do_not_track,
    retention_days: int | None = DEFAULT_PRIVACY.retention_days,
) -> Site:
    """Add a site to the account (a team)."""
    site = await insert_site(
        session,
        account_id,
        domain,
        timezone=timezone,
        visitor_mode=visitor_mode,
        ip_policy=ip_policy,
        excluded_ips=excluded_ips,
        excluded_paths=excluded_paths,
        hash_routing=hash_routing,
        respect_do_not_track=respect_do_not_track,
        retention_days=retention_days,
    )
    await audit.record(
        session,
        AuditAction.SITE_ADDED,
        actor=actor,
        account_id=account_id,
        details={"site_id": site.id},
    )
    return site


async def insert_site(
    session: AsyncSession,
    account_id: int,
    domain: str,
    *,
    timezone: str,
    visitor_mode: VisitorMode,
    ip_policy: IpPolicy,
    excluded_ips: Iterable[str],
    excluded_paths: Iterable[str],
    hash_routing: bool,
    respect_do_not_track: bool,
    retention_days: int | None,
) -> Site:
    """Store a new site without an audit entry, every setting given (the defaults are
    `add_site`'s): for the acts that write their own entry (`add_site`, a claim in
    `ot.sites.claims`)."""
    await get_account(session, account_id)
    domain = normalise_domain(domain)
    ips = validate_excluded_ips(excluded_ips)
    site = Site(
        account_id=account_id,
        domain=domain,
        timezone=validate_timezone(timezone),
        visitor_mode=VisitorMode(visitor_mode),
        ip_policy=IpPolicy(ip_policy),
        excluded_ips=ips,
        excluded_paths=validate_excluded_paths(excluded_paths),
        hash_routing=hash_routing,
        respect_do_not_track=respect_do_not_track,
        retention_days=validate_retention_days(retention_days),
        verification_token=new_verification_token(),
        created_at=utcnow(),
    )
    if (await session.exec(select(Site).where(Site.domain == domain))).first() is not None:
        raise Conflict(f"a site with the domain {domain} already exists", field="domain")
    session.add(site)
    await session.flush()
    return site


# What a site's owner may change after adding it. The domain stays: a new domain is a new site.
EDITABLE_FIELDS = (
    "timezone",
    "visitor_mode",
    "ip_policy",
    "excluded_ips",
    "excluded_paths",
    "hash_routing",
    "respect_do_not_track",
    "retention_days",
)


def _validated(field: str, value: Any) -> Any:
    if field == "timezone":
        return validate_timezone(value)
    if field == "visitor_mode":
        return VisitorMode(value)
    if field == "ip_policy":
        return IpPolicy(value)
    if field == "excluded_ips":
        return validate_excluded_ips(value)
    if field == "excluded_paths":
        return validate_excluded_paths(value)
    if field == "retention_days":
        return validate_retention_days(value)
    if field in ("hash_routing", "respect_do_not_track"):
        return bool(value)
    raise InvalidInput(f"{field} cannot be changed", field=field)


async def update_site(
    session: AsyncSession, site: Site, changes: dict[str, Any], *, actor: Actor
) -> list[str]:
    """Apply validated changes; returns the names of the fields whose value changed. Nothing is
    changed when any value is refused. The collector sees the change within its cache's ttl."""
    validated = {field: _validated(field, value) for field, value in changes.items()}
    changed = sorted(field for field, value in validated.items() if getattr(site, field) != value)
    for field in changed:
        setattr(site, field, validated[field])
    if changed:
        session.add(site)
        await session.flush()
        await audit.record(
            session,
            AuditAction.SITE_CHANGED,
            actor=actor,
            account_id=site.account_id,
            details={"site_id": site.id, "fields": changed},
        )
    return changed


def _columns_naming_a_site() -> list[Column[Any]]:
    """Every column holding a site's id (a foreign key to `site.id`), dependent tables first.
    Read from the metadata, so tables added later are removed with their site too."""
    columns = [
        key.parent
        for table in every_table()
        for key in table.foreign_keys
        if key.column.table.name == "site" and table.name != "site"
    ]
    return list(reversed(columns))


async def delete_site(session: AsyncSession, site: Site, *, actor: Actor) -> dict[str, int]:
    """Remove a site and everything stored for it (hits, visits, rollups, goals, import
    positions, drop counts), in the caller's transaction; returns the rows removed per table.
    Its pageviews are still billed for their months (`ot.sites.usage`)."""
    from .usage import HIT, add_deleted_pageviews  # the hit table, only when removing a site

    assert site.id is not None
    await add_deleted_pageviews(await session.connection(), HIT.c.site_id == site.id)
    removed: dict[str, int] = {}
    for column in _columns_naming_a_site():
        result = await session.exec(delete(column.table).where(column == site.id))
        removed[column.table.name] = removed.get(column.table.name, 0) + int(result.rowcount)
    await session.delete(site)
    await session.flush()
    await audit.record(
        session,
        AuditAction.SITE_REMOVED,
        actor=actor,
        account_id=site.account_id,
        details={"site_id": site.id, "removed": removed},
    )
    return removed


async def sites_of_teams(session: AsyncSession, team_ids: Iterable[int]) -> list[Site]:
    """The sites of these accounts, by id."""
    ids = list(team_ids)
    if not ids:
        return []
    query = select(Site).where(col(Site.account_id).in_(ids)).order_by(col(Site.id))
    return list((await session.exec(query)).all())


async def list_sites(session: AsyncSession, account_id: int | None = None) -> list[Site]:
    query = select(Site).order_by(Site.id)  # type: ignore[arg-type]
    if account_id is not None:
        await get_account(session, account_id)
        query = query.where(Site.account_id == account_id)
    return list((await session.exec(query)).all())


async def get_site(session: AsyncSession, reference: str) -> Site:
    """A site by numeric id or domain."""
    if reference.isdigit():
        site = await session.get(Site, int(reference))
    else:
        site = (
            await session.exec(select(Site).where(Site.domain == normalise_domain(reference)))
        ).first()
    if site is None:
        raise NotFound(f"site '{reference}' does not exist", field="site")
    return site


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """What the collector needs to know about a site, prepared once per cache refresh."""

    id: int
    domain: str
    visitor_mode: VisitorMode
    ip_policy: IpPolicy
    excluded_networks: tuple[Network, ...]
    excluded_path_patterns: tuple[re.Pattern[str], ...]
    respect_do_not_track: bool

    @classmethod
    def from_site(cls, site: Site) -> SiteConfig:
        assert site.id is not None
        return cls(
            id=site.id,
            domain=site.domain,
            visitor_mode=VisitorMode(site.visitor_mode),
            ip_policy=IpPolicy(site.ip_policy),
            excluded_networks=parse_networks(site.excluded_ips, field="excluded_ips"),
            excluded_path_patterns=tuple(
                re.compile(fnmatch.translate(pattern)) for pattern in site.excluded_paths
            ),
            respect_do_not_track=site.respect_do_not_track,
        )

    def excludes_path(self, pathname: str) -> bool:
        return any(pattern.match(pathname) for pattern in self.excluded_path_patterns)


class SiteDirectory:
    """The collector's cache of sites by domain and id. Entries (also misses) expire after `ttl`
    seconds, so a site added or changed by an operator is seen without a restart. One query per
    key at a time: when an entry expires under load, the requests that miss it together wait
    for one query instead of each making its own (hundreds at once on a busy server)."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = 30.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._by_domain: dict[str, tuple[float, SiteConfig | None]] = {}
        self._by_id: dict[int, tuple[float, SiteConfig | None]] = {}
        self._loading: dict[str | int, asyncio.Future[SiteConfig | None]] = {}

    async def by_domain(self, domain: str) -> SiteConfig | None:
        key = domain.lower().removeprefix("www.")
        cached = self._by_domain.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await self._load_once(key, lambda: self._load_domain(key))

    async def by_id(self, site_id: int) -> SiteConfig | None:
        cached = self._by_id.get(site_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await self._load_once(site_id, lambda: self._load_id(site_id))

    async def _load_once(
        self, key: str | int, load: Callable[[], Awaitable[SiteConfig | None]]
    ) -> SiteConfig | None:
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(load())
            loading.add_done_callback(partial(self._loaded, key))
        # Shielded: a request that gives up (its client left) does not cancel the others' query.
        return await asyncio.shield(loading)

    def _loaded(self, key: str | int, loading: asyncio.Future[SiteConfig | None]) -> None:
        del self._loading[key]
        if not loading.cancelled():
            loading.exception()  # retrieved: its waiters may all have left (they raise it)

    async def _load_domain(self, key: str) -> SiteConfig | None:
        async with AsyncSession(self._engine) as session:
            site = (await session.exec(select(Site).where(Site.domain == key))).first()
        return self._remember(site, domain_key=key)

    async def _load_id(self, site_id: int) -> SiteConfig | None:
        async with AsyncSession(self._engine) as session:
            site = await session.get(Site, site_id)
        return self._remember(site, site_id=site_id)

    def _remember(
        self, site: Site | None, *, domain_key: str | None = None, site_id: int | None = None
    ) -> SiteConfig | None:
        config = SiteConfig.from_site(site) if site is not None else None
        if len(self._by_domain) > MAX_CACHED_SITES or len(self._by_id) > MAX_CACHED_SITES:
            self._by_domain.clear()
            self._by_id.clear()
        expires = time.monotonic() + self._ttl
        if config is not None:
            self._by_domain[config.domain] = (expires, config)
            self._by_id[config.id] = (expires, config)
        if domain_key is not None:
            self._by_domain[domain_key] = (expires, config)
        if site_id is not None:
            self._by_id[site_id] = (expires, config)
        return config
