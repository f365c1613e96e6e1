"""What the dashboard shows: a site, a period, a comparison and the active filters, and the Stats
API queries (`ot.api.stats.StatsQuery`) that answer it. Pure data: screens and panels build their
queries here, so the whole dashboard always agrees on what it is showing."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ot.api.sites import SiteOut
from ot.api.stats import StatsQuery


class PeriodKind(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    THIS_MONTH = "month"
    LAST_MONTH = "last_month"
    LAST_6_MONTHS = "6mo"
    LAST_12_MONTHS = "12mo"
    CUSTOM = "custom"


PERIOD_LABELS = {
    PeriodKind.TODAY: "Today",
    PeriodKind.YESTERDAY: "Yesterday",
    PeriodKind.LAST_7_DAYS: "Last 7 days",
    PeriodKind.LAST_30_DAYS: "Last 30 days",
    PeriodKind.THIS_MONTH: "This month",
    PeriodKind.LAST_MONTH: "Last month",
    PeriodKind.LAST_6_MONTHS: "Last 6 months",
    PeriodKind.LAST_12_MONTHS: "Last 12 months",
    PeriodKind.CUSTOM: "Custom",
}


@dataclass(frozen=True)
class Period:
    """A period of whole days in the site's time zone, first and last day included."""

    kind: PeriodKind
    first_day: date
    last_day: date

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.CUSTOM:
            return f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"
        return PERIOD_LABELS[self.kind]

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def time_dimension(self) -> str:
        """The chart's buckets: hours for one day, days up to a quarter, then months."""
        if self.days == 1:
            return "time:hour"
        return "time:day" if self.days <= 92 else "time:month"

    def date_range(self) -> list[str]:
        return [self.first_day.isoformat(), self.last_day.isoformat()]


def period_of(kind: PeriodKind, today: date) -> Period:
    """The named period ending today (or before it), as Plausible's dashboard counts them."""
    if kind is PeriodKind.TODAY:
        return Period(kind, today, today)
    if kind is PeriodKind.YESTERDAY:
        yesterday = today - timedelta(days=1)
        return Period(kind, yesterday, yesterday)
    if kind is PeriodKind.LAST_7_DAYS:
        return Period(kind, today - timedelta(days=6), today)
    if kind is PeriodKind.LAST_30_DAYS:
        return Period(kind, today - timedelta(days=29), today)
    if kind is PeriodKind.THIS_MONTH:
        return Period(kind, today.replace(day=1), today)
    if kind is PeriodKind.LAST_MONTH:
        last_day = today.replace(day=1) - timedelta(days=1)
        return Period(kind, last_day.replace(day=1), last_day)
    if kind is PeriodKind.LAST_6_MONTHS:
        return Period(kind, _months_before(today, 5).replace(day=1), today)
    if kind is PeriodKind.LAST_12_MONTHS:
        return Period(kind, _months_before(today, 11).replace(day=1), today)
    raise ValueError("a custom period needs its days: use custom_period")


def custom_period(first_day: date, last_day: date) -> Period:
    if last_day < first_day:
        raise ValueError(f"the period ends ({last_day}) before it starts ({first_day})")
    return Period(PeriodKind.CUSTOM, first_day, last_day)


def today_in(timezone: str, now: datetime) -> date:
    """Today's date in the site's time zone (days are counted there)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    return day.replace(
        year=year, month=month + 1, day=min(day.day, calendar.monthrange(year, month + 1)[1])
    )


class Comparison(StrEnum):
    NONE = "none"
    PREVIOUS_PERIOD = "previous_period"
    YEAR_OVER_YEAR = "year_over_year"


# The order `c` cycles through.
COMPARISON_CYCLE = (Comparison.NONE, Comparison.PREVIOUS_PERIOD, Comparison.YEAR_OVER_YEAR)


def next_comparison(current: Comparison) -> Comparison:
    return COMPARISON_CYCLE[(COMPARISON_CYCLE.index(current) + 1) % len(COMPARISON_CYCLE)]


COMPARISON_LABELS = {
    Comparison.NONE: "no comparison",
    Comparison.PREVIOUS_PERIOD: "vs previous period",
    Comparison.YEAR_OVER_YEAR: "vs a year ago",
}


@dataclass(frozen=True)
class Filter:
    """`dimension is value`: set by selecting a row of a panel."""

    dimension: str
    value: str

    def as_query(self) -> list[Any]:
        return ["is", self.dimension, [self.value]]


@dataclass(frozen=True)
class DashboardView:
    """One state of the dashboard; every change makes a new one (it is never mutated)."""

    site_id: int
    domain: str
    timezone: str
    period: Period
    comparison: Comparison = Comparison.PREVIOUS_PERIOD
    filters: tuple[Filter, ...] = field(default_factory=tuple)
    # Cookieless sites cannot link a visitor from one day to the next: over several days their
    # visitors are the sum of each day's (the API says so; the dashboard labels it).
    cookieless: bool = False

    def with_period(self, period: Period) -> DashboardView:
        return replace(self, period=period)

    def with_comparison(self, comparison: Comparison) -> DashboardView:
        return replace(self, comparison=comparison)

    def with_filter(self, new: Filter) -> DashboardView:
        """Filter on `new`, replacing any filter on the same dimension."""
        kept = tuple(existing for existing in self.filters if existing.dimension != new.dimension)
        return replace(self, filters=(*kept, new))

    def without_filter(self, old: Filter) -> DashboardView:
        return replace(self, filters=tuple(kept for kept in self.filters if kept != old))

    def without_filters(self) -> DashboardView:
        return replace(self, filters=())

    @property
    def visitors_are_daily_sums(self) -> bool:
        return self.cookieless and self.period.days > 1

    def query(
        self,
        metrics: list[str],
        dimensions: list[str] | None = None,
        *,
        extra_filters: list[list[Any]] | None = None,
        order_by: list[list[str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
        compare: bool = True,
        time_labels: bool = False,
    ) -> StatsQuery:
        """The Stats API query for this view: its period, its filters (and `extra_filters`,
        such as a search), compared as the view says unless `compare` is False."""
        filters = [active.as_query() for active in self.filters] + (extra_filters or [])
        include: dict[str, Any] = {}
        if compare and self.comparison is not Comparison.NONE:
            include["comparisons"] = {"mode": self.comparison.value}
        if time_labels:
            include["time_labels"] = True
        pagination = {"limit": limit, "offset": offset} if limit is not None else None
        return StatsQuery(
            site_id=self.domain,
            metrics=metrics,
            date_range=self.period.date_range(),
            dimensions=dimensions or None,
            filters=filters or None,
            order_by=order_by,
            include=include or None,
            pagination=pagination,
        )


def view_of_site(
    site: SiteOut, today: date, kind: PeriodKind = PeriodKind.LAST_30_DAYS
) -> DashboardView:
    """A site's dashboard as it opens: the last 30 days against the 30 before, unfiltered."""
    return DashboardView(
        site_id=site.id,
        domain=site.domain,
        timezone=site.timezone,
        period=period_of(kind, today),
        # `ot.privacy.VisitorMode.COOKIELESS` (the TUI may not import the core).
        cookieless=str(site.visitor_mode) == "cookieless",
    )


# --- how figures read --------------------------------------------------------------------------

METRIC_LABELS = {
    "visitors": "Unique visitors",
    "visits": "Total visits",
    "pageviews": "Total pageviews",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
    "events": "Total events",
    "conversion_rate": "Conversion rate",
    "percentage": "Share",
}
# Metrics whose rise is bad news: their change is coloured the other way round.
LOWER_IS_BETTER = frozenset({"bounce_rate"})
PERCENT_METRICS = frozenset({"bounce_rate", "conversion_rate", "percentage"})


def format_count(value: float) -> str:
    """1234 → 1.2k, 1_500_000 → 1.5M (as Plausible shortens its figures)."""
    size = abs(value)
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if size >= limit:
            shortened = f"{value / limit:.1f}".removesuffix(".0")
            return f"{shortened}{suffix}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def format_duration(seconds: float) -> str:
    """75 → 1m 15s; 3725 → 1h 02m; 42 → 42s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_metric(metric: str, value: object) -> str:
    """A metric's value as the dashboard shows it, with its unit."""
    if value is None:
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    if metric == "visit_duration":
        return format_duration(value)
    if metric in PERCENT_METRICS:
        return f"{format_count(round(value, 1))} %"
    if metric == "views_per_visit":
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return format_count(value)


def change_direction(metric: str, change: object) -> int:
    """+1 good news, -1 bad news, 0 no change or nothing to compare."""
    if not isinstance(change, int | float) or change == 0:
        return 0
    better = change > 0
    if metric in LOWER_IS_BETTER:
        better = not better
    return 1 if better else -1


def format_change(metric: str, change: object) -> str:
    """▲ 12 % / ▼ 3 pt / = 0 %: the arrow says the direction without colour. Bounce rate
    changes in percentage points, every other metric in percent (as the API answers)."""
    if not isinstance(change, int | float):
        return ""
    unit = "pt" if metric in LOWER_IS_BETTER else "%"
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f"{arrow} {format_count(abs(round(change, 1)))} {unit}"
