"""A breakdown's cells as people read them: metrics with their units and thousands separators,
and a bar showing each row's share of the largest."""

from __future__ import annotations

PERCENT_METRICS = frozenset({"bounce_rate", "percentage", "conversion_rate"})
METRIC_LABELS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "views_per_visit": "Views/visit",
    "bounce_rate": "Bounce",
    "visit_duration": "Duration",
    "events": "Events",
    "conversion_rate": "Conversion",
    "percentage": "Share",
}
BAR_WIDTH = 12
# Eighths of a cell, so short bars still differ (a 1-cell bar and a 1⅜-cell bar).
EIGHTHS = " ▏▎▍▌▋▊▉"


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def formatted(metric: str, value: object) -> str:
    """`1,234`, `42 %`, `2m 05s`, `1.5`: a metric's value with its unit."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "" if value is None else str(value)
    if metric in PERCENT_METRICS:
        return f"{value:g} %"
    if metric == "visit_duration":
        return duration(int(value))
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def bar(value: object, largest: object, width: int = BAR_WIDTH) -> str:
    """A bar as long as `value`'s share of `largest`, in eighths of a cell."""
    if not isinstance(value, int | float) or not isinstance(largest, int | float) or largest <= 0:
        return ""
    eighths = round(max(0.0, min(1.0, value / largest)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(width)
