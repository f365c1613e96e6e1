"""`/ot/v1/sites`: the domains of the caller's teams and their settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StringConstraints

from ot.api.common import Model, ObjectId, Strict
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode

# Kept equal to `ot.sites.store`'s (tests/test_client.py checks they agree).
MAX_EXCLUDED_IPS = 100
MAX_EXCLUDED_PATHS = 100
MAX_RETENTION_DAYS = 3660

IpText = Annotated[str, StringConstraints(max_length=64)]
PathPattern = Annotated[str, StringConstraints(max_length=500)]
RetentionDays = Annotated[StrictInt, Field(ge=1, le=MAX_RETENTION_DAYS)]


class SiteSettingsIn(Strict):
    """What a site's owner configures; in a change, only the fields sent are changed. A new
    site's privacy defaults are `ot.privacy.DEFAULT_PRIVACY`'s (and so `openapi.json`'s)."""

    timezone: str = Field(
        default="UTC", max_length=64, description="The IANA time zone days are counted in."
    )
    visitor_mode: VisitorMode = Field(
        default=DEFAULT_PRIVACY.visitor_mode, description="How visitors are told apart."
    )
    ip_policy: IpPolicy = Field(
        default=DEFAULT_PRIVACY.ip_policy, description="What is kept of visitors' IP addresses."
    )
    excluded_ips: list[IpText] = Field(
        default_factory=list,
        max_length=MAX_EXCLUDED_IPS,
        description="Addresses or networks whose hits are not counted.",
    )
    excluded_paths: list[PathPattern] = Field(
        default_factory=list,
        max_length=MAX_EXCLUDED_PATHS,
        description="Path patterns (`*`, `**`) whose hits are not counted.",
    )
    hash_routing: StrictBool = Field(
        default=False, description="Whether the part after `#` names the page (single-page apps)."
    )
    respect_do_not_track: StrictBool = Field(
        default=DEFAULT_PRIVACY.respect_do_not_track,
        description="Whether browsers sending Do-Not-Track are left uncounted.",
    )
    retention_days: RetentionDays | None = Field(
        default=DEFAULT_PRIVACY.retention_days,
        description="How many days raw hits are kept; null keeps them until the site is removed.",
    )


class NewSite(SiteSettingsIn):
    domain: str = Field(min_length=1, max_length=253, description="The site's domain name.")
    team_id: ObjectId | None = Field(
        default=None, description="The team the site belongs to; default: my account."
    )


class Verification(Model):
    """Where to publish the token that proves control of the domain: either place will do."""

    token: str = Field(description="The token to publish.")
    file_url: str = Field(description="Serve the token as plain text here,")
    dns_name: str = Field(description="or publish a TXT record here (or at the domain itself)")
    dns_value: str = Field(description="holding this.")


class SiteOut(Model):
    id: int = Field(description="The site's id.")
    account_id: int = Field(description="The team (account) the site belongs to.")
    domain: str = Field(description="The site's domain name.")
    timezone: str = Field(description="The IANA time zone days are counted in.")
    visitor_mode: VisitorMode = Field(description="How visitors are told apart.")
    ip_policy: IpPolicy = Field(description="What is kept of visitors' IP addresses.")
    excluded_ips: list[str] = Field(description="Addresses or networks not counted.")
    excluded_paths: list[str] = Field(description="Path patterns not counted.")
    hash_routing: bool = Field(description="Whether the part after `#` names the page.")
    respect_do_not_track: bool = Field(description="Whether Do-Not-Track is respected.")
    retention_days: int | None = Field(description="Days raw hits are kept; null: until removal.")
    created_at: datetime = Field(description="When the site was added.")
    verified_at: datetime | None = Field(description="When control of the domain was proven.")
    verification: Verification | None = Field(
        description="Where to publish the site's token to verify it, once one was made."
    )
    snippet: str = Field(description="The HTML that tracks the site, for its pages' <head>.")


class SiteList(Model):
    sites: list[SiteOut] = Field(description="The sites of the caller's teams.")


class VerifyOut(Model):
    verified: bool = Field(description="Whether the site is verified now.")
    method: str | None = Field(
        description="How it was verified by this request: dns_txt or html_file."
    )
    verified_at: datetime | None = Field(description="When it was verified.")
    hint: str = Field(description="What to do next, for people.")


class ClaimOut(Model):
    claimed: bool = Field(description="Whether the domain is the team's now.")
    site: SiteOut | None = Field(description="The team's new, verified site, once claimed.")
    proof: Verification = Field(description="Where to publish the claim's token.")
    hint: str = Field(description="What to do next, for people.")


class Removed(Model):
    removed: dict[str, int] = Field(description="Rows deleted, per table.")
