"""Hits imported before lines had ids of their own: their ids are
`log:<log identity>:<byte offset>:<CRC-32 of the line>`, made of their place in their log. A
line read again is found among them by its time and its CRC-32, so importing such a log again,
from another file, a stream or after its position was forgotten, stores nothing twice.

Only sites with logs imported that way pay for the look-up (see
`state.has_position_based_ids`); a row to store carries its line's CRC-32 after its hit's fields.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Select, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from ot.ingest.hit import EnrichedHit
from ot.logimport.identity import occurrence_of
from ot.models import Hit

HIT_TABLE = Hit.__table__  # type: ignore[attr-defined]
TIMES_PER_QUERY = 500
_POSITION_BASED_ID = re.compile(r"log:[0-9a-f]{16}:\d+:([0-9a-f]{8})")


def stored_before(
    connection: Connection, hits: Sequence[EnrichedHit], checksums: Sequence[int]
) -> list[bool]:
    """For each hit (whose line has the CRC-32 `checksums[i]`), whether its line was stored
    under a position-based id. Among identical lines of one second, as many are found stored
    as were stored: occurrence n of a line is stored when more than n such hits were."""
    stored: Counter[tuple[int, int, datetime]] = Counter()
    statement = _stored_at(connection.dialect.name)
    for site_id in {hit.site_id for hit in hits}:
        # The exact times of the batch's lines, not their range: a range may hold a day of
        # tracker hits, or years when logs were concatenated out of order.
        times = sorted({hit.timestamp for hit in hits if hit.site_id == site_id})
        for start in range(0, len(times), TIMES_PER_QUERY):
            chunk = times[start : start + TIMES_PER_QUERY]
            rows = connection.execute(statement, {"site_id": site_id, "times": chunk})
            for timestamp, event_id in rows:
                matched = _POSITION_BASED_ID.fullmatch(event_id)
                if matched is not None:
                    stored[site_id, int(matched.group(1), 16), _aware(timestamp)] += 1
    return [
        occurrence_of(hit.event_id or "") < stored[hit.site_id, checksum, hit.timestamp]
        for hit, checksum in zip(hits, checksums, strict=True)
    ]


@lru_cache(maxsize=2)
def _stored_at(dialect: str) -> Select[tuple[datetime, str]]:
    """The old-shaped ids of a site's hits at the given times."""
    if dialect == "postgresql":
        # One array, not `IN ($2, ..., $501)`, whose generic plan scans the table (see
        # ot.ingest.store).
        at_times = HIT_TABLE.c.timestamp == any_(
            bindparam("times", type_=ARRAY(HIT_TABLE.c.timestamp.type))
        )
    else:
        at_times = HIT_TABLE.c.timestamp.in_(bindparam("times", expanding=True))
    return select(HIT_TABLE.c.timestamp, HIT_TABLE.c.event_id).where(
        HIT_TABLE.c.site_id == bindparam("site_id"),
        at_times,
        HIT_TABLE.c.event_id.like("log:%:%:%"),
    )


def _aware(moment: datetime) -> datetime:
    # SQLite gives back UTC times without their zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
