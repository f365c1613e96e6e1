"""Properties of the limits a grant puts on a query (`ot.grants.fit`, `ot.grants.cells`,
`ot.grants.combine`), over queries, windows and cells that hypothesis makes up: nothing outside
the grant gets through, a grant that hides small counts reads whole cells that have ended, and
every figure it answers is the sum of the cells it covers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.errors import Forbidden
from ot.grants.cells import covered_days
from ot.grants.combine import Cell, answer_from
from ot.grants.fit import check_names, clip_to_window
from ot.models import Grant, Site
from ot.stats.dates import previous_period, resolve_range
from ot.stats.query import METRICS, VISIT_DIMENSIONS, Condition, Query

CHECKS = settings(max_examples=200, deadline=None, database=None)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY_ONE = date(2026, 1, 1)
DIMENSIONS = (*VISIT_DIMENSIONS, "event:page", "time:day")
# No connection is needed unless a query asks for "all" (which these never do).
NO_CONNECTION = cast(AsyncConnection, None)


def _grant(**fields: Any) -> Grant:
    values: dict[str, Any] = {
        "account_id": 1,
        "created_by_account_id": 1,
        "grantee_encrypted": "",
        "purpose_encrypted": "",
        "site_ids": [1],
        "metrics": ["visitors"],
        "dimensions": [],
        "key_hash": "",
        "key_prefix": "",
        "created_at": NOW,
        "expires_at": NOW + timedelta(days=1),
    }
    values.update(fields)
    return Grant(**values)


def _site(zone: str) -> Site:
    return Site(id=1, account_id=1, domain="shop.example", timezone=zone, created_at=NOW)


days = st.integers(min_value=0, max_value=200).map(lambda n: DAY_ONE + timedelta(days=n))


@CHECKS
@given(
    granted_metrics=st.sets(st.sampled_from(METRICS), min_size=1),
    granted_dimensions=st.sets(st.sampled_from(DIMENSIONS)),
    metrics=st.lists(st.sampled_from(METRICS), min_size=1, max_size=4, unique=True),
    dimensions=st.lists(st.sampled_from(DIMENSIONS), max_size=2, unique=True),
    filtered=st.lists(st.sampled_from(DIMENSIONS[:-1]), max_size=2),
)
def test_a_query_naming_anything_outside_its_grant_is_refused(
    granted_metrics: set[str],
    granted_dimensions: set[str],
    metrics: list[str],
    dimensions: list[str],
    filtered: list[str],
) -> None:
    grant = _grant(metrics=sorted(granted_metrics), dimensions=sorted(granted_dimensions))
    query = Query(
        metrics=tuple(metrics),
        date_range="7d",
        dimensions=tuple(dimensions),
        filters=tuple(Condition("is", d, ("x",)) for d in filtered),
    )
    inside = (
        set(metrics) <= granted_metrics
        and set(dimensions) <= granted_dimensions
        and set(filtered) <= granted_dimensions
    )
    if inside:
        check_names(grant, query)
    else:
        with pytest.raises(Forbidden):
            check_names(grant, query)


@CHECKS
@given(
    window=st.tuples(st.none() | days, st.none() | days),
    asked=st.tuples(days, days),
    zone=st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata"]),
    compare=st.booleans(),
)
async def test_a_query_never_reads_a_day_outside_the_grants_window(
    window: tuple[date | None, date | None],
    asked: tuple[date, date],
    zone: str,
    compare: bool,
) -> None:
    date_from, date_to = window
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    first, last = sorted(asked)
    grant = _grant(date_from=date_from, date_to=date_to)
    query = Query(
        metrics=("visitors",),
        date_range=(first, last),
        comparison="previous_period" if compare else None,
    )
    try:
        fitted, clipped = await clip_to_window(NO_CONNECTION, grant, _site(zone), query, now=NOW)
    except Forbidden as error:
        assert error.field in ("date_range", "include")
        return
    read = resolve_range(fitted.date_range, ZoneInfo(zone), now=NOW)
    assert date_from is None or read.first_day >= date_from
    assert date_to is None or read.last_day <= date_to
    assert first <= read.first_day and read.last_day <= last
    assert clipped == ((read.first_day, read.last_day) != (first, last))
    if compare and date_from is not None:
        assert previous_period(read).first_day >= date_from


def _unit_of(day: date, unit: str) -> tuple[date, date]:
    """The first and last day of the day, week (from Monday) or month holding `day`."""
    if unit == "day":
        return day, day
    if unit == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    start = day.replace(day=1)
    return start, (start + timedelta(days=31)).replace(day=1) - timedelta(days=1)


@CHECKS
@given(
    window=st.tuples(st.none() | days, st.none() | days),
    asked=st.tuples(days, days),
    unit=st.sampled_from(["day", "week", "month"]),
    zone=st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata"]),
    today=days,
)
def test_a_grant_that_hides_small_counts_reads_whole_cells_that_have_ended(
    window: tuple[date | None, date | None],
    asked: tuple[date, date],
    unit: str,
    zone: str,
    today: date,
) -> None:
    date_from, date_to = window
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    first, last = sorted(asked)
    grant = _grant(date_from=date_from, date_to=date_to, min_visitors=2)
    now = datetime.combine(today, datetime.min.time(), ZoneInfo(zone)) + timedelta(hours=12)
    read = covered_days(grant, unit, resolve_range((first, last), ZoneInfo(zone), now=now), now)

    def readable(day: date) -> bool:
        """Inside the window, in a cell (a unit cut by the window) wholly inside the asked
        range that has ended."""
        if (date_from and day < date_from) or (date_to and day > date_to):
            return False
        start, end = _unit_of(day, unit)
        start, end = max(start, date_from or start), min(end, date_to or end)
        return first <= start and end <= last and end < today

    span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    expected = [day for day in span if readable(day)]
    if not expected:
        assert read is None
        return
    # Cells are contiguous, so the days read are one range: exactly the readable days.
    assert read == (expected[0], expected[-1])
    assert len(expected) == (expected[-1] - expected[0]).days + 1


PAGES = ("/", "/a", "/b")
BROWSERS = ("Firefox", "Chrome")
counts = st.integers(min_value=1, max_value=50)
cells = st.lists(
    st.builds(
        lambda day, page, browser, visitors, pageviews: Cell(
            DAY_ONE + timedelta(days=day),
            (page, browser),
            {"visitors": visitors, "pageviews": visitors + pageviews, "visits": visitors},
        ),
        st.integers(min_value=0, max_value=40),
        st.sampled_from(PAGES),
        st.sampled_from(BROWSERS),
        counts,
        counts,
    ),
    max_size=30,
    unique_by=lambda cell: (cell.start, cell.values),
)


@CHECKS
@given(
    found=cells,
    dimensions=st.lists(
        st.sampled_from(["event:page", "visit:browser", "time:day", "time:week", "time:month"]),
        max_size=2,
        unique=True,
    ).filter(lambda names: sum(name.startswith("time") for name in names) <= 1),
)
def test_every_figure_is_the_sum_of_the_cells_it_covers(
    found: list[Cell], dimensions: list[str]
) -> None:
    query = Query(metrics=("pageviews", "visitors"), date_range="all", dimensions=tuple(dimensions))
    period = resolve_range((DAY_ONE, DAY_ONE + timedelta(days=40)), ZoneInfo("UTC"), now=NOW)
    cell_dimensions = ("event:page", "visit:browser")
    result = answer_from(query, "shop.example", cell_dimensions, period, found, None)
    expected: dict[tuple[str, ...], list[int]] = {}
    for cell in found:
        key = tuple(
            cell.values[cell_dimensions.index(name)]
            if name in cell_dimensions
            else _unit_of(cell.start, name.removeprefix("time:"))[0].isoformat()
            for name in dimensions
        )
        sums = expected.setdefault(key, [0, 0])
        sums[0] += int(cell.counts["pageviews"])
        sums[1] += int(cell.counts["visitors"])
    if not dimensions:
        expected.setdefault((), [0, 0])
    assert {tuple(row.dimensions): row.metrics for row in result.rows} == expected
    assert result.total_rows == len(expected)
    assert result.totals == [
        sum(int(cell.counts["pageviews"]) for cell in found),
        sum(int(cell.counts["visitors"]) for cell in found),
    ]
