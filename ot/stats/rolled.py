"""The engine's sums from rollups (ot.rollups) instead of raw hits, where a query allows it.

A query is answered from rollups when it has no filters, covers whole local days, and groups by
at most one rolled dimension (or goals) and at most one time dimension by day, week or month.
Its days up to the last one the rollups hold exactly (see `ot.rollups.read.current_through`)
come from rollups, the days after it (today, whatever arrived since the last rollup run) from
`hit` and `visit`, united with them (`Fresh`). Everything else reads `hit` and `visit` alone.
All ways give the same numbers (tests/test_stats_rollups.py holds them to it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from ot.models import Goal, GoalKind
from ot.rollups.dimensions import HIT_COLUMNS, PAGEVIEW_PAGE, TOTAL, VISIT_COLUMNS
from ot.rollups.read import Fresh, Keep, Sums, read_sums
from ot.stats.dates import TimeRange, buckets, day_start, unit_of
from ot.stats.goals import literal_starts, page_pattern_regex
from ot.stats.query import GOAL, TIME_DIMENSIONS, Condition, Filter, Not, Query

Key = tuple[str, ...]
# Fills in the visitors and visits of these keys of the fresh days (see ot.rollups.read.FreshSets),
# keyed like the answer.
FreshSets = Callable[[Collection[Key]], None]
ROLLED_DIMENSIONS = frozenset({*HIT_COLUMNS, *VISIT_COLUMNS, GOAL})
ROLLED_UNITS = frozenset({"day", "week", "month"})


def last_rolled_day(
    query: Query, dimensions: tuple[str, ...], time_range: TimeRange, rolled_through: date | None
) -> date | None:
    """The last day of the range to read from rollups (the days after it are read from the raw
    tables), or None when the query cannot use rollups at all."""
    if rolled_through is None or rolled_through < time_range.first_day:
        return None
    whole_days = time_range.start == day_start(
        time_range.first_day, time_range.zone
    ) and time_range.end == day_start(time_range.last_day + timedelta(days=1), time_range.zone)
    if not whole_days:
        return None
    times = [d for d in dimensions if d in TIME_DIMENSIONS]
    others = [d for d in dimensions if d not in TIME_DIMENSIONS]
    if len(times) > 1 or len(others) > 1:
        return None
    if times and unit_of(times[0], time_range) not in ROLLED_UNITS:
        return None
    if not all(d in ROLLED_DIMENSIONS for d in others):
        return None
    # The one filter rollups apply: leaving the grouped dimension's empty value out.
    allowed = leaving_out_empty(others[0]) if others else None
    if any(item != allowed for item in query.filters):
        return None
    return min(rolled_through, time_range.last_day)


def leaving_out_empty(dimension: str) -> Filter:
    """The filter that leaves a dimension's empty value out (see ot.stats.labels)."""
    return Not(Condition("is", dimension, ("",)))


def leaves_out_empty(query: Query, dimension: str | None) -> bool:
    return dimension is not None and leaving_out_empty(dimension) in query.filters


async def sums_from_rollups(
    connection: AsyncConnection,
    site_id: int,
    dimensions: tuple[str, ...],
    time_range: TimeRange,
    goals: tuple[Goal, ...],
    *,
    through: date,
    needs_hits: bool,
    needs_visits: bool,
    daily_visitors: bool,
    exact_visits: bool,
    top: int | None = None,
    only: Collection[str] | None = None,
    fresh: Mapping[Key, Fresh] | None = None,
    fresh_sets: FreshSets | None = None,
    keep_empty: bool = True,
) -> tuple[dict[Key, Sums], int]:
    """Sums per key (values in the order of `dimensions`) and the number of keys, from the
    rollups of the range's days up to `through` and the raw tables' `fresh` sums of the days
    after it (keyed like the answer; `fresh_sets` fills in their visitors and visits). `top`
    asks for the keys that can rank among the first `top` by visitors; `only` for those values
    of the dimension (a comparison's previous period)."""
    time_dimension = next((d for d in dimensions if d in TIME_DIMENSIONS), None)
    dimension = next((d for d in dimensions if d not in TIME_DIMENSIONS), None)
    bucket_of = _bucket_labels(time_dimension, time_range) if time_dimension else None
    # The fresh sums keyed as the rollups are: (time bucket or "", value or "").
    pending: dict[tuple[str, str], Fresh] = {}
    answer_keys: dict[tuple[str, str], Key] = {}
    for key, extra in (fresh or {}).items():
        named = dict(zip(dimensions, key, strict=True))
        value = named.get(dimension, "") if dimension else ""
        if only is None or value in only:
            rolled_key = (named.get(time_dimension, "") if time_dimension else "", value)
            pending[rolled_key] = extra
            answer_keys[rolled_key] = key
    pending_sets = None
    if fresh_sets is not None:
        answer_sets = fresh_sets

        def pending_sets(keys: Collection[tuple[str, str]]) -> None:
            answer_sets([answer_keys[key] for key in keys])

    # The raw tables give a row only where a source the metrics need has something.
    keep = Keep(hits=needs_hits, visits=needs_visits, empty=keep_empty)

    async def read(
        rolled: str,
        keys_of: Callable[[str], Sequence[str]] | None = None,
        values: Collection[str] | None = None,
        prefixes: Sequence[str] | None = None,
        names: Collection[str] | None = None,
    ) -> tuple[dict[tuple[str, str], Sums], int]:
        extra = {k: v for k, v in pending.items() if names is None or k[1] in names}
        return await read_sums(
            connection, site_id, rolled, time_range.first_day, through,
            bucket_of=bucket_of, keys_of=keys_of, values=values, prefixes=prefixes,
            exact_visitors=not daily_visitors, exact_visits=exact_visits,
            top=None if daily_visitors else top, keep=keep, fresh=extra, fresh_sets=pending_sets,
        )  # fmt: skip

    found: dict[tuple[str, str], Sums] = {}
    if dimension == GOAL:
        chosen = [goal for goal in goals if only is None or goal.display_name in only]
        page_goals = [
            (goal.display_name, _page_matcher(goal))
            for goal in chosen
            if goal.kind == GoalKind.PAGE
        ]
        event_goals = [goal for goal in chosen if goal.kind != GoalKind.PAGE]
        if page_goals:
            pages, _ = await read(
                PAGEVIEW_PAGE,
                lambda value: [name for name, matches in page_goals if matches(value)],
                prefixes=literal_starts(
                    goal.target for goal in chosen if goal.kind == GoalKind.PAGE
                ),
                names={name for name, _ in page_goals},
            )
            found.update(pages)
        if event_goals:
            events, _ = await read(
                "event:name",
                lambda value: [g.display_name for g in event_goals if g.target == value],
                values={goal.target for goal in event_goals},
                names={goal.display_name for goal in event_goals},
            )
            found.update(events)
        total = len(found)
    else:
        found, total = await read(dimension or TOTAL, values=only)
    result = {
        tuple(bucket if d in TIME_DIMENSIONS else value for d in dimensions): sums
        for (bucket, value), sums in found.items()
    }
    return result, total


def _page_matcher(goal: Goal) -> Callable[[str], bool]:
    """Whether a page completes a page goal (its path pattern, as the raw query matches it)."""
    pattern = re.compile(page_pattern_regex(goal.target))
    return lambda value: pattern.match(value) is not None


def _bucket_labels(dimension: str, time_range: TimeRange) -> Callable[[date], str]:
    labels: dict[date, str] = {}
    for bucket in buckets(unit_of(dimension, time_range), time_range):
        day = bucket.start.astimezone(time_range.zone).date()
        last = (bucket.end - timedelta(microseconds=1)).astimezone(time_range.zone).date()
        while day <= last:
            labels[day] = bucket.label
            day += timedelta(days=1)
    return labels.__getitem__
