"""Benchmark the stats engine on a dashboard's bundle of queries at 1 and 10 million events.

Usage:
    python scripts/bench/query.py [--events 1000000,10000000] [--rounds 30]
        [--postgres-url postgresql+asyncpg://user:pw@host/postgres] [--markdown]
        [--folder DIR] [--reuse] [--raw-rounds N]

For each size it builds a site with a year of realistic traffic through the real write path
(`scripts/bench/dataset.py`: `ot.ingest.store.store_batch`, the collector writer's function),
brings the rollups up to date (`ot.rollups.job.run_rollups`, what `ot serve` runs), defines four
goals, and then times the bundle a dashboard asks for over the last 30 days (ending on the
site's today), in-process through `ot.stats.engine.run_query` (what the Stats API and
`ot-admin stats query` call):

  overview metrics with the previous period, the daily time series, and ten top-10 breakdowns
  (pages, entry pages, exit pages, sources, UTM campaigns, countries, browsers, OSes, devices,
  goals).

It times the bundle twice per size: first *rolled* (every hit rolled up), then *live*: after
storing today's traffic so far through the same write path (`dataset.live_hits`: as many hits
as the same weekday a week earlier held by this time of day) without running the rollup job
again, as a dashboard meets a live site between two runs, when today is read from the raw
tables and united with the rolled days.

The sizes' bundles are timed in turns (one bundle of each size per round), each on a connection
warmed up with two bundles, with the garbage collector set as `ot serve` sets it.
It reports each size's load and rollup times and the bundle's p50/p95 over --rounds rounds,
rolled and live, and the same bundle answered from the raw tables (rollups ignored) at the
smallest size, so that every figure has a reference measured in the same run; the rolled and
the live answers must equal the raw tables' (else it stops). With --postgres-url it creates (and
drops afterwards) one database per size on that server; otherwise SQLite in temporary folders.

Loading 10 million events takes a quarter of an hour or more, so --reuse keeps what a size
loaded (SQLite under --folder, PostgreSQL's database `ot_bench_<events>`) and, when it is there
already, only migrates it, brings the rollups up to date (rolling the live hits of an earlier
run too) and times the bundle again; the live hits it then stores are those of today whose time
has come since (at least one is needed: run it again a minute later if none is).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataset

from ot.config import Settings
from ot.db import create_engine
from ot.models import GoalKind, Site
from ot.paths import sqlite_path
from ot.rollups.job import run_rollups
from ot.schema import upgrade
from ot.stats.engine import run_query
from ot.stats.goals import add_goal
from ot.stats.query import parse_query
from ot.tuning import settle_garbage_collector

GOALS = [
    ("Signup", GoalKind.EVENT, "Signup"),
    ("Purchase", GoalKind.EVENT, "Purchase"),
    ("Visit /pricing", GoalKind.PAGE, "/pricing"),
    ("Read the blog", GoalKind.PAGE, "/blog/**"),
]
BREAKDOWNS = [
    ("event:page", ["visitors", "pageviews"]),
    ("visit:entry_page", ["visitors", "visits", "bounce_rate"]),
    ("visit:exit_page", ["visitors", "visits"]),
    ("visit:source", ["visitors", "visits", "bounce_rate", "visit_duration"]),
    ("visit:utm_campaign", ["visitors", "visits"]),
    ("visit:country", ["visitors"]),
    ("visit:browser", ["visitors"]),
    ("visit:os", ["visitors"]),
    ("visit:device", ["visitors"]),
    ("event:goal", ["visitors", "events", "conversion_rate"]),
]


def bundle(domain: str, today: date) -> list[dict[str, Any]]:
    """The queries a dashboard sends for "last 30 days" (Plausible Stats API v2 bodies)."""
    common = {"site_id": domain, "date_range": "30d", "date": today.isoformat()}
    overview = {
        **common,
        "metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                    "visit_duration"],
        "include": {"comparisons": {"mode": "previous_period"}},
    }  # fmt: skip
    series = {**common, "metrics": ["visitors", "pageviews"], "dimensions": ["time:day"]}
    tops = [
        {**common, "metrics": metrics, "dimensions": [dimension],
         "pagination": {"limit": 10, "offset": 0}}
        for dimension, metrics in BREAKDOWNS
    ]  # fmt: skip
    return [overview, series, *tops]


@dataclass
class SizeReport:
    events: int
    hits: int = 0
    load_seconds: float = 0.0
    rollup_seconds: float = 0.0
    rollup_days: int = 0
    bundle_ms: list[float] = field(default_factory=list)
    bundle_cpu_ms: list[float] = field(default_factory=list)
    raw_bundle_ms: list[float] = field(default_factory=list)
    load_average: tuple[float, float] = (0.0, 0.0)  # while the bundle was timed: before, after
    # The live case: today's hits stored after the rollup run (`new_hits` of them by this run).
    today_hits: int = 0
    new_hits: int = 0
    live_bundle_ms: list[float] = field(default_factory=list)
    live_bundle_cpu_ms: list[float] = field(default_factory=list)
    live_load_average: tuple[float, float] = (0.0, 0.0)

    def p(self, which: str, quantile: float) -> float:
        values = sorted(getattr(self, which))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(quantile * len(values)))]


@dataclass
class Timings:
    wall_ms: list[float] = field(default_factory=list)
    # CPU time per bundle of this process (SQLite works in its threads) plus, on PostgreSQL,
    # of the server process serving the connection: unlike wall time, other people's jobs on
    # a shared machine barely change it.
    cpu_ms: list[float] = field(default_factory=list)


class BundleTimer:
    """One connection that runs the bundle and times it, one bundle per call."""

    def __init__(self, connection: Any, site: Site, queries: list[dict[str, Any]], raw: bool):
        self.connection = connection
        self.site = site
        self.parsed = [parse_query(body) for body in queries]
        self.raw = raw
        self.now = datetime.now(UTC)
        self.server_cpu: Callable[[], float] = lambda: 0.0

    async def start(self, warm_up: int) -> None:
        """Run `warm_up` bundles untimed on this connection: a server's pooled connections
        have prepared the bundle's statements long before (asyncpg prepares each statement
        once per connection), and the first bundle on a new connection costs about three
        times a warm one."""
        self.server_cpu = await _server_cpu_reader(self.connection)
        for _ in range(warm_up):
            await self.results()

    async def results(self) -> list[Any]:
        return [
            await run_query(
                self.connection, self.site, query, now=self.now, use_rollups=not self.raw
            )
            for query in self.parsed
        ]

    async def time_one(self, timings: Timings) -> list[Any]:
        cpu = time.process_time() + self.server_cpu()
        started = time.perf_counter()
        results = await self.results()
        timings.wall_ms.append((time.perf_counter() - started) * 1000)
        timings.cpu_ms.append((time.process_time() + self.server_cpu() - cpu) * 1000)
        return results


async def _server_cpu_reader(connection: Any) -> Callable[[], float]:
    """Seconds of CPU used so far by the PostgreSQL process of `connection`, read from /proc
    (a server on this machine); 0 for SQLite or when unreadable."""
    if connection.dialect.name != "postgresql":
        return lambda: 0.0
    pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    stat = Path(f"/proc/{pid}/stat")
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    return read


async def existing_site(settings: Settings) -> Site | None:
    """The benchmark site of a database loaded by an earlier run (--reuse), migrated to head."""
    url = settings.effective_database_url
    if url.startswith("sqlite") and not sqlite_path(settings.data_dir).exists():
        return None
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            found = await session.exec(select(Site).where(Site.domain == dataset.DOMAIN))
            return found.first()
    finally:
        await engine.dispose()


async def roll(settings: Settings, report: SizeReport) -> None:
    reader, writer = create_engine(settings), create_engine(settings, for_writes=True)
    try:
        rolled = await run_rollups(reader, writer, now=datetime.now(UTC))
    finally:
        await reader.dispose()
        await writer.dispose()
    report.rollup_seconds, report.rollup_days = rolled.seconds, rolled.days_rolled


async def build(settings: Settings, report: SizeReport) -> Site:
    site = await dataset.create_site(settings)
    assert site.id is not None
    loaded = await dataset.load(settings, site.id, report.events, end=datetime.now(UTC).date())
    report.hits, report.load_seconds = loaded.hits, loaded.seconds
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            for name, kind, target in GOALS:
                where = {"page": target} if kind == GoalKind.PAGE else {"event": target}
                await add_goal(
                    session, site.id, display_name=name, actor=dataset.BENCHMARK, **where
                )
            await session.commit()
    finally:
        await engine.dispose()
    await roll(settings, report)
    return site


@dataclass
class Prepared:
    report: SizeReport
    settings: Settings
    site: Site
    queries: list[dict[str, Any]]


async def prepare_size(events: int, args: argparse.Namespace, folder: Path) -> Prepared:
    """A size's database, loaded now or (--reuse) earlier, with its rollups up to date."""
    report = SizeReport(events)
    data_dir = folder / f"data-{events}"
    database_url = ""
    site = None
    if args.postgres_url:
        database_url = await _postgres(
            args.postgres_url, _database_name(events), fresh=not args.reuse
        )
    settings = dataset.settings_for(data_dir, database_url)
    if args.reuse:
        site = await existing_site(settings)
    if site is None:
        print(f"{events:,} events: loading", flush=True)
        site = await build(settings, report)
        print(
            f"  {report.hits:,} hits loaded in {report.load_seconds:.0f} s, "
            f"{report.rollup_days} days rolled up in {report.rollup_seconds:.0f} s",
            flush=True,
        )
    else:
        await roll(settings, report)
        report.hits = await _count_hits(settings)
        print(f"{events:,} events: reusing {report.hits:,} hits loaded earlier; "
              f"{report.rollup_days} days rolled up in {report.rollup_seconds:.0f} s",
              flush=True)  # fmt: skip
    # The site's today, which the live hits are stored into.
    today = datetime.now(ZoneInfo(dataset.TIMEZONE)).date()
    return Prepared(report, settings, site, bundle(site.domain, today))


async def go_live(size: Prepared) -> None:
    """Store today's hits so far without rolling them up: a live site between two runs of the
    rollup job. Fails unless at least one of them is new, since otherwise today is rolled."""
    assert size.site.id is not None
    now = datetime.now(UTC)
    zone = ZoneInfo(dataset.TIMEZONE)
    today = now.astimezone(zone).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone)
    known = await dataset.visitors_before(size.settings, size.site.id, midnight)
    hits = dataset.live_hits(size.site.id, size.report.events, now, known)
    before = await _count_hits(size.settings)
    await dataset.store(size.settings, [hits])
    report = size.report
    report.new_hits = await _count_hits(size.settings) - before
    report.today_hits = len(hits)
    print(f"{report.events:,} events: live: today holds {report.today_hits:,} hits until "
          f"{now.astimezone(zone):%H:%M} (site's time), {report.new_hits:,} of them stored "
          f"after the rollup run", flush=True)  # fmt: skip
    if report.new_hits == 0:
        raise SystemExit("no hit of today was new since the last run (--reuse a minute ago?): "
                         "the live case would be rolled; run again in a minute")  # fmt: skip


def _database_name(events: int) -> str:
    return f"ot_bench_{events}"


async def run(sizes: list[int], args: argparse.Namespace, folder: Path) -> list[SizeReport]:
    prepared = [await prepare_size(size, args, folder) for size in sizes]
    settle_garbage_collector()  # as `ot serve` does once it has started
    raw_rounds = max(3, args.rounds // 5) if args.raw_rounds is None else args.raw_rounds
    rolled = await _time_bundles(prepared, args.rounds, live=False)
    if raw_rounds > 0:
        raw = await _time_raw(prepared[0], raw_rounds, kept=True)
        _check_same(rolled[0], raw, "rolled")
    for size in prepared:
        await go_live(size)
    live = await _time_bundles(prepared, args.rounds, live=True)
    if raw_rounds > 0:
        # The live answers against the raw tables' of the same moment (one bundle, untimed).
        _check_same(live[0], await _time_raw(prepared[0], 1, kept=False), "live")
    if args.postgres_url and not args.reuse:
        for events in sizes:
            await _drop_postgres(args.postgres_url, _database_name(events))
    return [size.report for size in prepared]


async def _time_bundles(prepared: list[Prepared], rounds: int, *, live: bool) -> list[list[Any]]:
    """Each size's bundle from rollups, `rounds` times, the sizes taking turns; the answers of
    the last round."""
    # The sizes' bundles take turns, round after round, so that the machine's load of the
    # moment (other people's jobs) falls on every size alike and their ratio stays fair.
    engines = [create_engine(size.settings) for size in prepared]
    timings = [Timings() for _ in prepared]
    last: list[list[Any]] = [[] for _ in prepared]
    try:
        async with contextlib.AsyncExitStack() as stack:
            timers = []
            for size, engine in zip(prepared, engines, strict=True):
                connection = await stack.enter_async_context(engine.connect())
                timer = BundleTimer(connection, size.site, size.queries, raw=False)
                await timer.start(warm_up=2)
                timers.append(timer)
            load_before = os.getloadavg()[0]
            for _ in range(rounds):
                for index, timer in enumerate(timers):
                    last[index] = await timer.time_one(timings[index])
            load_after = os.getloadavg()[0]
    finally:
        for engine in engines:
            await engine.dispose()
    for size, timed in zip(prepared, timings, strict=True):
        report = size.report
        if live:
            report.live_load_average = (load_before, load_after)
            report.live_bundle_ms, report.live_bundle_cpu_ms = timed.wall_ms, timed.cpu_ms
        else:
            report.load_average = (load_before, load_after)
            report.bundle_ms, report.bundle_cpu_ms = timed.wall_ms, timed.cpu_ms
        print(f"{report.events:,} events: {_summary(report, live)} (load {load_before:.1f} to "
              f"{load_after:.1f})", flush=True)  # fmt: skip
    return last


async def _time_raw(size: Prepared, rounds: int, *, kept: bool) -> list[Any]:
    """The bundle from the raw tables alone, `rounds` times (their times kept in the report
    when `kept`); the answers of the last one."""
    engine = create_engine(size.settings)
    raw_timings = Timings()
    try:
        async with engine.connect() as connection:
            timer = BundleTimer(connection, size.site, size.queries, raw=True)
            await timer.start(warm_up=0)
            for _ in range(rounds):
                raw = await timer.time_one(raw_timings)
    finally:
        await engine.dispose()
    if kept:
        report = size.report
        report.raw_bundle_ms = raw_timings.wall_ms
        slowest = max(report.raw_bundle_ms)
        print(f"{report.events:,} events: bundle from raw tables: p50 "
              f"{report.p('raw_bundle_ms', 0.5):.1f} ms, slowest {slowest:.1f} ms")  # fmt: skip
    return raw


def _summary(report: SizeReport, live: bool) -> str:
    wall, cpu = ("live_bundle_ms", "live_bundle_cpu_ms") if live else ("bundle_ms", "bundle_cpu_ms")
    return (
        f"{'live' if live else 'rolled'} bundle: p50 {report.p(wall, 0.5):.1f} ms, p95 "
        f"{report.p(wall, 0.95):.1f} ms; CPU p50 {report.p(cpu, 0.5):.1f} ms, p95 "
        f"{report.p(cpu, 0.95):.1f} ms"
    )


async def _count_hits(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM hit"))).scalar_one())
    finally:
        await engine.dispose()


def _check_same(rolled: list[Any], raw: list[Any], case: str) -> None:
    """The rollups must give the raw tables' answer: a benchmark of wrong numbers is worthless."""
    for fast, slow in zip(rolled, raw, strict=True):
        fast_rows = [(r.dimensions, r.metrics, r.comparison) for r in fast.rows]
        slow_rows = [(r.dimensions, r.metrics, r.comparison) for r in slow.rows]
        if fast_rows != slow_rows or fast.totals != slow.totals:
            raise SystemExit(f"{case}: rollups and raw tables disagree on {fast.query}:\n"
                             f"{fast_rows[:5]}\n{slow_rows[:5]}")  # fmt: skip
    print(f"{case} answers: the same as the raw tables'", flush=True)


async def _postgres(server_url: str, name: str, *, fresh: bool) -> str:
    """The URL of database `name` on that server: created empty, or kept if it exists and not
    `fresh`."""
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if fresh and exists:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        if fresh or not exists:
            await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres(server_url: str, name: str) -> None:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def markdown(reports: list[SizeReport], args: argparse.Namespace) -> str:
    backend = "PostgreSQL" if args.postgres_url else "SQLite"
    lines = [
        f"| {backend} | hits | load | rollups | rolled p50 / p95 | CPU p50 / p95 | load average "
        "| today's hits (new) | live p50 / p95 | live CPU p50 / p95 | load average "
        "| raw bundle p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        raw = f"{r.p('raw_bundle_ms', 0.5):.0f} ms" if r.raw_bundle_ms else "-"
        loaded = "reused"
        if r.load_seconds:
            loaded = f"{r.load_seconds:.0f} s ({r.hits / r.load_seconds:,.0f}/s)"
        lines.append(
            f"| {r.events:,} events | {r.hits:,} | {loaded} | {r.rollup_seconds:.0f} s | "
            f"{_pair(r, 'bundle_ms')} | {_pair(r, 'bundle_cpu_ms')} | "
            f"{r.load_average[0]:.1f} to {r.load_average[1]:.1f} | "
            f"{r.today_hits:,} ({r.new_hits:,}) | {_pair(r, 'live_bundle_ms')} | "
            f"{_pair(r, 'live_bundle_cpu_ms')} | "
            f"{r.live_load_average[0]:.1f} to {r.live_load_average[1]:.1f} | {raw} |"
        )
    return "\n".join(lines)


def _pair(report: SizeReport, which: str) -> str:
    return f"{report.p(which, 0.5):.1f} / {report.p(which, 0.95):.1f} ms"


def verdicts(reports: list[SizeReport]) -> list[str]:
    lines = []
    for r in reports:
        for case, which in (("rolled", "bundle_ms"), ("live", "live_bundle_ms")):
            p95 = r.p(which, 0.95)
            lines.append(f"{r.events:,} events: {case} bundle p95 {p95:.1f} ms (target < 150 ms): "
                         + ("met" if p95 < 150 else "NOT met"))  # fmt: skip
        if r.raw_bundle_ms:
            lines.append(f"  rollups answer {r.p('raw_bundle_ms', 0.5) / r.p('bundle_ms', 0.5):.0f}"
                         f" x faster than the raw tables (p50), with the same numbers")  # fmt: skip
    if len(reports) >= 2:
        small, large = reports[0], reports[-1]
        for case, which in (("rolled", "bundle_ms"), ("live", "live_bundle_ms")):
            growth = large.p(which, 0.95) / small.p(which, 0.95)
            verdict = "met" if growth <= 2 else "NOT met"
            lines.append(f"{case} bundle p95 at {large.events:,} / at {small.events:,}: "
                         f"{growth:.2f} (target <= 2): {verdict}")  # fmt: skip
        cpu_growth = large.p("bundle_cpu_ms", 0.5) / small.p("bundle_cpu_ms", 0.5)
        lines.append(f"  rolled bundle CPU p50 at {large.events:,} / at {small.events:,}: "
                     f"{cpu_growth:.2f}")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000,10000000",
                        help="Comma-separated dataset sizes, smallest first.")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=30, help="Bundles timed per size.")
    parser.add_argument("--postgres-url", default="",
                        help="A PostgreSQL server (postgresql+asyncpg://.../postgres) on which "
                        "to create one database per size; default: SQLite.")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="Keep the SQLite data folders.")
    parser.add_argument(
        "--folder",
        type=Path,
        help="Where SQLite's data folders go (kept); default: a temporary one.",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep each size's database, and time an existing one instead of loading it again.",
    )
    parser.add_argument("--raw-rounds", type=int,
                        help="Raw-table bundles timed at the smallest size (0: none, and no "
                        "check); default: a fifth of --rounds, at least 3.")  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="Print a table for the docs.")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.events.split(",")]
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ot-bench-query-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"temporary folder: {folder}; machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    try:
        reports = asyncio.run(run(sizes, args, folder))
    finally:
        if not (args.keep or args.folder):
            shutil.rmtree(folder, ignore_errors=True)
    print()
    for line in verdicts(reports):
        print(line)
    if args.markdown:
        print()
        print(markdown(reports, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
