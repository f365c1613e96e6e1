"""Which dimensions are rolled up, and the column each one reads."""

from __future__ import annotations

TOTAL = ""  # the whole site: one row per day
# Pages counted by their pageviews only (custom events on the page left out): page goals.
PAGEVIEW_PAGE = "pageview:page"

# Event dimensions: a value of the hit itself.
HIT_COLUMNS = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname"}
# Visit dimensions: a value of the visit the hit belongs to (its first hit's, or its last page).
VISIT_COLUMNS = {
    "visit:source": "referrer_source",
    **{
        f"visit:{name}": name
        for name in (
            "entry_page", "exit_page", "referrer", "utm_source", "utm_medium", "utm_campaign",
            "utm_content", "utm_term", "country", "region", "city", "browser", "browser_version",
            "os", "os_version", "device",
        )
    },
}  # fmt: skip

ROLLED = frozenset({TOTAL, PAGEVIEW_PAGE, *HIT_COLUMNS, *VISIT_COLUMNS})
