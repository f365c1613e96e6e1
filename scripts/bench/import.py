"""Benchmark `ot-admin import-log` against GoAccess reading the same file, in the same run.

Usage:
    .venv/bin/python scripts/bench/import.py [--lines 1000000] [--log FILE] [--rounds 2]
        [--database-url postgresql+asyncpg://user:password@host/postgres] [--keep]

It builds a large realistic log from a real Apache combined log (--log, by default
tests/fixtures/apache_combined_10k.log.gz): the log repeated until it has --lines lines, each copy
shifted by the log's span so dates, visitors and visits keep their real shape. Then, in each of
--rounds rounds, it times:
  - GoAccess parsing the file: `goaccess FILE --no-global-config --log-format=COMBINED
    --static-file=... -o OUT.json` (the reference);
  - `ot-admin import-log semicomplete.com FILE --json` into a fresh data folder (SQLite, or with
    --database-url a new database on that PostgreSQL server, dropped afterwards), with the
    default switches (only pages are stored) and with
    `--include-static --include-crawlers --include-404` (every line is stored);
and prints lines per second for each and the ratio to GoAccess measured in the same round. It also
checks that the import's figures equal GoAccess's. Absolute figures on a shared machine are noise;
compare ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ot.logimport.classify import STATIC_EXTENSIONS  # noqa: E402

DEFAULT_LOG = ROOT / "tests" / "fixtures" / "apache_combined_10k.log.gz"
TIMESTAMP = re.compile(rb"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
EVERYTHING = ["--include-static", "--include-crawlers", "--include-404"]


def build_log(source: Path, lines: int, target: Path) -> int:
    raw = source.read_bytes()
    if source.suffix == ".gz":
        raw = gzip.decompress(raw)
    originals = raw.splitlines(keepends=True)
    parsed = []
    for line in originals:
        found = TIMESTAMP.search(line)
        moment = (
            datetime.strptime(found.group(1).decode(), "%d/%b/%Y:%H:%M:%S %z") if found else None
        )
        parsed.append((line, found, moment))
    moments = [moment for _, _, moment in parsed if moment is not None]
    span = (max(moments) - min(moments)) + timedelta(days=1)
    written = 0
    with target.open("wb") as output:
        copy = 0
        while written < lines:
            shift = span * copy
            for line, found, moment in parsed:
                if written >= lines:
                    break
                if found is None or moment is None:
                    output.write(line)
                else:
                    stamp = (moment + shift).strftime("%d/%b/%Y:%H:%M:%S %z").encode()
                    output.write(line[: found.start(1)] + stamp + line[found.end(1) :])
                written += 1
            copy += 1
    return written


def time_goaccess(log: Path, work: Path) -> tuple[float, dict[str, int]]:
    output = work / "goaccess.json"
    command = [
        "goaccess", str(log), "--no-global-config", "--log-format=COMBINED",
        *(f"--static-file={extension}" for extension in STATIC_EXTENSIONS),
        "-o", str(output),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    general = json.loads(output.read_text())["general"]
    return elapsed, general


def time_import(
    log: Path, work: Path, switches: list[str], server_url: str
) -> tuple[float, dict[str, object]]:
    data_dir = work / f"data-{time.monotonic_ns()}"
    database_url = fresh_postgres(server_url) if server_url else ""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OT_")},
        "OT_DATA_DIR": str(data_dir),
        "OT_DATABASE_URL": database_url,
    }
    admin = str(Path(sys.executable).with_name("ot-admin"))
    try:
        if database_url:
            subprocess.run(
                [admin, "db", "upgrade"], env=environment, check=True, capture_output=True
            )
        for command in (
            ["account", "create", "Bench B.V."],
            ["site", "add", "--account", "1", "semicomplete.com"],
        ):
            subprocess.run([admin, *command], env=environment, check=True, capture_output=True)
        started = time.perf_counter()
        finished = subprocess.run(
            [admin, "import-log", "semicomplete.com", str(log), "--json", *switches],
            env=environment,
            check=True,
            capture_output=True,
        )
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if database_url:
            drop_postgres(database_url)
    return elapsed, json.loads(finished.stdout)


def _postgres(url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (asyncpg, as the product uses)."""
    script = (
        "import asyncio, asyncpg, sys\n"
        "async def main(url, statement):\n"
        "    connection = await asyncpg.connect(url)\n"
        "    await connection.execute(statement)\n"
        "    await connection.close()\n"
        "asyncio.run(main(sys.argv[1], sys.argv[2]))\n"
    )
    subprocess.run([sys.executable, "-c", script, url, statement], check=True)


def fresh_postgres(server_url: str) -> str:
    """A new, empty database of our own on the server of `server_url`."""
    name = f"ot_bench_import_{os.getpid()}_{time.monotonic_ns()}"
    base, _, _ = server_url.rpartition("/")
    _postgres(server_url.replace("+asyncpg", ""), f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def drop_postgres(database_url: str) -> None:
    base, _, name = database_url.rpartition("/")
    _postgres(f"{base}/postgres".replace("+asyncpg", ""), f"DROP DATABASE IF EXISTS {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server URL: each import gets a database of its own there, dropped after",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    arguments = parser.parse_args()
    if shutil.which("goaccess") is None:
        sys.exit("goaccess is not installed (apt-get install goaccess)")

    work = Path(tempfile.mkdtemp(prefix="ot-bench-import-"))
    try:
        log = work / "access.log"
        lines = build_log(arguments.log, arguments.lines, log)
        print(
            f"log: {lines:,} lines, {log.stat().st_size / 1e6:,.0f} MB ({arguments.log.name} "
            f"repeated with shifted dates)",
            flush=True,
        )
        rows: list[tuple[int, str, float, float]] = []
        ratios: dict[str, list[float]] = {"default switches": [], "everything stored": []}
        for round_number in range(1, arguments.rounds + 1):
            goaccess_seconds, general = time_goaccess(log, work)
            rows.append((round_number, "goaccess", goaccess_seconds, 1.0))
            goaccess_rate = lines / goaccess_seconds
            for label, switches in (("default switches", []), ("everything stored", EVERYTHING)):
                seconds, summary = time_import(log, work, switches, arguments.database_url)
                ratio = (lines / seconds) / goaccess_rate
                rows.append((round_number, f"ot-admin import-log, {label}", seconds, ratio))
                ratios[label].append(ratio)
                figures = summary["goaccess"]  # type: ignore[index]
                if switches == EVERYTHING:
                    for name in ("valid_requests", "unique_visitors", "unique_files", "bandwidth"):
                        if figures[name] != general[name]:  # type: ignore[index]
                            print(
                                f"  MISMATCH {name}: ours {figures[name]}, "  # type: ignore[index]
                                f"goaccess {general[name]}"
                            )
                print(
                    f"round {round_number}: {label}: {seconds:.1f} s, imported "
                    f"{summary['imported']:,}",
                    flush=True,
                )
        print()
        header = "| round | what | seconds | lines/s | ratio to GoAccess |"
        print(header)
        print("|---|---|---:|---:|---:|")
        for round_number, what, seconds, ratio in rows:
            print(
                f"| {round_number} | {what} | {seconds:.1f} | {lines / seconds:,.0f} | "
                f"{ratio:.3f} |"
            )
        print()
        for label, values in ratios.items():
            print(f"median ratio, {label}: {statistics.median(values):.3f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if arguments.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
