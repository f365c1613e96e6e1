"""Rollups: each local day of each site summed per dimension value, so that dashboards over
weeks and months read a few thousand small rows instead of millions of hits.

Uniques stay exact. Each rollup row keeps, besides its sums, a compressed bitmap (Roaring) of
the day's visitors, numbered densely per site (`visitor_ordinal`), and one of the visit ids; a
range's visitors are the size of the union of its days' bitmaps. For a cookieless site the ids
change daily, so the union is the sum of daily uniques, which is what such a site can honestly
report (and the engine says so).

The rollups are kept by a job (`ot.rollups.job.run_rollups`), never by the collector's writer,
so that ingestion stays as fast as it is. Each run marks the local days that new hits touched
as pending (and the day before, when the hit may extend a visit that began before midnight),
rolls every pending day again from `hit` and `visit`, and records through which day a site is
complete. The engine answers from rollups only for ranges that end on or before that day, and
from the raw tables otherwise; rollups lag the raw tables by at most one run of the job.
"""
