"""The goals of a site over HTTP (`/ot/v1/sites/{site_id}/goals`): what a customer's UI sends to
add one and what it reads back. A goal is a page reached or a custom event sent; conversions are
counted per goal."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from ot.api.common import Model


class NewGoal(Model):
    """A goal to add: either `page` or `event`, and perhaps the name it is shown by."""

    model_config = ConfigDict(extra="forbid")

    page: str | None = Field(
        default=None,
        max_length=500,
        description="A path the visitor reaches, starting with '/': '/thanks', '/blog/*' (any "
        "one segment) or '/blog/**' (any depth). Give either page or event.",
    )
    event: str | None = Field(
        default=None,
        max_length=120,
        description="A custom event's name: 'Signup', 'Outbound Link: Click', "
        "'File Download', '404'. Give either page or event.",
    )
    name: str | None = Field(
        default=None,
        max_length=120,
        description="How the goal is shown, unique within the site; by default 'Visit <page>' "
        "or the event's name.",
    )


class GoalOut(Model):
    """One goal of a site."""

    id: int = Field(description="The goal's id, which removes it.")
    kind: Literal["page", "event"] = Field(
        description="'page': a pageview whose path matches `target`; 'event': a custom event "
        "named `target`."
    )
    target: str = Field(description="The page's path pattern or the event's name.")
    name: str = Field(description="How the goal is shown, unique within the site.")
    created_at: datetime = Field(description="When the goal was added (UTC).")


class GoalList(Model):
    """The goals of a site, oldest first."""

    goals: list[GoalOut] = Field(description="Every goal of the site, oldest first.")
