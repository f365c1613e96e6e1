"""Visits: one visitor's hits without a gap longer than the visit timeout.

The writer keeps one `visit` row per visit up to date in the same transaction as the hits
(entry and exit page, pageviews, events, duration, bounce, and the attributes of its first hit),
so visit metrics and entry/exit pages are read from `visit` without scanning raw hits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from ot.ingest.hit import PAGEVIEW, EnrichedHit

# Attributes a visit takes from its first hit: where the visitor came from and on what.
VISIT_ATTRIBUTES = (
    "hostname",
    "referrer",
    "referrer_source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device",
    "country",
    "region",
    "city",
    "language",
    "screen",
)
_first_hit_attributes = attrgetter(*VISIT_ATTRIBUTES)


@dataclass(slots=True, eq=False)
class VisitState:
    """A visit being extended by a batch; `id` is None until a new visit is inserted."""

    id: int | None
    site_id: int
    visitor_id: int
    started_at: datetime
    last_seen_at: datetime
    entry_page: str
    exit_page: str
    pageviews: int
    events: int
    interactions: int
    attributes: tuple[Any, ...] = ()  # of VISIT_ATTRIBUTES, in that order (new visits only)
    changed: bool = False

    @classmethod
    def start(cls, hit: EnrichedHit) -> VisitState:
        visit = cls(
            id=None,
            site_id=hit.site_id,
            visitor_id=hit.visitor_id,
            started_at=hit.timestamp,
            last_seen_at=hit.timestamp,
            entry_page=hit.pathname,
            exit_page=hit.pathname,
            pageviews=0,
            events=0,
            interactions=0,
            attributes=_first_hit_attributes(hit),
        )
        visit.add(hit)
        return visit

    def covers(self, moment: datetime, timeout: timedelta) -> bool:
        return self.started_at - timeout <= moment <= self.last_seen_at + timeout

    def add(self, hit: EnrichedHit) -> None:
        is_pageview = hit.name == PAGEVIEW
        if hit.timestamp < self.started_at:
            self.started_at = hit.timestamp
            if is_pageview:
                self.entry_page = hit.pathname
        if hit.timestamp >= self.last_seen_at:
            self.last_seen_at = hit.timestamp
            if is_pageview:
                self.exit_page = hit.pathname
        if is_pageview:
            self.pageviews += 1
            self.interactions += 1
        else:
            self.events += 1
            if hit.interactive:
                self.interactions += 1
        self.changed = True

    COUNTERS = (
        "started_at", "last_seen_at", "entry_page", "exit_page", "pageviews", "events",
        "interactions", "is_bounce", "duration_seconds",
    )  # fmt: skip

    # A new visit's row, as `new_row` gives it (the writer inserts thousands at a time: tuples
    # cost less than dicts).
    NEW_ROW = ("site_id", "visitor_id", *COUNTERS, *VISIT_ATTRIBUTES)

    def counters(self) -> tuple[Any, ...]:
        """The values of COUNTERS, in that order."""
        return (
            self.started_at,
            self.last_seen_at,
            self.entry_page,
            self.exit_page,
            self.pageviews,
            self.events,
            self.interactions,
            # A bounce, Plausible's definition: one pageview and no interactive event.
            self.interactions <= 1,
            int((self.last_seen_at - self.started_at).total_seconds()),
        )

    def new_row(self) -> tuple[Any, ...]:
        """The values of NEW_ROW, in that order."""
        return (self.site_id, self.visitor_id, *self.counters(), *self.attributes)


def assign_visits(
    hits: Sequence[EnrichedHit], open_visits: Iterable[VisitState], timeout: timedelta
) -> list[VisitState]:
    """The visit of each hit (same order as `hits`), extending `open_visits` or starting new
    ones. A hit joins the latest visit of its visitor that it falls within `timeout` of."""
    by_visitor: dict[tuple[int, int], list[VisitState]] = defaultdict(list)
    for visit in open_visits:
        by_visitor[(visit.site_id, visit.visitor_id)].append(visit)
    result: list[VisitState | None] = [None] * len(hits)
    moments = [hit.timestamp for hit in hits]
    # Earliest first, so a batch holding a visitor's whole visit extends it in order.
    for index in sorted(range(len(hits)), key=moments.__getitem__):
        hit = hits[index]
        visits = by_visitor[(hit.site_id, hit.visitor_id)]
        match = None
        if visits:  # most hits of an import are a new visitor's first
            match = max(
                (v for v in visits if v.covers(hit.timestamp, timeout)),
                key=lambda v: v.last_seen_at,
                default=None,
            )
        if match is None:
            match = VisitState.start(hit)
            visits.append(match)
        else:
            match.add(hit)
        result[index] = match
    return [visit for visit in result if visit is not None]
