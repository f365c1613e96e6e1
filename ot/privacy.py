"""The per-site privacy choices a customer makes about their visitors, and what they mean."""

from __future__ import annotations

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
