"""The tables of sites: the site with its settings, and its goals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

import ot.models.accounts  # noqa: F401  (the table its foreign keys point to)
from ot.models.columns import enum_column
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode


class Site(SQLModel, table=True):
    """A website whose hits we collect; its numeric id is the Matomo `idsite`."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    domain: str = Field(unique=True, max_length=253)
    timezone: str = "UTC"
    # The privacy defaults are `ot.privacy.DEFAULT_PRIVACY`'s, as everywhere a site is added.
    visitor_mode: VisitorMode = Field(
        default=DEFAULT_PRIVACY.visitor_mode, sa_column=enum_column(VisitorMode)
    )
    ip_policy: IpPolicy = Field(default=DEFAULT_PRIVACY.ip_policy, sa_column=enum_column(IpPolicy))
    excluded_ips: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    excluded_paths: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hash_routing: bool = False
    respect_do_not_track: bool = DEFAULT_PRIVACY.respect_do_not_track
    # Hits older than this many days are deleted by the retention job; None keeps them all.
    retention_days: int | None = DEFAULT_PRIVACY.retention_days
    created_at: datetime
    # Control of the domain, shown by a DNS TXT record or a file holding the token.
    verification_token: str | None = None
    verified_at: datetime | None = None


class GoalKind(StrEnum):
    """What completes a goal."""

    PAGE = "page"  # a pageview whose path matches a pattern (`*` within a segment, `**` across)
    EVENT = "event"  # a custom event of a given name ("Signup", "Outbound Link: Click", "404")


class Goal(SQLModel, table=True):
    """Something a site's owner wants visitors to do; conversions are counted per goal."""

    __table_args__ = (UniqueConstraint("site_id", "display_name", name="ux_goal_site_name"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    kind: GoalKind = Field(sa_column=enum_column(GoalKind))
    # The path pattern of a page goal, or the event name of an event goal.
    target: str
    display_name: str
    created_at: datetime
