"""Visits: one visitor's hits without a gap longer than the visit timeout.

The writer keeps one `visit` row per visit up to date in the same transaction as the hits
(entry and exit page, pageviews, events, duration, bounce, and the attributes of its first hit),
so visit metrics and entry/exit pages are read from `visit` without scanning raw hits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    attributes: dict[str, Any] = field(default_factory=dict)
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
            attributes={name: getattr(hit, name) for name in VISIT_ATTRIBUTES},
        )
        visit.add(hit)
        return visit

    @classmethod
    def from_row(cls, row: Any) -> VisitState:
        return cls(
            id=row.id,
            site_id=row.site_id,
            visitor_id=row.visitor_id,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            entry_page=row.entry_page,
            exit_page=row.exit_page,
            pageviews=row.pageviews,
            events=row.events,
            interactions=row.interactions,
        )

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

    def counters(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "last_seen_at": self.last_seen_at,
            "entry_page": self.entry_page,
            "exit_page": self.exit_page,
            "pageviews": self.pageviews,
            "events": self.events,
            "interactions": self.interactions,
            # Plausible's definition: one pageview and no interactive event.
            "is_bounce": self.interactions <= 1,
            "duration_seconds": int((self.last_seen_at - self.started_at).total_seconds()),
        }

    def new_row(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "visitor_id": self.visitor_id,
            **self.counters(),
            **self.attributes,
        }


def assign_visits(
    hits: Sequence[EnrichedHit], open_visits: Iterable[VisitState], timeout: timedelta
) -> list[VisitState]:
    """The visit of each hit (same order as `hits`), extending `open_visits` or starting new
    ones. A hit joins the latest visit of its visitor that it falls within `timeout` of."""
    by_visitor: dict[tuple[int, int], list[VisitState]] = defaultdict(list)
    for visit in open_visits:
        by_visitor[(visit.site_id, visit.visitor_id)].append(visit)
    result: list[VisitState | None] = [None] * len(hits)
    # Earliest first, so a batch holding a visitor's whole visit extends it in order.
    for index in sorted(range(len(hits)), key=lambda i: hits[i].timestamp):
        hit = hits[index]
        visits = by_visitor[(hit.site_id, hit.visitor_id)]
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
