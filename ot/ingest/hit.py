"""The two shapes a hit takes on the write path: as a tracker sent it, and enriched for storage."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal

PAGEVIEW = "pageview"


@dataclass(slots=True)
class Revenue:
    """Money attached to a custom event (Plausible's `revenue`, a Matomo order)."""

    amount: Decimal
    currency: str  # ISO 4217, upper case


@dataclass(slots=True)
class IncomingHit:
    """One hit as a tracker sent it, after validation and before enrichment.

    Exactly one of `domains` (Plausible: the site's domain, possibly several) or `site_id`
    (Matomo: the numeric site id) names the site(s) the hit is for.
    """

    name: str  # PAGEVIEW or a custom event name
    url: str  # absolute http(s) URL of the page
    user_agent: str
    ip: str  # the client address, already resolved through trusted proxies
    domains: tuple[str, ...] = ()
    site_id: int | None = None
    referrer: str | None = None
    props: dict[str, str] = field(default_factory=dict)
    revenue: Revenue | None = None
    interactive: bool = True  # a non-interactive event does not turn a bounce into a visit
    hash_routing: bool = False  # keep the URL fragment as part of the path (SPA hash routing)
    client_visitor_id: str | None = None  # a first-party id kept by the tracker (cookie mode)
    event_id: str | None = None  # client-made id: a retried hit with the same id counts once
    language: str | None = None
    screen: str | None = None  # "1920x1080"
    timestamp: datetime | None = None  # aware; only when the sender is trusted (Matomo cdt + token)
    do_not_track: bool = False  # the browser sent DNT: 1 or Sec-GPC: 1

    def as_values(self) -> tuple[object, ...]:
        """Its fields in order, as `IncomingHit(*values)` takes them back."""
        return _incoming_values(self)


_incoming_values = operator.attrgetter(*(f.name for f in fields(IncomingHit)))


@dataclass(slots=True)
class EnrichedHit:
    """One enriched hit, ready to be written: every column of the `hit` table but its ids."""

    site_id: int
    timestamp: datetime  # aware, UTC
    name: str
    visitor_id: int  # signed 64-bit
    hostname: str
    pathname: str
    query: str  # allowlisted parameters only, "" when none
    referrer: str  # referring URL without query, "" when direct
    referrer_source: str  # "Google", "Facebook", "example.org", "Direct / None"
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # "Desktop" | "Mobile" | "Tablet"
    country: str  # ISO 3166-1 alpha-2, "" when unknown
    region: str
    city: str
    language: str
    screen: str
    props: dict[str, str]
    revenue_amount: Decimal | None
    revenue_currency: str
    interactive: bool
    event_id: str | None
    ip_encrypted: str | None  # what the site's IP policy keeps, encrypted; None for policy `none`
    http_status: int | None = None  # imported access-log lines only
    response_bytes: int | None = None  # imported access-log lines only


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """How much a tracker may send in one request; the server builds one from its settings.

    Prop keys and values and URLs are measured in UTF-8 bytes (as Plausible does, and because
    storage is bytes); event names in characters. Ids are ASCII, so both measures agree.
    """

    max_body_bytes: int = 64 * 1024
    max_props: int = 30
    max_prop_key_length: int = 300
    max_prop_value_length: int = 2000
    max_event_name_length: int = 120
    max_url_length: int = 2048
    max_bulk_requests: int = 100
    max_event_id_length: int = 64
    max_visitor_id_length: int = 64
    max_domains: int = 10  # one hit is written per listed domain: bound the fan-out
