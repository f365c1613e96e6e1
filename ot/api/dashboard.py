"""A site's dashboard over HTTP: its traffic at a glance (`/ot/v1/sites/{site_id}/summary`) and
the tracking snippet its pages need (`/ot/v1/sites/{site_id}/snippet`). The summary's figures
are the Stats API's (`/api/v2/query`) for the same period."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from ot.api.common import Model


class Ranked(Model):
    """A page or a traffic source, and its visitors in the period."""

    name: str = Field(description="The page's path, or the source ('Direct / None' for none).")
    visitors: int = Field(description="Unique visitors of the page or source in the period.")


class DashboardSummary(Model):
    """A site's traffic over a period: what the dashboard shows first."""

    site_id: int = Field(description="The site's id.")
    domain: str = Field(description="The site's domain.")
    period: str = Field(description="The period asked for: day, 7d, 30d, month, year, all, ...")
    first_day: date = Field(description="The period's first day, in the site's time zone.")
    last_day: date = Field(description="The period's last day, in the site's time zone.")
    visitors: int = Field(description="Unique visitors in the period.")
    visits: int = Field(description="Visits (sessions) in the period.")
    pageviews: int = Field(description="Pages viewed in the period.")
    bounce_rate: float = Field(description="Percentage of visits that viewed one page only.")
    visit_duration: float = Field(description="The average visit's length, in seconds.")
    events: int = Field(description="Pageviews and custom events in the period.")
    top_pages: list[Ranked] = Field(description="The pages with the most visitors, at most 5.")
    top_sources: list[Ranked] = Field(
        description="The traffic sources with the most visitors, at most 5."
    )
    visitors_are_daily_sums: bool = Field(
        description="True on a cookieless site over several days: its visitors are the sum of "
        "each day's unique visitors (ids do not link one day to the next)."
    )


class Snippet(Model):
    """The tracking snippet of a site, matching its settings."""

    site_id: int = Field(description="The site's id.")
    domain: str = Field(description="The site's domain.")
    snippet: str = Field(
        description="The HTML to paste into the <head> of every page of the site: our script, "
        "and a pixel for browsers without JavaScript."
    )
