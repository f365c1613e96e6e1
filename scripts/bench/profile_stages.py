"""Where a collector hit's CPU goes, by stage: reads a py-spy raw profile of `ot serve` under
load and prints a Markdown table of each stage's share of the event loop's samples, and its
microseconds per hit given the loop's CPU per hit measured without the profiler.

    py-spy record -p PID -d 20 -r 200 -f raw -o prof.txt --threads   # while wrk drives ot serve
    python scripts/bench/profile_stages.py prof.txt 500               # 500 µs of loop per hit

With the collector in its own process (the default), profile the server and the collector
process (`pgrep -f ot.ingest.process`) at once, each with its own µs of loop per hit.

Each sample of the main thread (the event loop) goes to the first stage whose function is on
its stack, leaf upwards; what matches none is aiohttp's and asyncio's own work. The writer
thread's samples (waits for the write lock, commits and fsyncs, off the loop) are reported
apart, in the same unit. See docs/benchmarks.md, "Where a hit's CPU goes, by stage".
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (stage, the functions that mark it): the first one found from the leaf upwards wins.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "visits (open visits read, visits written)",
        ("_open_visits", "_write_visits", "assign_visits"),
    ),
    ("insert (hit rows: executemany)", ("FastStatement.run_values", "do_executemany")),
    (
        "hand-off between the two processes (pickle, socket, futures)",
        ("_Messages.send", "_Messages.data_received"),
    ),
    ("writer on the loop, rest (begin/commit hand-off, dedup, counters)", ("HitWriter._run",)),
    ("encrypt + truncate IP", ("Collector._ip_to_store",)),
    ("geo (country)", ("GeoLocator.locate",)),
    ("visitor id (salted hash)", ("choose_visitor_id",)),
    ("User-Agent, referrer, URL, rest of enrichment", ("Collector._enrich", "Collector.prepare")),
    ("parse (body read, JSON, validation)", ("parse_event", "read_body", "json_object_body")),
    ("client IP (X-Forwarded-For)", ("_client", "client_ip_of")),
    ("handler, rest (queueing, response object)", ("plausible_event",)),
    ("collector process, rest (a task per request, its answer)", ("_Requests._answer",)),
    ("our middlewares and response headers", ("headers", "finish_headers")),
]
HTTP = "aiohttp and asyncio: HTTP (parse request, write response) in the server, the loop in both"


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        function = frame.split(" (")[0]
        for stage, markers in STAGES:
            if function in markers:
                return stage
    return HTTP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy's raw output (-f raw --threads)")
    parser.add_argument("loop_us", type=float, help="µs of event-loop CPU per hit, unprofiled")
    args = parser.parse_args()
    stages: Counter[str] = Counter()
    loop = writer = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" in frames[0]:
            loop += int(count)
            stages[stage_of(frames)] += int(count)
        elif "hit-writer" in frames[0]:
            writer += int(count)
    per_sample = args.loop_us / loop
    print(f"event loop: {loop} samples; writer thread: {writer} ({writer / loop:.0%} of those)\n")
    print("| stage | share of the event loop | µs per hit |")
    print("|---|---|---|")
    for stage, count in stages.most_common():
        print(f"| {stage} | {count / loop:.1%} | {count * per_sample:.0f} |")
    off_loop = "writer thread, off the loop (write lock, commit, fsync)"
    print(f"| {off_loop} | - | {writer * per_sample:.0f} |")


if __name__ == "__main__":
    main()
