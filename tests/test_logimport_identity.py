"""A log line's event id (`ot.logimport.identity`): the same for the same line wherever it is read
from, one per occurrence of identical lines in a second, and the same when reading resumes."""

from __future__ import annotations

import random
from datetime import date

from ot.logimport.identity import SECONDS_KEPT, LineCounts, line_key, occurrence_of

KEY = line_key(b"k" * 32, site_id=1)
DAY = date(2024, 3, 11)
LINE = b'203.0.113.5 - - [11/Mar/2024:09:00:00 +0200] "GET /pricing HTTP/1.1" 200 512 "-" "x"'


def test_identical_lines_of_a_second_are_numbered_and_other_lines_and_seconds_start_at_0() -> None:
    counts = LineCounts(KEY)
    first, again, other, third = (
        counts.event_id(line, 100, DAY) for line in (LINE, LINE, LINE + b"?", LINE)
    )
    assert [occurrence_of(each) for each in (first, again, other, third)] == [0, 1, 0, 2]
    assert first.rpartition(":")[0] == again.rpartition(":")[0] != other.rpartition(":")[0]
    assert occurrence_of(counts.event_id(LINE, 101, DAY)) == 0


def test_a_line_has_the_same_id_in_every_reading_and_another_in_another_site() -> None:
    assert LineCounts(KEY).event_id(LINE, 100, DAY) == LineCounts(KEY).event_id(LINE, 100, DAY)
    other_site = LineCounts(line_key(b"k" * 32, site_id=2)).event_id(LINE, 100, DAY)
    assert other_site != LineCounts(KEY).event_id(LINE, 100, DAY)
    assert b"203.0.113.5" not in other_site.encode()


def test_reading_resumed_from_a_snapshot_gives_the_ids_of_reading_on() -> None:
    chooser = random.Random(3)
    # Few distinct lines and seconds, some out of order: many identical lines in a second.
    lines = [
        (LINE + bytes([chooser.randrange(3)]), 1_000 + n // 4 - chooser.randrange(3))
        for n in range(400)
    ]
    whole = LineCounts(KEY)
    expected = [whole.event_id(line, second, DAY) for line, second in lines]
    for split in (0, 1, 57, 200, 399):
        before = LineCounts(KEY)
        ids = [before.event_id(line, second, DAY) for line, second in lines[:split]]
        after = LineCounts(KEY)
        after.restore(before.snapshot())
        ids += [after.event_id(line, second, DAY) for line, second in lines[split:]]
        assert ids == expected, split


def test_the_counts_kept_are_bounded_even_when_the_log_goes_back_in_time() -> None:
    counts = LineCounts(KEY)
    for second in [*range(10_000, 10_500), *range(1_000, 1_500)]:
        counts.event_id(LINE, second, DAY)
    kept = counts.snapshot()
    assert kept.count(":{") == SECONDS_KEPT
    restored = LineCounts(KEY)
    restored.restore(kept)
    assert occurrence_of(restored.event_id(LINE, 1_499, DAY)) == 1
    assert occurrence_of(restored.event_id(LINE, 10_499, DAY)) == 0  # long forgotten
