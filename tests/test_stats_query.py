"""Validating a stats query (Plausible's Stats API v2 shape): every mistake is refused with a
message naming the part of the request that is wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ot.errors import InvalidInput
from ot.stats.dates import _unit_starts, buckets, previous_period, resolve_range, unit_count
from ot.stats.query import AnyOf, Condition, Not, parse_query

VALID: dict[str, Any] = {"metrics": ["visitors"], "date_range": "7d"}


def refused(**changes: Any) -> str:
    body = {**VALID, **changes}
    with pytest.raises(InvalidInput) as raised:
        parse_query(body)
    return raised.value.message


def test_a_minimal_query() -> None:
    query = parse_query(VALID)
    assert (query.metrics, query.date_range, query.dimensions, query.filters) == (
        ("visitors",),
        "7d",
        (),
        (),
    )
    assert (query.limit, query.offset) == (10_000, 0)


def test_filters_are_parsed_into_a_tree() -> None:
    query = parse_query(
        {
            **VALID,
            "filters": [
                ["is_not", "visit:browser", ["Firefox"]],
                ["or", [["contains", "event:page", ["/blog"], {"case_sensitive": False}],
                        ["not", ["matches", "visit:source", ["^Goo"]]]]],
            ],
        }
    )  # fmt: skip
    assert query.filters == (
        Not(Condition("is", "visit:browser", ("Firefox",))),
        AnyOf(
            "or",
            (
                Condition("contains", "event:page", ("/blog",), case_sensitive=False),
                Not(Condition("matches", "visit:source", ("^Goo",))),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": ["visitors", "clicks"]}, '#/metrics/1: invalid metric "clicks"'),
        ({"metrics": []}, "#/metrics: at least one metric is required"),
        ({"metrics": "visitors"}, "#/metrics: must be a list of strings"),
        ({"dimensions": ["visit:planet"]}, '#/dimensions/0: invalid dimension "visit:planet"'),
        ({"dimensions": ["time:day", "time:hour"]}, "#/dimensions: only one time dimension"),
        ({"dimensions": ['event:props:a"b']}, "#/dimensions/0: invalid dimension"),
        ({"date_range": "yesterday"}, '#/date_range: invalid date range "yesterday"'),
        ({"date_range": ["2024-02-01", "2024-01-01"]}, "#/date_range: the first date must not"),
        ({"date_range": ["2024-01-01", "2024-13-01"]}, '#/date_range/1: "2024-13-01" is not'),
        ({"date_range": ["2024-01-01T00:00:00", "2024-01-02T00:00:00"]}, "needs a time zone"),
        ({"date_range": 7}, "#/date_range: must be a named range"),
        (
            {"filters": [["equals", "visit:browser", ["x"]]]},
            '#/filters/0: invalid filter operator "equals"',
        ),
        ({"filters": [["is", "visit:planet", ["x"]]]}, "#/filters/0/1: invalid filter dimension"),
        ({"filters": [["is", "time:day", ["2024-01-01"]]]}, "time dimensions cannot be filtered"),
        (
            {"filters": [["is", "visit:browser", "Firefox"]]},
            "#/filters/0/2: must be a non-empty list",
        ),
        (
            {"filters": [["matches", "event:page", ["(unclosed"]]]},
            "#/filters/0/2/0: invalid regular expression",
        ),
        ({"filters": [["matches", "event:goal", ["x"]]]}, 'only "is", "is_not", "contains"'),
        ({"filters": [["and", []]]}, '#/filters/0: "and" takes a non-empty list'),
        ({"filters": [["is", "visit:browser", ["x"], {"fuzzy": True}]]}, "#/filters/0/3"),
        ({"filters": {"visit:browser": "x"}}, "#/filters: must be a list"),
        ({"order_by": [["pageviews", "desc"]]}, '#/order_by/0: "pageviews" is neither'),
        ({"order_by": [["visitors", "up"]]}, "#/order_by/0: must be"),
        ({"pagination": {"limit": 0}}, "#/pagination/limit: must be a whole number from 1"),
        ({"pagination": {"limit": "10"}}, "#/pagination/limit"),
        ({"pagination": {"offset": -1}}, "#/pagination/offset"),
        ({"pagination": {"offset": 10**30}}, "#/pagination/offset: must be a whole number from 0"),
        ({"include": {"imports": "yes"}}, "#/include/imports: must be true or false"),
        ({"include": {"colours": True}}, '#/include: unknown key "colours"'),
        ({"include": {"comparisons": {"mode": "custom"}}}, "year_over_year"),
        ({"include": {"time_labels": True}}, "#/include/time_labels: requires a time dimension"),
        ({"sort": "visitors"}, '#: unknown key "sort"'),
        ({"metrics": ["percentage"]}, 'metric "percentage" requires a non-empty "dimensions"'),
        ({"metrics": ["conversion_rate"]}, 'requires an "event:goal" dimension'),
        (
            {"metrics": ["conversion_rate"], "filters": [["or", [["is", "event:goal", ["A"]]]]]},
            'a top-level "event:goal" filter',
        ),
        ({"metrics": ["visit_duration"], "dimensions": ["event:page"]}, "session metric"),
        ({"date": "tomorrow"}, '#/date: "tomorrow" is not an ISO 8601 date'),
        ({"date_range": ["9999-12-31", "9999-12-31"]}, '"9999-12-31" is outside the supported'),
        ({"date_range": ["0001-01-01", "2024-01-01"]}, '#/date_range/0: "0001-01-01" is outside'),
        (
            {"date_range": ["2024-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]},
            "#/date_range/1",
        ),
        ({"date": "9999-12-31"}, '#/date: "9999-12-31" is outside the supported days'),
    ],
)
def test_mistakes_are_refused_naming_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    assert message in refused(**changes)


def test_a_query_must_be_an_object_with_metrics_and_date_range() -> None:
    for body, message in [
        ([], "#: the query must be a JSON object"),
        ({"date_range": "7d"}, '#: required key "metrics" is missing'),
        ({"metrics": ["visitors"]}, '#: required key "date_range" is missing'),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_query(body)


NEW_YORK = ZoneInfo("America/New_York")


def test_explicit_dates_are_whole_local_days() -> None:
    found = resolve_range(
        (date(2026, 7, 1), date(2026, 7, 2)), NEW_YORK, now=datetime(2026, 7, 5, tzinfo=UTC)
    )
    assert (found.start, found.end) == (
        datetime(2026, 7, 1, 4, tzinfo=UTC),
        datetime(2026, 7, 3, 4, tzinfo=UTC),
    )
    assert found.days == 2


def test_named_ranges_are_relative_to_today_in_the_sites_zone() -> None:
    # 02:00 UTC on May 5 is still May 4 in New York.
    now = datetime(2026, 5, 5, 2, tzinfo=UTC)
    for name, first, last in [
        ("day", date(2026, 5, 4), date(2026, 5, 4)),
        ("7d", date(2026, 4, 28), date(2026, 5, 4)),
        ("30d", date(2026, 4, 5), date(2026, 5, 4)),
        ("month", date(2026, 5, 1), date(2026, 5, 31)),
        ("6mo", date(2025, 12, 1), date(2026, 5, 31)),
        ("12mo", date(2025, 6, 1), date(2026, 5, 31)),
        ("year", date(2026, 1, 1), date(2026, 12, 31)),
    ]:
        found = resolve_range(name, NEW_YORK, now=now)
        assert (found.first_day, found.last_day) == (first, last), name


def test_the_previous_period_has_as_many_days() -> None:
    current = resolve_range("7d", NEW_YORK, now=datetime(2026, 5, 5, 2, tzinfo=UTC))
    previous = previous_period(current)
    assert (previous.first_day, previous.last_day) == (date(2026, 4, 21), date(2026, 4, 27))
    assert previous.end == current.start


def test_a_local_day_across_dst_is_23_or_25_hours_long() -> None:
    spring = resolve_range((date(2026, 3, 8), date(2026, 3, 8)), NEW_YORK, now=datetime.now(UTC))
    autumn = resolve_range((date(2026, 11, 1), date(2026, 11, 1)), NEW_YORK, now=datetime.now(UTC))
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600
    [day] = buckets("day", autumn)
    assert (day.start, day.end) == (autumn.start, autumn.end)


def test_too_many_buckets_are_refused() -> None:
    ten_years = resolve_range(
        (date(2016, 1, 1), date(2025, 12, 31)), NEW_YORK, now=datetime.now(UTC)
    )
    with pytest.raises(InvalidInput, match="choose a coarser time dimension"):
        buckets("hour", ten_years)
    assert len(buckets("month", ten_years)) == 120


@pytest.mark.parametrize(
    ("unit", "first", "last"),
    [
        ("hour", date(1970, 1, 1), date(2999, 12, 31)),  # nine million hours
        ("day", date(1970, 1, 1), date(2999, 12, 31)),
        ("week", date(1970, 1, 1), date(2999, 12, 31)),
        ("month", date(1970, 1, 1), date(2999, 12, 31)),
    ],
)
def test_a_range_with_too_many_buckets_is_refused_before_any_bucket_is_made(
    monkeypatch: pytest.MonkeyPatch, unit: str, first: date, last: date
) -> None:
    """The check is arithmetic: making nine million hourly buckets first took 100 s."""

    def made(*_: object) -> None:
        raise AssertionError("buckets were made before the range was checked")

    monkeypatch.setattr("ot.stats.dates._unit_starts", made)
    thousand_years = resolve_range((first, last), NEW_YORK, now=datetime.now(UTC))
    with pytest.raises(InvalidInput, match=f"more than 5000 {unit}s"):
        buckets(unit, thousand_years)


def test_the_arithmetic_count_is_the_count_of_bucket_starts_made() -> None:
    """Across daylight saving changes, year ends and weeks that straddle the range's ends; the
    buckets are one fewer (less an hour skipped in spring)."""
    for first, last in [
        (date(2024, 3, 30), date(2024, 4, 2)),
        (date(2025, 10, 25), date(2025, 11, 3)),
        (date(2023, 12, 28), date(2025, 1, 3)),
        (date(2024, 2, 29), date(2024, 2, 29)),
    ]:
        span = resolve_range((first, last), NEW_YORK, now=datetime.now(UTC))
        for unit in (
            ("hour", "day", "week", "month") if span.days < 200 else ("day", "week", "month")
        ):
            starts = len(list(_unit_starts(unit, span)))
            assert unit_count(unit, span) == starts, (first, last, unit)
            assert len(buckets(unit, span)) in (starts - 1, starts - 2)
