"""The tables of the rollups: summed days and weeks, their bitmaps, and the rolling's progress."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

import ot.models.sites  # noqa: F401  (the table its foreign keys point to)


class RollupDay(SQLModel, table=True):
    """One local day (span 1) or one week from Monday (span 7) of one site, summed per value
    of one dimension ("" for the whole site).

    Hit-side sums count the hits of the span (by their time); visit-side sums count the visits
    that started in it, as the stats engine reads them from `hit` and `visit`. Small rows in day
    order, so that summing a range reads little (a month is four weeks and a few days); the
    bitmaps are in `rollup_bitmap`."""

    __tablename__ = "rollup_day"
    __table_args__ = (Index("ix_rollup_day_site_day", "site_id", "day"),)  # rolling a day again

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    dimension: str = Field(primary_key=True)
    span_days: int = Field(primary_key=True)
    day: date = Field(primary_key=True)  # the first day of the span
    value: str = Field(primary_key=True)
    visitors: int  # the span's uniques
    daily_visitors: int  # the sum of each day's uniques
    pageviews: int
    events: int
    visits: int
    visit_pageviews: int
    bounces: int
    duration_seconds: int


class RollupBitmap(SQLModel, table=True):
    """The visitor ordinals and visit ids of one `rollup_day` row as compressed bitmaps, kept
    in value order, so that the days of one value are read together: unions over days give
    exact uniques."""

    __tablename__ = "rollup_bitmap"
    __table_args__ = (Index("ix_rollup_bitmap_site_day", "site_id", "day"),)  # rolling a day again

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    dimension: str = Field(primary_key=True)
    span_days: int = Field(primary_key=True)
    value: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    visitor_bitmap: bytes
    visit_bitmap: bytes


class RollupPendingDay(SQLModel, table=True):
    """A local day whose rollup is missing or out of date: new hits arrived for it."""

    __tablename__ = "rollup_pending_day"

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    day: date = Field(primary_key=True)


class RollupProgress(SQLModel, table=True):
    """How far the rollups of one site are."""

    __tablename__ = "rollup_progress"

    site_id: int = Field(foreign_key="site.id", primary_key=True)
    timezone: str  # the zone of the rolled days; a site that changes zone is rolled again
    # Hits up to this id have had their days marked pending.
    hit_watermark: int = Field(sa_column=Column(BigInteger, nullable=False))
    next_ordinal: int
    complete_through: date | None = None  # every day up to this one is rolled and current
    rolled_at: datetime | None = None
