"""Empty values as Plausible shows them, and which stored values a filter on a shown label
means: so that Plausible's clients render our answers as they render Plausible's.

What Plausible answers (plausible/analytics, `lib/plausible/stats/sql/expression.ex`): an empty
source or referrer is "Direct / None"; empty UTM values, browser, browser version, OS, OS
version and device are "(not set)"; an event without a custom property has "(none)"; a page URL
without a host is stored with the hostname "(none)". Unknown countries, regions and cities are
not shown: its v1 breakdown (`lib/plausible/stats/legacy/breakdown.ex`), its dashboard and its
CSV export filter them out (its v2 API answers the storage's placeholders, "\\0\\0", "" and 0,
which no client can show). Its v1 breakdown also leaves out empty UTM values and entry and exit
pages. Filters (`lib/plausible/stats/sql/where_builder.ex`): `is` and `is_not` "(not set)" match
the empty value of any dimension, and "Direct / None" that of source, referrer and UTMs.
"""

from __future__ import annotations

DIRECT = "Direct / None"
NOT_SET = "(not set)"
NO_VALUE = "(none)"

_UTMS = tuple(f"visit:utm_{name}" for name in ("source", "medium", "campaign", "content", "term"))
EMPTY_SHOWN_AS = {
    "visit:source": DIRECT,
    "visit:referrer": DIRECT,
    **dict.fromkeys(_UTMS, NOT_SET),
    **{
        f"visit:{name}": NOT_SET
        for name in ("browser", "browser_version", "os", "os_version", "device")
    },
    "event:hostname": NO_VALUE,
}
# Rows left out of every answer when their value is unknown (empty).
UNKNOWN_PLACES = ("visit:country", "visit:region", "visit:city")
# Rows the Stats API v1 also leaves out of a breakdown when their value is empty.
LEFT_OUT_OF_V1_BREAKDOWNS = (*UNKNOWN_PLACES, *_UTMS, "visit:entry_page", "visit:exit_page")
# The labels a filter may name for the empty value of a dimension.
_LABELS_OF_EMPTY = {
    **{dimension: {NOT_SET} for dimension in EMPTY_SHOWN_AS},
    **{dimension: {NOT_SET} for dimension in LEFT_OUT_OF_V1_BREAKDOWNS},
    **{dimension: {NOT_SET, DIRECT} for dimension in ("visit:source", "visit:referrer", *_UTMS)},
    "event:hostname": {NOT_SET, NO_VALUE},
}


def shown(dimension: str, value: str) -> str:
    """A stored value as answers show it."""
    return EMPTY_SHOWN_AS.get(dimension, value) if value == "" else value


def stored_values(
    dimension: str, values: tuple[str, ...], *, case_sensitive: bool
) -> tuple[str, ...]:
    """The values an `is` filter matches: those given, and the empty value wherever one of
    them is a label of it ("Direct / None" also matches a source stored as that text)."""
    labels = _LABELS_OF_EMPTY.get(dimension, set())
    if not case_sensitive:
        labels = {label.lower() for label in labels}
        named = any(value.lower() in labels for value in values)
    else:
        named = any(value in labels for value in values)
    return (*values, "") if named and "" not in values else values
