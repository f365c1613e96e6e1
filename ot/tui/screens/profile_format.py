"""How the profile's screens write moments, regions and codes for people."""

from __future__ import annotations

from datetime import datetime

from ot.api.accounts import Region

# Where each region's data is hosted, in the words the consent checkbox uses.
REGION_NAMES: dict[str, str] = {"nl": "the Netherlands (EU)", "us": "the United States"}
REGIONS: tuple[Region, ...] = ("nl", "us")


def region_name(region: str | None) -> str:
    if region is None:
        return "not chosen"
    return REGION_NAMES.get(region, region)


def moment(at: datetime | None) -> str:
    """A moment to the minute, in UTC (the server's zone, said so)."""
    if at is None:
        return "—"
    return at.strftime("%Y-%m-%d %H:%M UTC")


def day(at: datetime) -> str:
    return at.strftime("%d %B %Y").lstrip("0")


def shown(value: str | None) -> str:
    """A field's value, with an empty one said as such rather than left blank."""
    return value if value else "(empty)"


def grouped(secret: str, size: int = 4, per_line: int = 4) -> str:
    """A long code in groups of four, four groups a line: easier to copy by hand (authenticator
    apps ignore the spaces)."""
    groups = [secret[start : start + size] for start in range(0, len(secret), size)]
    return "\n".join(
        " ".join(groups[start : start + per_line]) for start in range(0, len(groups), per_line)
    )
