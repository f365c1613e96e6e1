"""The collector process's work per hit, stage by stage, in one thread: what a change to
enrichment or to the writer's statements saves, without HTTP, the hand-off or the event loop.

    .venv/bin/python scripts/bench/collector_stages.py            # this checkout
    PYTHONPATH=../other .venv/bin/python scripts/bench/collector_stages.py   # another one

It makes a data folder as `collector.py` does (the site `shop.example`), builds the same
3,000 payloads from the real log, parses them as the server does, and then times, in CPU
seconds of this thread (`time.thread_time`: other processes on a busy machine do not count):

- `prepare`: `Collector.prepare` of every payload (site, enrichment, visitor id, encrypted IP),
  three passes, the last two timed (caches warm, as on a running server);
- `store_batch` and its parts over batches of 50 hits, each in a transaction rolled back, after
  the hits were stored once: every batch extends open visits, as on a running server.

The machine's speed still varies from minute to minute: compare checkouts run back to back, and
each stage against `insert_hits` (code no change touched) within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BATCH = 50
STORE_PARTS = ("_find_new", "_open_visits", "assign_visits", "_write_visits", "add_dropped_counts")


def load_collector_bench() -> Any:
    """scripts/bench/collector.py, for its payloads and data folder (it is not a package)."""
    spec = importlib.util.spec_from_file_location("collector_bench", HERE / "collector.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["collector_bench"] = module
    spec.loader.exec_module(module)
    return module


def timed(spent: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.thread_time() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, default=None, help="Apache combined log to use.")
    args = parser.parse_args()
    bench = load_collector_bench()
    with tempfile.TemporaryDirectory(prefix="ot-stages-") as folder_name:
        folder = Path(folder_name)
        data_dir = folder / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OT_")}
        env["OT_DATA_DIR"] = str(data_dir)
        bench.setup_database(env, folder)
        os.environ.clear()
        os.environ.update(env)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder / "metrics")
        (folder / "metrics").mkdir()
        measure(bench, args.log or bench.DEFAULT_LOG)


def measure(bench: Any, log: Path) -> None:
    # Imported only now: the settings and metrics read the environment set above.
    from ot.clock import utcnow
    from ot.config import Settings
    from ot.db import create_sqlite_writer_engine
    from ot.errors import OtError
    from ot.ingest import plausible, store
    from ot.ingest.hit import EnrichedHit
    from ot.ingest.service import running_collector
    from ot.server.app import payload_limits
    from ot.storage import StorageHealth

    settings = Settings()
    limits = payload_limits(settings)
    payloads = bench.build_payloads(log, 3000, event_share=0.10, bot_share=0.10, seed=1)
    incomings = [
        plausible.parse_event(
            body.encode(),
            user_agent=agent,
            ip=forwarded.split(",")[0].strip(),
            limits=limits,
        )
        for body, agent, forwarded in zip(
            payloads.bodies, payloads.agents, payloads.forwarded, strict=True
        )
    ]
    hits: list[EnrichedHit] = []

    async def prepare_all() -> None:
        async with running_collector(settings, health=StorageHealth()) as collector:
            now = utcnow()
            for round_ in range(3):
                started, prepared = time.thread_time(), 0
                for incoming in incomings:
                    try:
                        result = await collector.prepare(incoming, now)
                    except OtError:
                        continue
                    prepared += 1
                    if round_ == 0:
                        hits.extend(result.hits)
                if round_:
                    per_hit = (time.thread_time() - started) / prepared * 1e6
                    print(f"prepare: {per_hit:.1f} µs a hit ({prepared} payloads)")

    asyncio.run(prepare_all())

    spent: dict[str, float] = defaultdict(float)
    for name in STORE_PARTS:
        setattr(store, name, timed(spent, name, getattr(store, name)))
    engine = create_sqlite_writer_engine(settings)
    timeout = timedelta(minutes=30)
    batches = [hits[i : i + BATCH] for i in range(0, len(hits) - BATCH + 1, BATCH)]
    dropped = {(hits[0].site_id, utcnow().date(), "bot"): 5}
    with engine.connect() as connection:
        with connection.begin():  # stored once: the timed batches extend these visits
            for batch in batches:
                store.store_batch(connection, batch, visit_timeout=timeout)
        insert = store._statements(connection.dialect).insert_hits
        insert.run_values = timed(spent, "insert_hits", insert.run_values)  # type: ignore[method-assign]
        for _ in range(2):  # the second pass is reported
            spent.clear()
            total, count = 0.0, 0
            for batch in batches:
                transaction = connection.begin()
                started = time.thread_time()
                store.store_batch(connection, batch, visit_timeout=timeout, dropped=dropped)
                total += time.thread_time() - started
                count += len(batch)
                transaction.rollback()
    engine.dispose()
    parts = ", ".join(f"{name} {seconds / count * 1e6:.1f}" for name, seconds in spent.items())
    print(f"store_batch: {total / count * 1e6:.1f} µs a hit in batches of {BATCH} ({parts})")


if __name__ == "__main__":
    main()
