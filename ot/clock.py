"""The current time, aware and in UTC: the one clock the core reads."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as aware UTC: SQLite hands datetimes back without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
