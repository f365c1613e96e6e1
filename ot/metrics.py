"""Prometheus metrics of the collector. With several workers, prometheus-client's multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set by `ot serve`) sums them across processes."""

import os

from prometheus_client import Counter, Gauge, Histogram, multiprocess

hits_accepted = Counter("ot_hits_accepted_total", "Hits committed to the database", ["endpoint"])
hits_dropped = Counter(
    "ot_hits_dropped_total",
    "Hits answered with success but not stored (bot, excluded IP or path, Do-Not-Track, duplicate)",
    ["reason"],
)
requests_rejected = Counter(
    "ot_requests_rejected_total",
    "Collector requests refused with a 4xx or 503, by endpoint and error code",
    ["endpoint", "code"],
)
batch_size = Histogram(
    "ot_write_batch_hits",
    "Hits per committed batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
commit_seconds = Histogram(
    "ot_write_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
commit_failures = Counter("ot_write_failures_total", "Batches whose transaction failed")
queue_depth = Gauge(
    "ot_write_queue_hits", "Hits waiting for the writer", multiprocess_mode="livesum"
)


def process_ended(pid: int) -> None:
    """Forget the live gauges of a process that ended (the collector's, when it is replaced),
    so that /metrics does not go on summing its last values."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
