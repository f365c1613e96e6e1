"""The interpreter settings of a long-running process (`ot serve`'s server and its collector
process, `ot tui`): how often threads may take the GIL, how the garbage collector runs, and
where metrics are kept."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path

# A writer thread gives up the GIL for every SQLite call and must win it back from the busy
# event loop; at the default 5 ms switch interval a batch spends most of its time waiting.
SWITCH_INTERVAL_SECONDS = 0.0005
GC_THRESHOLDS = (20_000, 20, 50)


def share_the_gil_often() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def pause_garbage_collector() -> None:
    """Before a long-running process imports what it lives with: collections while importing
    only walk objects that live as long as the process (`ot tui` starts ~5 % sooner without
    them). `settle_garbage_collector` turns it on again."""
    gc.disable()


def settle_garbage_collector() -> None:
    """Tune the garbage collector for a long-running process, once start-up has built what
    lives as long as the process (the benchmarks call it too, to time requests and screens as
    the product runs them)."""
    # Everything built so far (parsers, regexes, caches' owners) lives as long as the process:
    # keep it out of the garbage collector's generations so collections stay cheap under load.
    # Without it a full collection took about 100 ms in the middle of a dashboard's queries.
    gc.freeze()
    # Every hit allocates a few hundred short-lived objects; collecting the youngest generation
    # every 700 allocations (the default) cost about 15 % of the collector's time.
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()  # after `pause_garbage_collector`


def share_metrics_between_processes(directory: Path) -> None:
    """Keep metrics in files that every process of `ot serve` writes (its workers, the
    collector's process) and /metrics sums (prometheus-client's multiprocess mode), emptied
    first. Only before prometheus-client is imported: it reads the setting once."""
    assert "prometheus_client" not in sys.modules, "too late: prometheus_client is imported"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
