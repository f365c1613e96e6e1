"""What a log line is, wherever it is read from: the event id of its hit is a keyed hash of the
line and its occurrence among the identical lines of its second, so the same line read from
another file, another place in a file or a stream is found already stored. The id begins with
the date the line names (as written, whatever the site's time zone): a day's hits sit together
in the unique (site, event id) index, which random ids made 15 % slower to fill.

Identical lines in one second are several real hits (a visitor reloading a page): the first is
occurrence 0, the next 1, and so on. The counts continue from one log to the next read in the same
import (a log rotated in the middle of a second), and are kept with each log's position, so an
import that resumes in the middle of a second continues them exactly.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import partial

PREFIX = "log:"
DIGEST_BYTES = 12  # 96 bits: no two different lines of a site share an id in practice
# The counts of this many seconds are kept: the last seconds read that had lines to store. Lines
# are logged when their request ends but carry the time it began, so a slow request's line comes
# after later ones; one older than these seconds starts its second's count afresh. A bound on
# seconds rather than on time also bounds a stream that jumps back (logs concatenated out of
# order).
SECONDS_KEPT = 60
# Lines are counted by the start of their digest: 48 bits, so two different lines of one second
# are not taken for identical ones in practice, and a position's counts stay small.
COUNTED_HEX_DIGITS = 12


def line_key(visitor_key: bytes, site_id: int) -> bytes:
    """The key of a site's line hashes. Keyed, because a line holds the full IP address: an
    unkeyed hash of it would let whoever reads the hits table confirm a guessed IP that the
    site's IP policy had truncated or dropped."""
    data = f"opentracker access-log lines\x00{site_id}".encode()
    return hashlib.blake2b(data, key=visitor_key, digest_size=32).digest()


class LineCounts:
    """How many times each line of the recent seconds was seen; answers each line's event id."""

    def __init__(self, key: bytes) -> None:
        self._hash = partial(hashlib.blake2b, key=key, digest_size=DIGEST_BYTES)
        # Second -> counted digest -> lines seen, in the order the seconds were first seen.
        self._seconds: dict[int, dict[str, int]] = {}
        self._day_texts: dict[date, str] = {}

    def event_id(self, line: bytes, second: int, day: date) -> str:
        """The id of a line (without its line ending) whose time is `second` (since the epoch)
        and whose date as written is `day`."""
        digest = self._hash(line).hexdigest()
        seen = self._seconds.get(second)
        if seen is None:
            seen = self._seconds[second] = {}
            if len(self._seconds) > SECONDS_KEPT:
                del self._seconds[next(iter(self._seconds))]
        counted = digest[:COUNTED_HEX_DIGITS]
        occurrence = seen.get(counted, 0)
        seen[counted] = occurrence + 1
        day_text = self._day_texts.get(day)
        if day_text is None:
            day_text = self._day_texts[day] = day.strftime("%Y%m%d")
        return f"{PREFIX}{day_text}-{digest}:{occurrence}"

    def snapshot(self) -> str:
        """The counts as text, to keep with a log's position."""
        return json.dumps(self._seconds, separators=(",", ":"))

    def restore(self, snapshot: str | None) -> None:
        """Continue from a snapshot (None or "": from nothing)."""
        loaded = json.loads(snapshot) if snapshot else {}
        self._seconds = {int(second): dict(seen) for second, seen in loaded.items()}


def occurrence_of(event_id: str) -> int:
    """The occurrence number in an id made by `LineCounts.event_id`."""
    return int(event_id.rpartition(":")[2])
