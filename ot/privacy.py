"""The per-site privacy choices a customer makes about their visitors, what they mean, and
the one place a new site's defaults are decided (`DEFAULT_PRIVACY`). Standard library only:
every layer reads it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VisitorMode(StrEnum):
    """How visitors are told apart."""

    COOKIE = "cookie"
    """The tracker keeps a random first-party id; uniques are exact across days."""

    COOKIELESS = "cookieless"
    """A hash of a daily-rotating salt, site, IP and User-Agent; nothing stored on the device,
    and ids cannot be linked across days once the salt is deleted."""


class IpPolicy(StrEnum):
    """What is kept of a visitor's IP address with each hit."""

    FULL = "full"
    TRUNCATED = "truncated"  # IPv4 /24, IPv6 /48
    NONE = "none"


@dataclass(frozen=True)
class SitePrivacy:
    """A site's privacy choices: how its visitors are told apart, what is kept of their IP
    addresses, whether a browser's request not to be tracked is honoured, and how long hits are
    kept."""

    visitor_mode: VisitorMode
    ip_policy: IpPolicy
    respect_do_not_track: bool
    """Drop hits of browsers sending Do-Not-Track or Global Privacy Control."""
    retention_days: int | None
    """Hits older than this many days are deleted; None keeps them until the site is removed."""


DEFAULT_PRIVACY = SitePrivacy(
    visitor_mode=VisitorMode.COOKIELESS,
    ip_policy=IpPolicy.TRUNCATED,
    respect_do_not_track=True,
    retention_days=None,
)
"""What a new site starts with, however it is added (the model, `ot.sites.store`, the API and its
OpenAPI document, `ot-admin sites add`): nothing kept on the device, no full IP address,
Do-Not-Track respected, and hits kept until the site is removed."""
