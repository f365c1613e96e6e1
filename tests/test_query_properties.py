"""Property: for any query hypothesis makes up, the stats engine (`ot.stats.engine.run_query`)
answers what a straightforward computation over the raw hits answers.

The reference below knows nothing of SQL, rollups or the `visit` table: it groups the generated
hits into visits itself (same visitor, at most 30 minutes apart; attributes of the first hit),
then counts per row in plain Python. The site is in cookie mode, so uniques over several days are
exact, and its days straddle a DST change. The rollup job has run, so multi-day queries without
filters come from rollups and the rest from raw tables: both paths meet the same reference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from ot.config import Settings
from ot.ingest.hit import PAGEVIEW, EnrichedHit
from ot.models import Site
from ot.privacy import VisitorMode
from tests.generated_hits import AFTER, DAYS, TIMEOUT, ZONE, Engines, roll, store, traffic
from tests.stats_support import query
from tests.support import make_site

ZONE_INFO = ZoneInfo(ZONE)
HIT_METRICS = ["visitors", "visits", "pageviews", "events"]
VISIT_METRICS = ["bounce_rate", "visit_duration", "views_per_visit"]
EVENT_DIMENSIONS = ["event:page", "event:name"]
VISIT_DIMENSIONS = [
    "visit:source", "visit:country", "visit:browser", "visit:device", "visit:entry_page",
    "visit:exit_page", "visit:utm_campaign",
]  # fmt: skip
# The values `traffic()` uses, plus one it never does.
VALUES = {
    "event:page": ["/", "/pricing", "/blog/a", "/docs/x", "/signup", "/nowhere"],
    "event:name": ["pageview", "Signup", "Outbound Link: Click", "Nothing"],
    "visit:country": ["NL", "DE", "US", "FR"],
    "visit:browser": ["Firefox", "Chrome", "Safari"],
    "visit:source": ["Direct / None", "Google", "Twitter", "Bing"],
}
FRAGMENTS = {"event:page": ["blog", "/", "x"], "visit:country": ["N", "E"], "event:name": ["i"]}
# How Plausible shows an empty value of these dimensions (`traffic()` leaves campaigns empty).
SHOWN_WHEN_EMPTY = {"visit:utm_campaign": "(not set)"}


@dataclass
class ReferenceVisit:
    visitor: int
    hits: list[EnrichedHit] = field(default_factory=list)

    @property
    def started_at(self) -> datetime:
        return self.hits[0].timestamp

    def attribute(self, dimension: str) -> str:
        first = self.hits[0]
        if dimension == "visit:entry_page":
            return first.pathname
        if dimension == "visit:exit_page":
            return [h for h in self.hits if h.name == PAGEVIEW][-1].pathname
        column = "referrer_source" if dimension == "visit:source" else dimension[len("visit:") :]
        return str(getattr(first, column))

    @property
    def pageviews(self) -> int:
        return sum(h.name == PAGEVIEW for h in self.hits)

    @property
    def is_bounce(self) -> bool:
        return sum(h.name == PAGEVIEW or h.interactive for h in self.hits) <= 1

    @property
    def duration(self) -> int:
        return int((self.hits[-1].timestamp - self.hits[0].timestamp).total_seconds())


def visits_of(hits: list[EnrichedHit]) -> dict[int, ReferenceVisit]:
    """Each hit's visit, by the hit's position in `hits`."""
    by_hit: dict[int, ReferenceVisit] = {}
    open_visits: dict[int, ReferenceVisit] = {}
    for index, item in sorted(enumerate(hits), key=lambda pair: pair[1].timestamp):
        visit = open_visits.get(item.visitor_id)
        if visit is None or item.timestamp - visit.hits[-1].timestamp > TIMEOUT:
            visit = open_visits[item.visitor_id] = ReferenceVisit(item.visitor_id)
        visit.hits.append(item)
        by_hit[index] = visit
    return by_hit


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window(first: date, last: date) -> Window:
    start = datetime(first.year, first.month, first.day, tzinfo=ZONE_INFO)
    after = last + timedelta(days=1)
    return Window(start, datetime(after.year, after.month, after.day, tzinfo=ZONE_INFO))


def value_on_hit(dimension: str, item: EnrichedHit, visit: ReferenceVisit) -> str:
    if dimension == "event:page":
        return item.pathname
    if dimension == "event:name":
        return item.name
    if dimension == "time:day":
        return item.timestamp.astimezone(ZONE_INFO).date().isoformat()
    return visit.attribute(dimension)


def condition_holds(condition: list[Any], value: str) -> bool:
    operator, _, values = condition
    if operator == "contains":
        return any(fragment in value for fragment in values)
    return value in values


def hit_matches(
    filter_: list[Any], item: EnrichedHit, visit: ReferenceVisit, within: Window
) -> bool:
    operator = filter_[0]
    if operator in ("and", "or"):
        results = [hit_matches(child, item, visit, within) for child in filter_[1]]
        return all(results) if operator == "and" else any(results)
    if operator == "not":
        return not hit_matches(filter_[1], item, visit, within)
    if operator == "is_not":
        return not hit_matches(["is", *filter_[1:]], item, visit, within)
    return condition_holds(filter_, value_on_hit(filter_[1], item, visit))


def visit_matches(filter_: list[Any], visit: ReferenceVisit, within: Window) -> bool:
    """A visit matches a visit condition by its own attribute, an event condition when any of its
    hits inside the range does."""
    operator = filter_[0]
    if operator in ("and", "or"):
        results = [visit_matches(child, visit, within) for child in filter_[1]]
        return all(results) if operator == "and" else any(results)
    if operator == "not":
        return not visit_matches(filter_[1], visit, within)
    if operator == "is_not":
        return not visit_matches(["is", *filter_[1:]], visit, within)
    dimension = filter_[1]
    if dimension.startswith("visit:"):
        return condition_holds(filter_, visit.attribute(dimension))
    return any(
        within.holds(h.timestamp) and condition_holds(filter_, value_on_hit(dimension, h, visit))
        for h in visit.hits
    )


def reference(
    hits: list[EnrichedHit], body: dict[str, Any]
) -> dict[tuple[str, ...], list[float | int]]:
    """The rows the query should answer, computed from the raw hits in plain Python."""
    first, last = (date.fromisoformat(day) for day in body["date_range"])
    within = window(first, last)
    dimensions: list[str] = body.get("dimensions", [])
    metrics: list[str] = body["metrics"]
    filters: list[list[Any]] = body.get("filters", [])
    event_level = any(d.startswith("event:") for d in dimensions)
    visit_of = visits_of(hits)
    counts: dict[tuple[str, ...], dict[str, Any]] = defaultdict(
        lambda: {"visitors": set(), "hit_visits": set(), "pageviews": 0, "events": 0,
                 "visits": 0, "bounces": 0, "duration": 0, "visit_pageviews": 0}
    )  # fmt: skip
    if not dimensions:
        counts[()]  # an aggregate answers zeros, not nothing
    needs_hits = bool(set(metrics) & {"visitors", "pageviews", "events"}) or (
        "visits" in metrics and event_level
    )
    needs_visits = bool(set(metrics) & set(VISIT_METRICS)) or (
        "visits" in metrics and not event_level
    )
    if needs_hits:
        for index, item in enumerate(hits):
            visit = visit_of[index]
            if not within.holds(item.timestamp):
                continue
            if not all(hit_matches(f, item, visit, within) for f in filters):
                continue
            row = counts[tuple(value_on_hit(d, item, visit) for d in dimensions)]
            row["visitors"].add(item.visitor_id)
            row["hit_visits"].add(id(visit))
            row["pageviews"] += item.name == PAGEVIEW
            row["events"] += 1
    if needs_visits:
        for visit in {id(v): v for v in visit_of.values()}.values():
            if not within.holds(visit.started_at):
                continue
            if not all(visit_matches(f, visit, within) for f in filters):
                continue
            key = tuple(
                visit.started_at.astimezone(ZONE_INFO).date().isoformat()
                if d == "time:day"
                else visit.attribute(d)
                for d in dimensions
            )
            row = counts[key]
            row["visits"] += 1
            row["bounces"] += visit.is_bounce
            row["duration"] += visit.duration
            row["visit_pageviews"] += visit.pageviews

    def metric(name: str, row: dict[str, Any]) -> float | int:
        visits = row["visits"]
        if name == "visitors":
            return len(row["visitors"])
        if name == "visits":
            return len(row["hit_visits"]) if event_level else visits
        if name in ("pageviews", "events"):
            return int(row[name])
        if name == "bounce_rate":
            return round(100 * row["bounces"] / visits) if visits else 0
        if name == "visit_duration":
            return round(row["duration"] / visits) if visits else 0
        return round(row["visit_pageviews"] / visits, 2) if visits else 0.0

    return {key: [metric(name, row) for name in metrics] for key, row in counts.items()}


def conditions() -> st.SearchStrategy[list[Any]]:
    exact = st.sampled_from(sorted(VALUES)).flatmap(
        lambda dimension: st.tuples(
            st.sampled_from(["is", "is_not"]),
            st.just(dimension),
            st.lists(st.sampled_from(VALUES[dimension]), min_size=1, max_size=2, unique=True),
        )
    )
    fragment = st.sampled_from(sorted(FRAGMENTS)).flatmap(
        lambda dimension: st.tuples(
            st.just("contains"),
            st.just(dimension),
            st.lists(st.sampled_from(FRAGMENTS[dimension]), min_size=1, max_size=2, unique=True),
        )
    )
    return st.one_of(exact, fragment).map(list)


def filters() -> st.SearchStrategy[list[list[Any]]]:
    combined = st.one_of(
        conditions(),
        st.tuples(
            st.sampled_from(["and", "or"]), st.lists(conditions(), min_size=2, max_size=2)
        ).map(list),
        conditions().map(lambda condition: ["not", condition]),
    )
    return st.lists(combined, max_size=2)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    dimensions = draw(
        st.one_of(
            st.just([]),
            st.sampled_from(EVENT_DIMENSIONS + VISIT_DIMENSIONS + ["time:day"]).map(lambda d: [d]),
            st.sampled_from(VISIT_DIMENSIONS).map(lambda d: [d, "time:day"]),
        )
    )
    allowed = (
        HIT_METRICS
        if any(d.startswith("event:") for d in dimensions)
        else HIT_METRICS + VISIT_METRICS
    )
    metrics = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=4, unique=True))
    first, last = sorted(draw(st.lists(st.sampled_from(DAYS), min_size=2, max_size=2)))
    body: dict[str, Any] = {
        "site_id": "shop.example",
        "metrics": metrics,
        "date_range": [first.isoformat(), last.isoformat()],
        "dimensions": dimensions,
        "filters": draw(filters()),
    }
    return body


class GeneratedSite:
    """A site and the hits stored for it. Not a dataclass: hypothesis prints each failing
    example's arguments, and a dataclass would be printed field by field, every hit included."""

    def __init__(self, site: Site, hits: list[EnrichedHit]) -> None:
        self.site = site
        self.hits = hits

    def __repr__(self) -> str:
        return f"GeneratedSite({self.site.domain}, {len(self.hits)} hits)"


@pytest.fixture
async def generated_site(settings: Settings, engines: Engines) -> GeneratedSite:
    """A cookie-mode site with three days of generated traffic, rolled up."""
    site = await make_site(settings, visitor_mode=VisitorMode.COOKIE, timezone=ZONE)
    assert site.id is not None
    hits = traffic(site.id, seed=11, visitors=12)
    await store(engines, hits)
    await roll(engines)
    return GeneratedSite(site, hits)


@examples(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=queries())
async def test_the_engine_answers_what_a_plain_count_over_raw_hits_answers(
    settings: Settings, generated_site: GeneratedSite, body: dict[str, Any]
) -> None:
    hits = generated_site.hits
    result = await query(settings, generated_site.site, now=AFTER, **body)
    answered = {tuple(row.dimensions): list(row.metrics) for row in result.rows}
    expected = {
        tuple(
            value or SHOWN_WHEN_EMPTY.get(dimension, value)
            for dimension, value in zip(body["dimensions"], key, strict=True)
        ): values
        for key, values in reference(hits, body).items()
    }
    # Rows whose every count is zero carry no information and need not be listed.
    expected = {key: values for key, values in expected.items() if any(values) or not key}
    answered = {key: values for key, values in answered.items() if any(values) or not key}
    assert answered == expected
