"""Date ranges and time buckets in a site's time zone.

Bucket boundaries are computed here as UTC instants, one local day, week, month or hour at a
time, so buckets are right across daylight-saving changes on SQLite (which knows no time zones)
and PostgreSQL alike: a local day of 23 or 25 hours is one bucket, an hour skipped in spring has
no bucket, and the hour repeated in autumn is one bucket of two hours.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ot.errors import InvalidInput
from ot.stats.query import ComparisonMode, DateRange

REALTIME = timedelta(minutes=5)
MAX_BUCKETS = 5000
HOUR_LABEL = "%Y-%m-%d %H:00:00"


@dataclass(frozen=True)
class TimeRange:
    """A resolved range: UTC instants (start inclusive, end exclusive) and its local days."""

    start: datetime
    end: datetime
    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class Bucket:
    label: str
    start: datetime
    end: datetime


def local_to_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC. A time skipped by a DST change maps to the instant the
    clock jumped at, so consecutive boundaries never go backwards."""
    return moment.replace(tzinfo=zone).astimezone(UTC)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return local_to_utc(datetime.combine(day, time()), zone)


def _days(first: date, last: date, zone: ZoneInfo) -> TimeRange:
    return TimeRange(
        day_start(first, zone), day_start(last + timedelta(days=1), zone), first, last, zone
    )


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _month_start(day, -1) - timedelta(days=1)


def resolve_range(
    spec: DateRange,
    zone: ZoneInfo,
    *,
    now: datetime,
    relative_date: date | None = None,
    first_day_with_data: date | None = None,
) -> TimeRange:
    today = relative_date or now.astimezone(zone).date()
    if isinstance(spec, tuple):
        first, last = spec
        if isinstance(first, datetime) and isinstance(last, datetime):
            # The last instant is included, as in Plausible's ranges ending at 15:59:59.
            start, end = first.astimezone(UTC), last.astimezone(UTC) + timedelta(microseconds=1)
            return TimeRange(
                start, end, start.astimezone(zone).date(), last.astimezone(zone).date(), zone
            )
        return _days(first, last, zone)
    if spec == "realtime":
        return TimeRange(now - REALTIME, now + timedelta(seconds=1), today, today, zone)
    if spec == "day":
        return _days(today, today, zone)
    if spec.endswith("d"):
        return _days(today - timedelta(days=int(spec[:-1]) - 1), today, zone)
    if spec == "month":
        return _days(_month_start(today), _month_end(today), zone)
    if spec.endswith("mo"):
        return _days(_month_start(today, int(spec[:-2]) - 1), _month_end(today), zone)
    if spec == "year":
        return _days(date(today.year, 1, 1), date(today.year, 12, 31), zone)
    if spec == "all":
        return _days(min(first_day_with_data or today, today), today, zone)
    raise InvalidInput(f'invalid date range "{spec}"', field="date_range")


def previous_period(current: TimeRange) -> TimeRange:
    """The range of equal length just before: as many days, or as long for date-times."""
    if _whole_days(current):
        last = current.first_day - timedelta(days=1)
        return _days(last - timedelta(days=current.days - 1), last, current.zone)
    length = current.end - current.start
    start = current.start - length
    return TimeRange(
        start,
        current.start,
        start.astimezone(current.zone).date(),
        (current.start - timedelta(microseconds=1)).astimezone(current.zone).date(),
        current.zone,
    )


def year_earlier(day: date) -> date:
    """The same day a year before; 29 February, which that year lacks, becomes the 28th."""
    if day.month == 2 and day.day == 29:
        return day.replace(year=day.year - 1, day=28)
    return day.replace(year=day.year - 1)


def _moment_a_year_earlier(moment: datetime, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time a year before, as UTC."""
    local = moment.astimezone(zone)
    day = year_earlier(local.date())
    return local_to_utc(datetime.combine(day, local.time()), zone)


def year_before(current: TimeRange) -> TimeRange:
    """The same days (or local times) one year earlier."""
    first, last = year_earlier(current.first_day), year_earlier(current.last_day)
    if _whole_days(current):
        return _days(first, last, current.zone)
    start = _moment_a_year_earlier(current.start, current.zone)
    end = _moment_a_year_earlier(current.end, current.zone)
    return TimeRange(start, max(end, start), first, last, current.zone)


def compared_range(current: TimeRange, mode: ComparisonMode) -> TimeRange:
    """The range a query's rows are compared with."""
    return previous_period(current) if mode == "previous_period" else year_before(current)


def _whole_days(current: TimeRange) -> bool:
    return current.start == day_start(current.first_day, current.zone) and current.end == (
        day_start(current.last_day + timedelta(days=1), current.zone)
    )


def automatic_unit(current: TimeRange) -> str:
    """The bucket Plausible's `time` dimension picks: hours for a day, days up to about a month,
    months beyond."""
    if current.days <= 1:
        return "hour"
    if current.days <= 40:
        return "day"
    return "month"


def _unit_starts(unit: str, current: TimeRange) -> Iterator[tuple[str, datetime]]:
    """Local wall-clock starts of each unit covering the range, with their labels."""
    zone_day = current.first_day
    if unit == "hour":
        moment = datetime.combine(zone_day, time())
        stop = datetime.combine(current.last_day + timedelta(days=1), time())
        while moment <= stop:
            yield moment.strftime(HOUR_LABEL), moment
            moment += timedelta(hours=1)
        return
    if unit == "day":
        day = zone_day
        step = timedelta(days=1)
    elif unit == "week":
        day = zone_day - timedelta(days=zone_day.weekday())
        step = timedelta(days=7)
    else:
        day = _month_start(zone_day)
        step = timedelta(0)
    while True:  # up to the first start after the range, which ends the last bucket
        yield day.isoformat(), datetime.combine(day, time())
        if day > current.last_day:
            return
        day = _month_start(day, -1) if unit == "month" else day + step


def unit_count(unit: str, current: TimeRange) -> int:
    """How many starts `_unit_starts` gives for the range (one more than its buckets, at most),
    counted without making them: 1970 to 2999 holds nine million hours."""
    first, last = current.first_day, current.last_day
    if unit == "hour":
        return current.days * 24 + 1
    if unit == "day":
        return current.days + 1
    if unit == "week":
        return (last - (first - timedelta(days=first.weekday()))).days // 7 + 2
    return (last.year - first.year) * 12 + last.month - first.month + 2


def check_bucket_count(unit: str, current: TimeRange) -> None:
    """Refuse a range with more than MAX_BUCKETS buckets of `unit`, before any is made."""
    if unit_count(unit, current) > MAX_BUCKETS:
        raise InvalidInput(
            f"the date range holds more than {MAX_BUCKETS} {unit}s: choose a coarser time "
            "dimension or a shorter range",
            field="dimensions",
        )


def buckets(unit: str, current: TimeRange) -> list[Bucket]:
    """The buckets of `unit` (hour, day, week, month) within the range, clipped to it."""
    check_bucket_count(unit, current)
    starts = list(_unit_starts(unit, current))
    result = []
    for (label, local_start), (_, local_end) in itertools.pairwise(starts):
        start = max(local_to_utc(local_start, current.zone), current.start)
        end = min(local_to_utc(local_end, current.zone), current.end)
        if start < end:
            result.append(Bucket(label, start, end))
    return result


def unit_of(dimension: str, current: TimeRange) -> str:
    return automatic_unit(current) if dimension == "time" else dimension.removeprefix("time:")
