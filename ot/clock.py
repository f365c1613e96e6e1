"""The current time, aware and in UTC: the one clock the core reads.

Code whose answers depend on how much time passed (rate limits, log-in throttling) takes a
`Clock` instead of reading the time itself, so that a test can hold time still or move it on
(`ManualClock`) and never depends on how fast a busy machine runs.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as aware UTC: SQLite hands datetimes back without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: for measuring intervals."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """A clock that stands still until `advance` moves it (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start) if start is not None else utcnow()
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += timedelta(seconds=seconds)
        self._elapsed += seconds
