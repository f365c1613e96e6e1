"""The current time, aware and in UTC: the one clock the core reads."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
