"""Properties of the limits a grant puts on a query (`ot.grants.fit`, `ot.grants.reads`), over
queries, windows and results that hypothesis makes up: nothing outside the grant gets through,
and nothing under the small-count threshold is shown."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from ot.errors import Forbidden
from ot.grants.fit import check_names, clip_to_window
from ot.grants.reads import hide_small_counts
from ot.models import Grant, Site
from ot.stats.dates import previous_period, resolve_range
from ot.stats.engine import Comparison, QueryResult, ResultRow
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
    query = Query(metrics=("visitors",), date_range=(first, last), compare_previous_period=compare)
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


counts = st.integers(min_value=0, max_value=20)


@CHECKS
@given(
    rows=st.lists(st.tuples(counts, counts, st.none() | counts), max_size=30),
    threshold=st.integers(min_value=1, max_value=10),
    visitors_asked=st.booleans(),
    offset=st.integers(min_value=0, max_value=5),
    limit=st.integers(min_value=1, max_value=10),
)
def test_no_row_under_the_threshold_is_ever_shown(
    rows: list[tuple[int, int, int | None]],
    threshold: int,
    visitors_asked: bool,
    offset: int,
    limit: int,
) -> None:
    """Rows are (visitors, pageviews, previous visitors); visitors run last when not asked."""
    asked = Query(
        metrics=("pageviews", "visitors") if visitors_asked else ("pageviews",),
        date_range="7d",
        dimensions=("event:page",),
        limit=limit,
        offset=offset,
    )
    result = QueryResult(
        query=asked,
        site_domain="shop.example",
        time_range=resolve_range("7d", ZoneInfo("UTC"), now=NOW),
        rows=[
            ResultRow(
                [f"/{index}"],
                [pageviews, visitors],
                None if then is None else Comparison([f"/{index}"], [0, then], [0, 0]),
            )
            for index, (visitors, pageviews, then) in enumerate(rows)
        ],
        totals=[sum(r[1] for r in rows), sum(r[0] for r in rows)],
        total_rows=len(rows),
    )
    small = hide_small_counts(result, asked, threshold, 1, added=not visitors_asked)
    big = [index for index, row in enumerate(rows) if row[0] >= threshold]
    assert [row.dimensions[0] for row in result.rows] == [
        f"/{index}" for index in big[offset : offset + limit]
    ]
    assert small.rows_hidden == len(rows) - len(big)
    assert result.total_rows == len(big)
    width = 2 if visitors_asked else 1
    for row in result.rows:
        assert len(row.metrics) == width
        if row.comparison is not None:
            assert len(row.comparison.metrics) == width
            assert (rows[int(row.dimensions[0][1:])][2] or 0) >= threshold
    if small.rows_hidden or sum(r[0] for r in rows) < threshold:
        assert result.totals == [] and small.totals_withheld
    else:
        assert len(result.totals) == width
