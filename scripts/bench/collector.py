"""Benchmark the collector (`POST /api/event`) against a bare aiohttp handler, over loopback.

Usage:
    python scripts/bench/collector.py [--duration 10] [--connections 64,256] [--rounds 2]
        [--workers 1] [--target-fraction 0.8 ...] [--overload-connections 400]
        [--database-url postgresql+asyncpg://...] [--durability full|process] [--keep]
        [--markdown] [--json FILE]

Run it with the Python of the environment opentracker is installed in (`.venv/bin/python`): it
starts `ot serve` and the bare handler with that same interpreter and finds `ot-admin` next to it.
It needs `wrk` on the PATH (or `--wrk`) and a web server log in Apache "combined" format
(`--log`, by default /work/shared/data/apache_combined_10k.log). `--help` lists every option.

What it does, all on 127.0.0.1:
  1. creates a temporary data folder, `ot-admin db upgrade`, an account and the site shop.example;
  2. turns the log into a few thousand distinct Plausible Events API bodies (real paths,
     referrers and User-Agents; ~10 % custom events with props; ~10 % bot User-Agents; the log's
     client IPs sent as X-Forwarded-For) and a wrk Lua script that cycles through them;
  3. in --rounds alternating rounds, each run after a short warm-up: the maximum rate of
     `ot serve` and of a bare aiohttp handler that only answers 202 (same interpreter, same
     process count), each the best over --connections, and the ratio of the two; with one
     worker also a "durable floor" (JSON body -> one row as wide as `hit` -> group commit on
     SQLite, answered after the commit), the ceiling of any durable one-process collector here,
     and its p99 at 80 % of its own maximum; the floor and `ot serve` (every run of it) commit
     in the same --durability mode (`OT_COLLECTOR__DURABILITY`), so that their ratio compares
     like with like;
  4. latency at --target-fraction (80 %) of ot's maximum rate, throttled with wrk's `delay()`;
  5. restarts ot with a small queue (--overload-queue) and overloads it with
     --overload-connections, counting 503s and sampling the server's memory (VmRSS, VmHWM);
  6. counts stored hits and dropped-hit counters in the database and compares them with the
     202s wrk received; reports the writer's batch sizes and commit times (from /metrics), and
     errors and warnings the server logged.

Absolute figures on a shared machine are noise; the ratio to the bare handler measured in the
same run is the figure to compare. Every process it starts is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_LOG = Path("/work/shared/data/apache_combined_10k.log")
# The durable floor's `synchronous` in each of ot's durability modes, as ot.db sets it on SQLite
# (this script imports nothing from ot: keep the two in step).
SQLITE_SYNCHRONOUS = {"full": "FULL", "process": "NORMAL"}
SITE_DOMAIN = "shop.example"
# The log's own site: its referrers become internal navigation on shop.example.
LOG_SITE_HOSTS = ("semicomplete.com", "www.semicomplete.com")
STATIC_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".svg",
    ".css",
    ".js",
    ".woff",
    ".woff2",
    ".ttf",
    ".eot",
    ".map",
    ".xml",
    ".txt",
    ".gz",
    ".zip",
    ".tar",
    ".pdf",
    ".mp4",
)
# Client-side guess only, to choose the share of bot traffic; the server decides for itself.
# A browser says "Mozilla/5.0 (...)" and names its engine; crawlers, feed readers and scripts
# either do not, or add a contact URL or address.
BROWSER_PATTERN = re.compile(
    r"^(Mozilla/[45]\.0 \(.*(Chrome/|Firefox/|Safari/|MSIE |Trident/|OPR/)|Opera/)"
)
NOT_BROWSER_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|feed|rss|archive|fetch|preview|favicon|proxy|phantomjs|headless"
    r"|http|www\.|@",
    re.IGNORECASE,
)
COMBINED_LINE = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" \d{3} \S+ '
    r'"(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"'
)
CUSTOM_EVENTS: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = (
    ("Signup", ({"plan": "free"}, {"plan": "pro", "method": "email"}, {"plan": "team"})),
    (
        "Add to Cart",
        (
            {"product": "T-shirt", "size": "M"},
            {"product": "Mug"},
            {"product": "Sticker pack", "quantity": 3},
        ),
    ),
    (
        "File Download",
        ({"url": "https://shop.example/catalogue.pdf"}, {"url": "https://shop.example/manual.zip"}),
    ),
    (
        "Outbound Link: Click",
        (
            {"url": "https://github.com/elastic/logstash"},
            {"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
        ),
    ),
    ("Purchase", ({"product": "Hoodie"}, {"product": "Gift card", "coupon": "WINTER"})),
)
READY_TIMEOUT = 60.0
THROTTLE_PERIOD_MS = 250.0
MAX_THROTTLE_CONNECTIONS = 2000
STOP_TIMEOUT = 45.0
RSS_SAMPLE_SECONDS = 0.25
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds

BARE_APP = '''\
"""A bare aiohttp app for the collector benchmark: reads the body, answers 202 "ok"."""
import sys

from aiohttp import web


async def event(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202, text="ok")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ready")


app = web.Application()
app.router.add_post("/api/event", event)
app.router.add_get("/readyz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            reuse_port=sys.argv[2] == "reuse", backlog=4096)
'''

# The least any durable collector does: parse the body, build one row as wide as our `hit`
# table, and answer only after a group commit (WAL, a writer thread), as ot does, with the
# `synchronous` of the durability mode measured (argv[3], see SQLITE_SYNCHRONOUS). No
# validation, enrichment, visits or dedup: the ceiling for a durable one-process collector on
# this machine, measured in the same run.
FLOOR_APP = '''\
"""A durable floor for the collector benchmark: JSON body -> one 36-column row -> group commit."""
import asyncio
import json
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

COLUMNS = [f"c{i}" for i in range(33)]
database = sqlite3.connect(sys.argv[2], check_same_thread=False, isolation_level=None)
database.execute("PRAGMA journal_mode=WAL")
database.execute(f"PRAGMA synchronous={sys.argv[3]}")
database.execute(f"CREATE TABLE hit (id INTEGER PRIMARY KEY, site_id INT, ts REAL, "
                 f"event_id TEXT, {', '.join(COLUMNS)})")
database.execute("CREATE INDEX hit_site_ts ON hit (site_id, ts)")
database.execute("CREATE UNIQUE INDEX hit_site_event ON hit (site_id, event_id)")
database.execute("CREATE INDEX hit_c0 ON hit (c0)")
INSERT = (f"INSERT INTO hit (site_id, ts, event_id, {', '.join(COLUMNS)}) "
          f"VALUES ({', '.join('?' * (3 + len(COLUMNS)))})")
pending = []
thread = ThreadPoolExecutor(1)


def commit(rows):
    database.execute("BEGIN IMMEDIATE")
    database.executemany(INSERT, rows)
    database.execute("COMMIT")


async def writer(app):
    loop = asyncio.get_running_loop()
    while True:
        await app["wakeup"].wait()
        app["wakeup"].clear()
        while pending:
            batch = pending[:]
            del pending[:]
            await loop.run_in_executor(thread, commit, [row for row, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


async def event(request):
    body = json.loads(await request.read())
    row = (1, time.time(), None, body.get("n"), body.get("u"), body.get("r"),
           request.headers.get("User-Agent", ""), request.headers.get("X-Forwarded-For", ""),
           *(["-"] * (len(COLUMNS) - 5)))
    done = asyncio.get_running_loop().create_future()
    pending.append((row, done))
    request.app["wakeup"].set()
    await done
    return web.Response(status=202, text="ok")


async def ready(request):
    return web.Response(text="ready")


async def run_writer(app):
    app["wakeup"] = asyncio.Event()
    task = asyncio.create_task(writer(app))
    yield
    task.cancel()


app = web.Application()
app.cleanup_ctx.append(run_writer)
app.router.add_post("/api/event", event)
app.router.add_get("/readyz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            backlog=4096)
'''

LUA_DRIVER = """\
-- Generated by scripts/bench/collector.py: cycles through distinct Plausible event requests.
local data = dofile({data_path})
local bodies, agents, forwarded = data.bodies, data.agents, data.forwarded
local count = #bodies
local prepared = {{}}
local index = 0
local threads = {{}}
local next_thread_id = 0
-- Globals, so that done() can read them from each thread with thread:get().
statuses = {{}}
samples = {{}}
missing_retry_after = 0
thread_id = 0

function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  for i = 1, count do
    prepared[i] = wrk.format("POST", "/api/event", {{
      ["Content-Type"] = "text/plain",
      ["User-Agent"] = agents[i],
      ["X-Forwarded-For"] = forwarded[i],
    }}, bodies[i])
  end
  index = (thread_id * 7919) % count
  math.randomseed(4242 + thread_id)
end

function request()
  index = index % count + 1
  return prepared[index]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 503 then
    local found = false
    for name, _ in pairs(headers) do
      if string.lower(name) == "retry-after" then found = true end
    end
    if not found then missing_retry_after = missing_retry_after + 1 end
  end
  if status >= 300 and #samples < 3 then
    samples[#samples + 1] = key .. " " .. string.sub(string.gsub(body or "", "%s+", " "), 1, 200)
  end
end
{delay_function}
function done(summary, latency, requests)
  local merged, missing = {{}}, 0
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {{}}
    for key, value in pairs(counts) do merged[key] = (merged[key] or 0) + value end
    missing = missing + (thread:get("missing_retry_after") or 0)
    for _, sample in ipairs(thread:get("samples") or {{}}) do
      io.write("OTBENCH sample " .. sample .. "\\n")
    end
  end
  for key, value in pairs(merged) do
    io.write(string.format("OTBENCH status %s %d\\n", key, value))
  end
  io.write(string.format("OTBENCH missing_retry_after %d\\n", missing))
  for _, p in ipairs({{50, 90, 99, 99.9}}) do
    io.write(string.format("OTBENCH latency_us p%s %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("OTBENCH latency_us max %d\\n", latency.max))
  io.write(string.format("OTBENCH duration_us %d\\n", summary.duration))
end
"""

LUA_DELAY = """
-- Throttling: wrk waits delay() ms after each answer before the connection's next request.
-- Exponential pauses (mean `period`) make the arrivals roughly Poisson: with a fixed pause the
-- connections that one group commit answers together would stay in step and arrive in waves.
-- wrk takes whole milliseconds, so round at random to keep the fractional part on average.
local period = {period_ms}
function delay()
  local pause = -math.log(1 - math.random()) * period
  local whole = math.floor(pause)
  if math.random() < pause - whole then whole = whole + 1 end
  return whole
end
"""


# --------------------------------------------------------------------------------------------
# Processes: every one started here is registered and stopped on the way out.


class Processes:
    """The processes this script started, each leading its own process group (so that
    `ot serve --workers N` is stopped with its workers)."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self._started.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the process's group, wait, then SIGKILL it. Returns the exit code."""
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"  pid {process.pid} did not stop in {timeout:.0f} s: killing it",
                    file=sys.stderr,
                )
        # Spawned workers may outlive their supervisor: kill whatever is left in its group.
        if _group_exists(process):
            _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process in self._started:
            self._started.remove(process)
        return process.returncode

    def stop_all(self) -> None:
        for process in list(reversed(self._started)):
            self.stop(process, timeout=10)


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _group_exists(process: subprocess.Popen[Any]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _raise_on_sigterm(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------------
# /proc readings: memory and CPU of a process tree, CPU of the whole machine.


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found.extend(int(child) for child in file.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def process_tree(roots: Sequence[int]) -> list[int]:
    """The processes and all their descendants."""
    tree: list[int] = []
    todo = list(roots)
    while todo and len(tree) < 256:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_rss_mib(roots: Sequence[int]) -> float:
    return sum(_status_kib(p, "VmRSS") for p in process_tree(roots)) / 1024


def tree_hwm_mib(roots: Sequence[int]) -> tuple[float, float]:
    """(sum, largest) of the peak resident set sizes (VmHWM) of the tree's processes."""
    peaks = [_status_kib(p, "VmHWM") / 1024 for p in process_tree(roots)]
    return sum(peaks), max(peaks, default=0.0)


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    ticks = 0
    for p in process_tree(roots):
        try:
            with open(f"/proc/{p}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of all cores since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as file:
        values = [int(v) for v in file.readline().split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process tree's resident memory in a thread while a run lasts."""

    def __init__(self, roots: Sequence[int]) -> None:
        self._roots = roots
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.samples.append((time.monotonic() - self._started, tree_rss_mib(self._roots)))

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float:
        return max((rss for t, rss in self.samples if start <= t < end), default=0.0)


# --------------------------------------------------------------------------------------------
# Payloads: Plausible Events API bodies from a real access log.


@dataclass
class Payloads:
    bodies: list[str]
    agents: list[str]
    forwarded: list[str]
    bot_like: int
    custom_events: int
    distinct_paths: int
    distinct_agents: int
    distinct_ips: int


def _looks_like_browser(agent: str) -> bool:
    return bool(BROWSER_PATTERN.search(agent)) and not NOT_BROWSER_PATTERN.search(agent)


def _printable(text: str) -> bool:
    return all(32 <= ord(char) < 127 for char in text)


def build_payloads(
    log: Path, count: int, *, event_share: float, bot_share: float, seed: int
) -> Payloads:
    rng = random.Random(seed)
    humans: list[tuple[str, str, str, str]] = []
    bots: list[tuple[str, str, str, str]] = []
    with log.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            match = COMBINED_LINE.match(line)
            if match is None or match["method"] not in ("GET", "POST"):
                continue
            path, agent = match["path"], match["agent"]
            if not path.startswith("/") or path.split("?", 1)[0].lower().endswith(STATIC_SUFFIXES):
                continue
            if not (_printable(path) and _printable(agent) and _printable(match["referrer"])):
                continue
            row = (match["ip"], path, match["referrer"], "" if agent == "-" else agent)
            (humans if _looks_like_browser(row[3]) else bots).append(row)
    if not humans:
        raise SystemExit(f"error: no page requests in Apache combined format found in {log}")
    bot_count = min(len(bots), round(count * bot_share)) if bots else 0
    rows = [rng.choice(humans) for _ in range(count - bot_count)]
    rows += [rng.choice(bots) for _ in range(bot_count)]
    rng.shuffle(rows)
    bodies, agents, forwarded, custom = [], [], [], 0
    for ip, path, referrer, agent in rows:
        body: dict[str, Any] = {
            "n": "pageview",
            "u": f"https://{SITE_DOMAIN}{path}",
            "d": SITE_DOMAIN,
            "r": _referrer(referrer),
        }
        if rng.random() < event_share:
            name, props_choices = rng.choice(CUSTOM_EVENTS)
            body["n"] = name
            body["p"] = rng.choice(props_choices)
            if name == "Purchase":
                body["revenue"] = {
                    "currency": rng.choice(["EUR", "USD"]),
                    "amount": f"{rng.randint(5, 250)}.{rng.randint(0, 99):02d}",
                }
            custom += 1
        bodies.append(json.dumps(body, separators=(",", ":")))
        agents.append(agent)
        forwarded.append(ip)
    return Payloads(
        bodies=bodies,
        agents=agents,
        forwarded=forwarded,
        bot_like=bot_count,
        custom_events=custom,
        distinct_paths=len({r[1] for r in rows}),
        distinct_agents=len(set(agents)),
        distinct_ips=len(set(forwarded)),
    )


def _referrer(referrer: str) -> str | None:
    if referrer in ("", "-"):
        return None
    for host in LOG_SITE_HOSTS:
        for scheme in ("http://", "https://"):
            if referrer.startswith(f"{scheme}{host}/") or referrer == f"{scheme}{host}":
                return f"https://{SITE_DOMAIN}" + referrer[len(scheme) + len(host) :]
    return referrer


def _lua_string(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def write_lua(folder: Path, payloads: Payloads) -> tuple[Path, Path]:
    """The payload data file and the unthrottled driver script."""
    data = folder / "payloads.lua"
    with data.open("w") as file:
        file.write("return {\n")
        for name, values in (
            ("bodies", payloads.bodies),
            ("agents", payloads.agents),
            ("forwarded", payloads.forwarded),
        ):
            file.write(f"  {name} = {{\n")
            for value in values:
                file.write(f"    {_lua_string(value)},\n")
            file.write("  },\n")
        file.write("}\n")
    driver = folder / "collector.lua"
    driver.write_text(LUA_DRIVER.format(data_path=_lua_string(str(data)), delay_function=""))
    return data, driver


def write_throttled_lua(folder: Path, data: Path, period_ms: float) -> Path:
    script = folder / "collector_throttled.lua"
    script.write_text(
        LUA_DRIVER.format(
            data_path=_lua_string(str(data)),
            delay_function=LUA_DELAY.format(period_ms=f"{period_ms:.4f}"),
        )
    )
    return script


# --------------------------------------------------------------------------------------------
# wrk: one run, and its output read back.


@dataclass
class WrkResult:
    label: str
    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    statuses: dict[int, int]
    latency_ms: dict[str, float]  # p50, p75, p90, p99, p99.9, max
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    missing_retry_after: int
    samples: list[str]
    server_cpu_percent: float = 0.0
    wrk_cpu_percent: float = 0.0
    other_cpu_percent: float = 0.0
    rss_peak_mib: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    target_rate: float = 0.0  # throttled runs only
    # From ot's /metrics, for this run: batches committed, their mean size and commit time.
    batches: int = 0
    mean_batch_hits: float = 0.0
    mean_commit_ms: float = 0.0
    commit_failures: int = 0
    output: str = ""

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    @property
    def unexpected(self) -> dict[int, int]:
        return {code: n for code, n in self.statuses.items() if code != 202}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS[unit]


def parse_wrk(label: str, connections: int, output: str) -> WrkResult:
    """Read wrk's human output (latencies in us/ms/s/m/h) and our done() lines."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.MULTILINE)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    latency: dict[str, float] = {}
    distribution = output.split("Latency Distribution", 1)
    if len(distribution) == 2:
        for match in re.finditer(
            r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", distribution[1], re.MULTILINE
        ):
            latency[f"p{float(match[1]):g}"] = _to_ms(match[2], match[3])
    stats = re.search(
        r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)\s+"
        r"([\d.]+)(us|ms|s|m|h)",
        output,
        re.MULTILINE,
    )
    if stats:
        latency["mean"] = _to_ms(stats[1], stats[2])
        latency["max"] = _to_ms(stats[5], stats[6])
    statuses: dict[int, int] = {}
    samples: list[str] = []
    missing = 0
    duration_s = _to_ms(total[2], total[3]) / 1000
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if parts[0] != "OTBENCH" or len(parts) < 3:
            continue
        if parts[1] == "status":
            statuses[int(parts[2])] = int(parts[3])
        elif parts[1] == "latency_us":
            key = parts[2]
            # Precise values from wrk's histogram; the text above rounds to 2 decimals.
            latency[key] = int(parts[3]) / 1000
        elif parts[1] == "missing_retry_after":
            missing = int(parts[2])
        elif parts[1] == "duration_us":
            duration_s = int(parts[2]) / 1e6
        elif parts[1] == "sample":
            samples.append(line.split(" ", 2)[2])
    socket_errors = {}
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return WrkResult(
        label=label,
        connections=connections,
        duration_s=duration_s,
        requests=int(total[1]),
        requests_per_s=float(rps[1]),
        statuses=statuses,
        latency_ms=latency,
        socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        missing_retry_after=missing,
        samples=samples,
        output=output,
    )


WRITER_METRICS = (
    "ot_write_batch_hits_sum",
    "ot_write_batch_hits_count",
    "ot_write_commit_seconds_sum",
    "ot_write_failures_total",
)


def scrape_metrics(url: str) -> dict[str, float]:
    """The writer's counters from ot's Prometheus endpoint, summed over labels."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        if name in WRITER_METRICS:
            with contextlib.suppress(ValueError):
                values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return values


def _add_writer_figures(
    result: WrkResult, before: dict[str, float], after: dict[str, float]
) -> None:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("ot_write_batch_hits_count")
    result.batches = int(batches)
    result.commit_failures = int(delta("ot_write_failures_total"))
    if batches:
        result.mean_batch_hits = delta("ot_write_batch_hits_sum") / batches
        result.mean_commit_ms = 1000 * delta("ot_write_commit_seconds_sum") / batches


@dataclass
class Round:
    """Maximum-rate measurements of each server, one per connection count."""

    ot_runs: list[WrkResult]
    bare_runs: list[WrkResult]
    floor_runs: list[WrkResult] = field(default_factory=list)

    @property
    def ot(self) -> WrkResult:
        return max(self.ot_runs, key=lambda result: result.accepted_per_s)

    @property
    def bare(self) -> WrkResult:
        return max(self.bare_runs, key=lambda result: result.accepted_per_s)

    @property
    def floor(self) -> WrkResult | None:
        return max(self.floor_runs, key=lambda result: result.accepted_per_s, default=None)

    @property
    def ratio(self) -> float:
        return self.ot.accepted_per_s / self.bare.accepted_per_s if self.bare.accepted_per_s else 0

    @property
    def floor_ratio(self) -> float | None:
        if self.floor is None or not self.bare.accepted_per_s:
            return None
        return self.floor.accepted_per_s / self.bare.accepted_per_s


@dataclass
class Target:
    label: str
    url: str
    pids: tuple[int, ...]  # the server's processes (ot's workers are children of the first)
    processes: tuple[subprocess.Popen[Any], ...] = ()
    log: Path | None = None

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{self.label} (pid {process.pid}) exited with code {process.returncode} "
                    f"during the benchmark; the end of its log:\n"
                    + (_tail(self.log) if self.log else "(no log)")
                )


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path, processes: Processes) -> None:
        self.args = args
        self.folder = folder
        self.processes = processes
        self.results: list[WrkResult] = []
        self.accepted_by_server: dict[str, int] = {}
        # Answers a run can miss (in flight when wrk stops) are at most its connections.
        self.connections_by_server: dict[str, int] = {}

    def wrk(
        self,
        target: Target,
        script: Path,
        *,
        seconds: int,
        connections: int,
        label: str,
        record: bool = True,
        sample_rss: bool = False,
    ) -> WrkResult:
        threads = max(1, min(self.args.threads, connections))
        command = [
            # wrk takes whole seconds only.
            self.args.wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            f"{self.args.timeout}s",
            "--latency",
            "-s",
            str(script),
            target.url + "/api/event",
        ]
        metrics_before = scrape_metrics(target.url) if target.label.startswith("ot") else {}
        cpu_before = tree_cpu_seconds(target.pids)
        busy_before = machine_cpu_seconds()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        sampler = RssSampler(target.pids) if sample_rss else None
        with sampler or contextlib.nullcontext():
            process = self.processes.start(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            try:
                output, _ = process.communicate(timeout=seconds + self.args.timeout + 60)
            finally:
                self.processes.stop(process, timeout=5)
        elapsed = time.monotonic() - started
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_after = machine_cpu_seconds()
        cpu_after = tree_cpu_seconds(target.pids)  # before scraping /metrics costs it CPU
        target.check_alive()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
        result = parse_wrk(label, connections, output)
        if metrics_before:
            _add_writer_figures(result, metrics_before, scrape_metrics(target.url))
        cores = os.cpu_count() or 1
        server_cpu = cpu_after - cpu_before
        wrk_cpu = (
            children_after.ru_utime
            + children_after.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime
        )
        machine_busy = busy_after - busy_before
        result.server_cpu_percent = 100 * server_cpu / elapsed
        result.wrk_cpu_percent = 100 * wrk_cpu / elapsed
        # Whatever else ran on the machine meanwhile (other people's jobs): the noise.
        result.other_cpu_percent = max(0.0, 100 * (machine_busy - server_cpu - wrk_cpu) / elapsed)
        result.other_cpu_percent = min(result.other_cpu_percent, 100.0 * cores)
        if sampler is not None:
            result.rss_peak_mib = sampler.peak()
            result.rss_samples = sampler.samples
        self.accepted_by_server[target.label] = (
            self.accepted_by_server.get(target.label, 0) + result.accepted
        )
        self.connections_by_server[target.label] = (
            self.connections_by_server.get(target.label, 0) + connections
        )
        if record:
            self.results.append(result)
        return result

    def max_rate(self, target: Target, script: Path, label: str) -> list[WrkResult]:
        """One run per connection count: group commit gains from concurrency, so a server's
        maximum is the best of them."""
        args = self.args
        if args.warmup > 0:
            self.wrk(
                target,
                script,
                seconds=args.warmup,
                connections=args.connections[0],
                label=f"{label} warm-up",
                record=False,
            )
        results = []
        for connections in args.connections:
            result = self.wrk(
                target,
                script,
                seconds=args.duration,
                connections=connections,
                label=label,
                sample_rss=True,
            )
            _print_result(result)
            results.append(result)
        return results


# --------------------------------------------------------------------------------------------
# Servers.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); its log:\n" + _tail(log))
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.2)
    raise RuntimeError(
        f"{url}/readyz was not 200 within {READY_TIMEOUT:.0f} s ({last}); log:\n" + _tail(log)
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def base_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    # Nothing from the caller's OT_* settings: the benchmark's configuration is all explicit.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OT_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["OT_DATA_DIR"] = str(data_dir)
    env["OT_LOG__ACCESS_LOG"] = "false"
    env["OT_COLLECTOR__DURABILITY"] = args.durability
    if args.database_url:
        env["OT_DATABASE_URL"] = args.database_url
    return env


def admin_command() -> list[str]:
    beside = Path(sys.executable).parent / "ot-admin"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "from ot.admin.cli import main; main()"]


def setup_database(env: dict[str, str], folder: Path) -> None:
    def admin(*arguments: str) -> str:
        done = subprocess.run(
            admin_command() + list(arguments),
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"ot-admin {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    admin("db", "upgrade", "--create")
    sites = json.loads(admin("sites", "list", "--json"))
    if any(site.get("domain") == SITE_DOMAIN for site in sites):
        print(f"  site {SITE_DOMAIN} exists already: reusing it")
        return
    created = admin("accounts", "create", "Bench")
    account = re.search(r"account (\d+) created", created)
    if account is None:
        raise RuntimeError(f"cannot read the account id from: {created!r}")
    admin("sites", "add", "--account", account[1], SITE_DOMAIN)


def start_ot(
    processes: Processes,
    env: dict[str, str],
    folder: Path,
    *,
    name: str,
    workers: int,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[Any], Target, Path]:
    port = free_port()
    server_env = dict(
        env,
        OT_SERVER__PORT=str(port),
        OT_SERVER__WORKERS=str(workers),
        OT_SERVER__HOST="127.0.0.1",
        **(extra_env or {}),
    )
    log = folder / f"{name}.log"
    with log.open("w") as output:
        process = processes.start(
            [sys.executable, "-m", "ot", "serve"],
            env=server_env,
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, log)
    return process, Target(name, url, (process.pid,), (process,), log), log


def start_bare(
    processes: Processes, env: dict[str, str], folder: Path, workers: int
) -> tuple[list[subprocess.Popen[Any]], Target]:
    script = folder / "bare_app.py"
    script.write_text(BARE_APP)
    port = free_port()
    mode = "reuse" if workers > 1 else "single"
    log = folder / "bare.log"
    started = []
    with log.open("w") as output:
        for _ in range(workers):
            started.append(
                processes.start(
                    [sys.executable, str(script), str(port), mode],
                    env=env,
                    cwd=folder,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    url = f"http://127.0.0.1:{port}"
    for process in started:
        wait_ready(url, process, log)
    pids = tuple(process.pid for process in started)
    return started, Target("bare", url, pids, tuple(started), log)


def start_floor(
    processes: Processes, env: dict[str, str], folder: Path, durability: str
) -> tuple[subprocess.Popen[Any], Target]:
    script = folder / "floor_app.py"
    script.write_text(FLOOR_APP)
    port = free_port()
    log = folder / "floor.log"
    synchronous = SQLITE_SYNCHRONOUS[durability]
    with log.open("w") as output:
        process = processes.start(
            [sys.executable, str(script), str(port), str(folder / "floor.sqlite3"), synchronous],
            env=env,
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, log)
    return process, Target("floor", url, (process.pid,), (process,), log)


def server_log_problems(log: Path) -> list[str]:
    """Errors, warnings and tracebacks in a server log, de-duplicated with counts."""
    counts: dict[str, int] = {}
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        message = None
        try:
            record = json.loads(line)
            if isinstance(record, dict) and record.get("level") in ("warning", "error", "critical"):
                rest = {k: v for k, v in record.items() if k not in ("time", "pid")}
                message = json.dumps(rest, sort_keys=True)
        except ValueError:
            if re.search(r"Traceback|Error|ERROR|WARNING|Exception", line):
                message = line.strip()
        if message:
            counts[message] = counts.get(message, 0) + 1
    return [f"{n}x {message[:300]}" for message, n in counts.items()]


# --------------------------------------------------------------------------------------------
# Database counts.


def count_rows(args: argparse.Namespace, data_dir: Path) -> dict[str, int]:
    """Stored hits and dropped-hit counters by reason (after the server drained)."""
    queries = {
        "hits": "SELECT count(*) FROM hit",
        "visits": "SELECT count(*) FROM visit",
    }
    dropped_query = "SELECT reason, sum(count) FROM dropped_hits GROUP BY reason"
    counts: dict[str, int] = {}
    if not args.database_url:
        path = data_dir / "opentracker.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            for key, query in queries.items():
                counts[key] = int(db.execute(query).fetchone()[0])
            for reason, total in db.execute(dropped_query):
                counts[f"dropped {reason}"] = int(total)
        return counts

    async def read() -> None:
        import asyncpg  # an opentracker dependency

        url = args.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        connection = await asyncpg.connect(url)
        try:
            for key, query in queries.items():
                counts[key] = int(await connection.fetchval(query))
            for row in await connection.fetch(dropped_query):
                counts[f"dropped {row[0]}"] = int(row[1])
        finally:
            await connection.close()

    asyncio.run(read())
    return counts


def count_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        key: after.get(key, 0) - before.get(key, 0)
        for key in sorted(set(before) | set(after))
        if after.get(key, 0) - before.get(key, 0)
    }


# --------------------------------------------------------------------------------------------
# The whole run.


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _print_result(result: WrkResult) -> None:
    lat = result.latency_ms
    others = ", ".join(f"{code}: {n}" for code, n in sorted(result.unexpected.items()))
    errors = ", ".join(f"{k} {v}" for k, v in result.socket_errors.items() if v)
    print(
        f"  {result.label}: {result.requests_per_s:,.0f} req/s, "
        f"{result.accepted_per_s:,.0f} accepted/s, p50 {_fmt_ms(lat.get('p50'))} ms, "
        f"p99 {_fmt_ms(lat.get('p99'))} ms, server CPU {result.server_cpu_percent:.0f} %, "
        f"wrk CPU {result.wrk_cpu_percent:.0f} %, others {result.other_cpu_percent:.0f} %"
        + (f", other statuses {others}" if others else "")
        + (f", socket errors {errors}" if errors else "")
    )
    for sample in result.samples:
        print(f"    sample answer: {sample}")


class Throttle:
    """wrk is a closed loop: a connection's next request leaves `delay` ms after the previous
    answer, so the rate is connections / (delay + response time). The delay stays between half
    and all of the period (connections / rate), so that the delay rather than the server's
    response time sets the rate (else a moment of noise turns the run into a saturated one);
    when the response time needs more than half the period, more connections are opened, at
    most twice the first count (beyond, the server is saturated and the rate falls short)."""

    def __init__(self, target_rate: float, minimum_connections: int) -> None:
        self.target_rate = target_rate
        self.connections = max(
            minimum_connections,
            min(MAX_THROTTLE_CONNECTIONS, round(target_rate * THROTTLE_PERIOD_MS / 1000)),
        )
        self.delay = self.period
        self.max_connections = min(MAX_THROTTLE_CONNECTIONS, 2 * self.connections)

    @property
    def period(self) -> float:
        return self.connections * 1000 / self.target_rate

    def adjust(self, achieved: float) -> None:
        overhead = self.connections * 1000 / achieved - self.delay  # response time, scheduling
        if self.period - overhead < self.period / 2 and achieved < self.target_rate:
            needed = math.ceil(2 * overhead * self.target_rate / 1000)
            self.connections = max(self.connections, min(self.max_connections, needed))
        self.delay = min(self.period, max(self.period / 2, self.period - overhead))


def throttled_run(
    bench: Bench, target: Target, data: Path, fraction: float, max_rate: float
) -> WrkResult:
    """Approach `fraction` of `max_rate` with a per-connection delay, calibrated on short runs;
    measure; measure once more if the machine's load moved the rate more than 10 % off."""
    args = bench.args
    throttle = Throttle(fraction * max_rate, args.connections[0])
    target_rate = throttle.target_rate
    label = f"{target.label} at {fraction:.0%} of max"
    calibration_seconds = max(2, min(5, args.duration // 3))
    for attempt in range(1, 4):
        script = write_throttled_lua(bench.folder, data, throttle.delay)
        probe = bench.wrk(
            target,
            script,
            seconds=calibration_seconds,
            connections=throttle.connections,
            label=f"{label}, calibration {attempt}",
            record=False,
        )
        achieved = probe.requests_per_s
        print(
            f"  {label}, calibration {attempt}: {throttle.connections} connections, mean "
            f"delay {throttle.delay:.1f} ms -> {achieved:,.0f} req/s (target {target_rate:,.0f})"
        )
        if achieved <= 0 or abs(achieved - target_rate) / target_rate < 0.03:
            break
        throttle.adjust(achieved)
    best: WrkResult | None = None
    for attempt in range(2):
        script = write_throttled_lua(bench.folder, data, throttle.delay)
        result = bench.wrk(
            target,
            script,
            seconds=args.duration,
            connections=throttle.connections,
            label=label,
            sample_rss=True,
            record=False,
        )
        _print_result(result)
        if best is None or (
            abs(result.requests_per_s - target_rate) < abs(best.requests_per_s - target_rate)
        ):
            best = result
        off_target = abs(result.requests_per_s - target_rate) / target_rate
        if result.requests_per_s <= 0 or off_target < 0.1:
            break
        if attempt == 0:
            print(f"  {result.requests_per_s / target_rate:.0%} of the target: measuring again")
            throttle.adjust(result.requests_per_s)
    assert best is not None
    best.target_rate = target_rate
    bench.results.append(best)
    return best


def describe_machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as file:
        load = " ".join(file.read().split()[:3])
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "load": load,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "ot"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in ot/' if dirty else ''}" if head else "unknown"


def wrk_version(wrk: str) -> str:
    try:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" [")[0] if first else "unknown"


def run(args: argparse.Namespace, folder: Path, processes: Processes) -> dict[str, Any]:
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe_machine(),
        "revision": git_revision(),
        "wrk": wrk_version(args.wrk),
        "command": "python scripts/bench/collector.py " + shlex.join(sys.argv[1:]),
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "durability": args.durability,
    }
    data_dir = folder / "data"
    env = base_env(args, data_dir)
    print(f"temporary folder: {folder}")
    print(
        f"machine: {report['machine']['cores']} cores, {report['machine']['cpu']}, "
        f"load {report['machine']['load']}"
    )

    payloads = build_payloads(
        args.log,
        args.payloads,
        event_share=args.event_share,
        bot_share=args.bot_share,
        seed=args.seed,
    )
    report["payloads"] = {
        "count": len(payloads.bodies),
        "custom_events": payloads.custom_events,
        "bot_like": payloads.bot_like,
        "distinct_paths": payloads.distinct_paths,
        "distinct_user_agents": payloads.distinct_agents,
        "distinct_ips": payloads.distinct_ips,
    }
    print(
        f"payloads: {len(payloads.bodies)} ({payloads.custom_events} custom events, "
        f"{payloads.bot_like} with a bot-like User-Agent, {payloads.distinct_paths} paths, "
        f"{payloads.distinct_agents} User-Agents, {payloads.distinct_ips} IPs)"
    )
    data, driver = write_lua(folder, payloads)

    print("setting up the database")
    setup_database(env, folder)
    before = count_rows(args, data_dir)

    bench = Bench(args, folder, processes)
    ot_process, ot, ot_log = start_ot(processes, env, folder, name="ot", workers=args.workers)
    bare_processes, bare = start_bare(processes, env, folder, args.workers)
    servers = [(bare, "bare"), (ot, "ot")]
    floor_process = None
    if args.floor:
        floor_process, floor = start_floor(processes, env, folder, args.durability)
        servers.append((floor, "floor"))
    report["rss_after_start_mib"] = round(tree_rss_mib(ot.pids), 1)

    rounds: list[Round] = []
    for number in range(args.rounds):
        # Alternate the order so that a trend in the machine's load favours neither.
        order = servers if number % 2 == 0 else servers[::-1]
        measured: dict[str, list[WrkResult]] = {}
        for target, name in order:
            label = f"{name} max" + (f" (round {number + 1})" if args.rounds > 1 else "")
            measured[name] = bench.max_rate(target, driver, label)
        rounds.append(
            Round(
                ot_runs=measured["ot"],
                bare_runs=measured["bare"],
                floor_runs=measured.get("floor", []),
            )
        )
        print(f"  ratio of the best accepted (202) per second, ot / bare: {rounds[-1].ratio:.2f}")
        if rounds[-1].floor_ratio is not None:
            print(
                f"  ratio of the best accepted (202) per second, durable floor / bare: "
                f"{rounds[-1].floor_ratio:.2f}"
            )
    for process in bare_processes:
        processes.stop(process, timeout=10)
    floor_throttled = []
    if floor_process is not None:
        floor_max = statistics.median(r.floor.accepted_per_s for r in rounds if r.floor)
        floor_throttled = [throttled_run(bench, floor, data, 0.8, floor_max)] if floor_max else []
        processes.stop(floor_process, timeout=10)

    ot_max = statistics.median(r.ot.accepted_per_s for r in rounds)
    throttled = [
        throttled_run(bench, ot, data, fraction, ot_max)
        for fraction in args.target_fraction
        if ot_max > 0
    ]
    report["rss_after_runs_mib"] = round(tree_rss_mib(ot.pids), 1)
    report["hwm_mib"] = round(tree_hwm_mib(ot.pids)[0], 1)

    print("stopping ot (it commits what is queued first)")
    exit_code = processes.stop(ot_process)
    after = count_rows(args, data_dir)
    stored = count_delta(before, after)
    accepted = bench.accepted_by_server.get("ot", 0)
    report["ot_exit_code"] = exit_code
    report["stored"] = stored
    report["accepted_total"] = accepted
    report["connections_total"] = bench.connections_by_server.get("ot", 0)
    report["log_problems"] = server_log_problems(ot_log)

    overload = None
    if args.overload_connections > 0:
        overload = overload_run(bench, env, folder, args, driver, data_dir, report)

    report["rounds"] = [
        {
            "ot": [_summary(x) for x in r.ot_runs],
            "bare": [_summary(x) for x in r.bare_runs],
            "floor": [_summary(x) for x in r.floor_runs],
            "ot_best_connections": r.ot.connections,
            "bare_best_connections": r.bare.connections,
            "floor_best_connections": r.floor.connections if r.floor else None,
            "ratio": round(r.ratio, 3),
        }
        for r in rounds
    ]
    floor_ratios = [r.floor_ratio for r in rounds if r.floor_ratio is not None]
    report["floor_ratio"] = round(statistics.median(floor_ratios), 3) if floor_ratios else None
    report["floor_max_per_s"] = (
        round(statistics.median(r.floor.accepted_per_s for r in rounds if r.floor), 1)
        if floor_ratios
        else None
    )
    report["floor_throttled"] = [
        _summary(result, report["floor_max_per_s"] or 0.0) for result in floor_throttled
    ]
    report["ratio"] = round(statistics.median(r.ratio for r in rounds), 3)
    report["ot_max_accepted_per_s"] = round(ot_max, 1)
    report["bare_max_per_s"] = round(statistics.median(r.bare.accepted_per_s for r in rounds), 1)
    report["throttled"] = [_summary(result, ot_max) for result in throttled]
    report["overload"] = overload
    report["other_cpu_percent"] = [round(r.other_cpu_percent) for r in bench.results]
    report["machine"]["load_at_end"] = describe_machine()["load"]
    return report


def overload_run(
    bench: Bench,
    env: dict[str, str],
    folder: Path,
    args: argparse.Namespace,
    driver: Path,
    data_dir: Path,
    report: dict[str, Any],
) -> dict[str, Any]:
    print(
        f"overload: ot with a queue of {args.overload_queue} hits, "
        f"{args.overload_connections} connections"
    )
    before = count_rows(args, data_dir)
    process, target, log = start_ot(
        bench.processes,
        env,
        folder,
        name="ot-overload",
        workers=args.workers,
        extra_env={"OT_COLLECTOR__QUEUE_SIZE": str(args.overload_queue)},
    )
    if args.warmup > 0:
        bench.wrk(
            target,
            driver,
            seconds=args.warmup,
            connections=args.connections[0],
            label="overload warm-up",
            record=False,
        )
    rss_warm = tree_rss_mib(target.pids)
    result = bench.wrk(
        target,
        driver,
        seconds=args.duration,
        connections=args.overload_connections,
        label="ot overload",
        sample_rss=True,
    )
    _print_result(result)
    samples = result.rss_samples
    half = result.duration_s / 2
    first_half = max((rss for t, rss in samples if t < half), default=0.0)
    second_half = max((rss for t, rss in samples if t >= half), default=0.0)
    hwm_sum, hwm_largest = tree_hwm_mib(target.pids)
    exit_code = bench.processes.stop(process)
    after = count_rows(args, data_dir)
    summary = _summary(result)
    summary.update(
        {
            "queue_size": args.overload_queue,
            "rss_after_warmup_mib": round(rss_warm, 1),
            "rss_peak_first_half_mib": round(first_half, 1),
            "rss_peak_second_half_mib": round(second_half, 1),
            "vmhwm_mib": round(hwm_sum, 1),
            "vmhwm_largest_process_mib": round(hwm_largest, 1),
            "exit_code": exit_code,
            "stored": count_delta(before, after),
            "accepted_total": bench.accepted_by_server.get("ot-overload", 0),
            "connections_total": bench.connections_by_server.get("ot-overload", 0),
            "log_problems": server_log_problems(log),
        }
    )
    print(
        f"  RSS after warm-up {rss_warm:.1f} MiB, peak {first_half:.1f} MiB (first half) / "
        f"{second_half:.1f} MiB (second half), VmHWM {hwm_sum:.1f} MiB"
    )
    return summary


def _summary(result: WrkResult, max_rate: float = 0.0) -> dict[str, Any]:
    return {
        "label": result.label,
        "connections": result.connections,
        "duration_s": round(result.duration_s, 2),
        "requests_per_s": round(result.requests_per_s, 1),
        "accepted_per_s": round(result.accepted_per_s, 1),
        "latency_ms": {k: round(v, 3) for k, v in result.latency_ms.items()},
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "socket_errors": result.socket_errors,
        "missing_retry_after": result.missing_retry_after,
        "server_cpu_percent": round(result.server_cpu_percent),
        "wrk_cpu_percent": round(result.wrk_cpu_percent),
        "other_cpu_percent": round(result.other_cpu_percent),
        "rss_peak_mib": round(result.rss_peak_mib, 1),
        "samples": result.samples,
        "writer": {
            "batches": result.batches,
            "mean_batch_hits": round(result.mean_batch_hits, 1),
            "mean_commit_ms": round(result.mean_commit_ms, 2),
            "commit_failures": result.commit_failures,
        },
        **(
            {
                "target_rate": round(result.target_rate, 1),
                "fraction": round(result.target_rate / max_rate, 3),
            }
            if result.target_rate and max_rate
            else {}
        ),
    }


# --------------------------------------------------------------------------------------------
# Reporting.


def _row(name: str, s: dict[str, Any]) -> list[str]:
    lat = s["latency_ms"]
    others = {k: v for k, v in s["statuses"].items() if k != "202"}
    errors = {k: v for k, v in s["socket_errors"].items() if v}
    return [
        name,
        str(s["connections"]),
        f"{s['requests_per_s']:,.0f}",
        f"{s['accepted_per_s']:,.0f}",
        _fmt_ms(lat.get("p50")),
        _fmt_ms(lat.get("p99")),
        _fmt_ms(lat.get("max")),
        ", ".join(f"{k}: {v}" for k, v in others.items()) or "-",
        ", ".join(f"{k} {v}" for k, v in errors.items()) or "-",
        f"{s['server_cpu_percent']}/{s['wrk_cpu_percent']}/{s['other_cpu_percent']}",
        (
            f"{s['writer']['mean_batch_hits']:.0f} / {s['writer']['mean_commit_ms']:.1f}"
            if s["writer"]["batches"]
            else "-"
        ),
    ]


HEADER = [
    "run",
    "conns",
    "req/s",
    "202/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "other statuses",
    "socket errors",
    "CPU % srv/wrk/other",
    "batch hits / commit ms",
]


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for number, round_ in enumerate(report["rounds"], 1):
        suffix = f" #{number}" if len(report["rounds"]) > 1 else ""
        for name, key in (("bare aiohttp", "bare"), ("durable floor", "floor"), ("ot serve", "ot")):
            for summary in round_.get(key, []):
                best = summary["connections"] == round_[f"{key}_best_connections"]
                marker = " (best)" if best and len(round_[key]) > 1 else ""
                rows.append(_row(f"{name}, max{suffix}{marker}", summary))
    for throttled in report.get("floor_throttled", []):
        rows.append(_row(f"durable floor, {throttled['fraction']:.0%} of its max", throttled))
    for throttled in report["throttled"]:
        rows.append(_row(f"ot serve, {throttled['fraction']:.0%} of max", throttled))
    if report["overload"]:
        rows.append(
            _row(
                f"ot serve, overload (queue {report['overload']['queue_size']})", report["overload"]
            )
        )
    return rows


def verdicts(report: dict[str, Any]) -> list[str]:
    lines = []
    busiest = max(report["other_cpu_percent"], default=0)
    if busiest > 30:
        lines.append(
            f"noise: other processes used up to {busiest} % CPU during a run "
            f"(of {report['machine']['cores']} x 100 %): absolute figures are unreliable"
        )
    normal = [summary for r in report["rounds"] for summary in r["ot"]] + report["throttled"]
    unexpected: dict[str, int] = {}
    for summary in normal:
        for code, n in summary["statuses"].items():
            if code != "202":
                unexpected[code] = unexpected.get(code, 0) + n
        for kind, n in summary["socket_errors"].items():
            if n:
                unexpected[f"socket {kind}"] = unexpected.get(f"socket {kind}", 0) + n
    if unexpected:
        lines.append(
            "ot answered other than 202 under normal load: "
            + ", ".join(f"{k}: {v:,}" for k, v in sorted(unexpected.items()))
        )
    failures = sum(summary["writer"]["commit_failures"] for summary in normal)
    if report["overload"]:
        failures += report["overload"]["writer"]["commit_failures"]
    if failures:
        lines.append(f"the writer reported {failures:,} failed batch commits")
    ratio = report["ratio"]
    lines.append(
        f"rate ratio ot/bare {ratio:.2f} (target >= 0.6): " + ("met" if ratio >= 0.6 else "NOT met")
    )
    if report.get("floor_ratio") is not None:
        lines.append(
            f"rate ratio durable floor/bare {report['floor_ratio']:.2f}: the most a "
            f"durable one-process collector reaches here; ot reaches "
            f"{ratio / report['floor_ratio']:.2f} of the floor (both in durability mode "
            f"{report['durability']})"
        )
    for throttled in report.get("floor_throttled", []):
        p99 = throttled["latency_ms"].get("p99", float("inf"))
        lines.append(
            f"durable floor p99 at {throttled['accepted_per_s']:,.0f} 202/s "
            f"(aiming at 80 % of its max): {p99:.1f} ms"
        )
    for throttled in report["throttled"]:
        p99 = throttled["latency_ms"].get("p99", float("inf"))
        share = (
            throttled["accepted_per_s"] / report["ot_max_accepted_per_s"]
            if report["ot_max_accepted_per_s"]
            else 0
        )
        text = (
            f"p99 at {share:.0%} of ot's max ({throttled['accepted_per_s']:,.0f} 202/s, "
            f"aiming at {throttled.get('fraction', 0):.0%}): {p99:.1f} ms"
        )
        if abs(throttled.get("fraction", 0) - 0.8) < 0.05:
            text += " (target < 25 ms at 80 %): " + ("met" if p99 < 25 else "NOT met")
        lines.append(text)
    overload = report["overload"]
    if overload:
        rejected = int(overload["statuses"].get("503", 0))
        growth = overload["rss_peak_second_half_mib"] - overload["rss_peak_first_half_mib"]
        bounded = rejected > 0 and growth <= max(10.0, 0.1 * overload["rss_peak_first_half_mib"])
        lines.append(
            f"overload: {rejected:,} answers 503 ({overload['missing_retry_after']} without "
            f"Retry-After), RSS {overload['rss_after_warmup_mib']:.0f} MiB after warm-up, "
            f"peak {overload['rss_peak_first_half_mib']:.0f} MiB in the first half and "
            f"{overload['rss_peak_second_half_mib']:.0f} MiB in the second half, VmHWM "
            f"{overload['vmhwm_mib']:.0f} MiB: " + ("bounded" if bounded else "NOT shown bounded")
        )
    return lines


def consistency(report: dict[str, Any]) -> list[str]:
    """Every 202 must be in the database: stored as a hit or counted as dropped (bots)."""
    lines = []
    overload = report["overload"] or {}
    for name, stored, accepted, in_flight in (
        ("ot", report["stored"], report["accepted_total"], report["connections_total"]),
        (
            "ot overload",
            overload.get("stored"),
            overload.get("accepted_total"),
            overload.get("connections_total"),
        ),
    ):
        if stored is None:
            continue
        dropped = sum(v for k, v in stored.items() if k.startswith("dropped"))
        hits = stored.get("hits", 0)
        drops = (
            ", ".join(
                f"{k.split(' ', 1)[1]} {v:,}" for k, v in stored.items() if k.startswith("dropped")
            )
            or "none"
        )
        surplus = hits + dropped - accepted
        verdict = "consistent" if 0 <= surplus <= in_flight else "INCONSISTENT"
        lines.append(
            f"{name}: {accepted:,} answers 202; {hits:,} hits stored, {dropped:,} "
            f"dropped ({drops}), {stored.get('visits', 0):,} new visits; stored + "
            f"dropped - 202s = {surplus:+,}, {verdict} (0 to {in_flight:,} expected: "
            f"requests in flight when a wrk run stops are stored, their answers not "
            f"counted)"
        )
    return lines


def _log_problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {problem}"
        for name, problems in (
            ("ot", report["log_problems"]),
            ("ot overload", (report["overload"] or {}).get("log_problems", [])),
        )
        for problem in problems
    ]


def print_table(report: dict[str, Any]) -> None:
    rows = [HEADER, *table_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print()
    for line in verdicts(report) + consistency(report):
        print(line)
    problems = _log_problems(report)
    if problems:
        print("the server logged:")
        for problem in problems[:10]:
            print(f"  {problem}")


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    payloads = report["payloads"]
    lines = [
        f"#### {report['date']} — {report['database']}, {report['args']['workers']} "
        f"worker{'s' if report['args']['workers'] > 1 else ''}, durability "
        f"`{report['durability']}`",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), shared; load average "
        f"{machine['load']} at the start, {machine['load_at_end']} at the end. Python "
        f"{machine['python']}, {report['wrk']}, opentracker {report['revision']}.",
        f"- Payloads: {payloads['count']:,} distinct bodies ({payloads['custom_events']} custom "
        f"events, {payloads['bot_like']} with a bot-like User-Agent), "
        f"{payloads['distinct_paths']} paths, {payloads['distinct_user_agents']} User-Agents, "
        f"{payloads['distinct_ips']} client IPs.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report)]
    lines.append("")
    lines += [f"- {line}" for line in verdicts(report) + consistency(report)]
    problems = _log_problems(report)
    if problems:
        lines.append("- The server logged: " + "; ".join(f"`{p}`" for p in problems[:5]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("at least one value is needed")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark ot serve's collector against a bare aiohttp handler (loopback).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=10, help="Seconds per measured run.")
    parser.add_argument("--warmup", type=int, default=3, help="Seconds of warm-up per run.")
    parser.add_argument(
        "--connections",
        type=_int_list,
        default=[64, 256],
        help="wrk connections of the maximum-rate runs, comma-separated: each "
        "server's maximum is the best of them (group commit needs "
        "concurrency). The first is also the throttled runs' minimum.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk threads (1 leaves the other core to the server on 2 cores).",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="Processes of ot serve, and of the bare handler."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="Maximum-rate measurements of each server, alternating; the ratio "
        "reported is the median of the rounds' ratios.",
    )
    parser.add_argument(
        "--target-fraction",
        type=float,
        action="append",
        help="Fraction of ot's maximum rate for a throttled latency run; "
        "repeatable; 0 skips them. Default: 0.8.",
    )
    parser.add_argument(
        "--overload-connections",
        type=int,
        default=400,
        help="wrk connections of the overload run (0 skips it).",
    )
    parser.add_argument(
        "--overload-queue",
        type=int,
        default=200,
        help="OT_COLLECTOR__QUEUE_SIZE of the overload run.",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=10,
        help="wrk's request timeout in seconds (slower answers are left out of "
        "its latency figures and counted as timeouts).",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="Run on this database (postgresql+asyncpg://...) instead of SQLite "
        "in the temporary folder; use an empty database.",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=DEFAULT_LOG,
        help="Web server log in Apache combined format to take payloads from.",
    )
    parser.add_argument("--payloads", type=int, default=3000, help="Distinct request bodies.")
    parser.add_argument(
        "--event-share",
        type=float,
        default=0.10,
        help="Share of custom events (with props) among the payloads.",
    )
    parser.add_argument(
        "--bot-share",
        type=float,
        default=0.10,
        help="Share of payloads with a bot-like User-Agent from the log (the "
        "server answers 202 but stores no hit for bots).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the payload choice.")
    parser.add_argument("--wrk", default="wrk", help="The wrk executable.")
    parser.add_argument(
        "--durability",
        choices=sorted(SQLITE_SYNCHRONOUS),
        default="full",
        help="The durability mode of ot serve (OT_COLLECTOR__DURABILITY) and of the durable "
        "floor (SQLite synchronous=FULL for full, NORMAL for process), the same for both.",
    )
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="Skip the durable floor reference (a minimal durable collector: "
        "JSON -> one row -> group commit on SQLite), measured by default "
        "with one worker.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary folder (data, logs, Lua scripts)."
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="Also print a Markdown block for docs/benchmarks.md.",
    )
    parser.add_argument("--json", type=Path, help="Also write the full report as JSON here.")
    args = parser.parse_args(argv)
    if min(args.duration, *args.connections, args.workers, args.rounds, args.timeout) < 1:
        parser.error("--duration, --connections, --workers, --rounds, --timeout must be positive")
    if args.duration > 600 or args.warmup > 120:
        parser.error("--duration is at most 600 s and --warmup at most 120 s")
    fractions = args.target_fraction or [0.8]
    if not all(0 <= fraction < 1 for fraction in fractions):
        parser.error("--target-fraction must be in [0, 1)")
    args.target_fraction = [fraction for fraction in fractions if fraction > 0]
    args.floor = args.floor and args.workers == 1  # the floor is the one-process reference
    if args.database_url and not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must start with postgresql+asyncpg://")
    if not args.log.is_file():
        parser.error(f"no log at {args.log}: pass --log with an Apache combined log")
    if shutil.which(args.wrk) is None:
        parser.error(f"wrk not found ({args.wrk}): install it or pass --wrk")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGHUP, _raise_on_sigterm)
    folder = Path(tempfile.mkdtemp(prefix="ot-bench-"))
    processes = Processes()
    try:
        report = run(args, folder, processes)
        report["args"] = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "database_url"
        }
        print_table(report)
        if args.markdown:
            print("\n" + markdown(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not leave servers behind: cleaning up is bounded in time anyway.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        processes.stop_all()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
