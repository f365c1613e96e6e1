"""Benchmark `ot-admin import-log` against GoAccess reading the same file, in the same run.

Usage:
    .venv/bin/python scripts/bench/import.py [--lines 1000000] [--log FILE] [--rounds 2]
        [--database-url postgresql+asyncpg://user:password@host/postgres] [--keep]
        [--default-only]

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


def time_goaccess(log: Path, work: Path) -> tuple[float, dict[str, int], int]:
    """Seconds, GoAccess's general figures, and its peak memory (KiB)."""
    output = work / "goaccess.json"
    command = [
        "goaccess", str(log), "--no-global-config", "--log-format=COMBINED",
        *(f"--static-file={extension}" for extension in STATIC_EXTENSIONS),
        "-o", str(output),
    ]  # fmt: skip
    elapsed, peak = run_measured(command, os.environ.copy(), Path(os.devnull))
    general = json.loads(output.read_text())["general"]
    return elapsed, general, peak


def run_measured(
    command: list[str], environment: dict[str, str], output: Path
) -> tuple[float, int]:
    """Run a command with its standard output to `output`; seconds and peak memory (KiB)."""
    started = time.perf_counter()
    with output.open("wb") as stdout, open(os.devnull, "wb") as quiet:
        process = subprocess.Popen(command, env=environment, stdout=stdout, stderr=quiet)
        # wait4 gives this child's own resource use; its ru_maxrss covers the processes it
        # waited for too (the import's writer process), as the largest of them.
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{command[0]} failed: run it by hand to see why: {' '.join(command)}")
    return elapsed, usage.ru_maxrss


def time_import(
    log: Path, work: Path, switches: list[str], server_url: str
) -> tuple[float, dict[str, object], int]:
    """Seconds, the --json summary, and the peak memory (KiB) of the import's largest process."""
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
                [admin, "db", "upgrade", "--create"],
                env=environment,
                check=True,
                capture_output=True,
            )
        for command in (
            ["accounts", "create", "Bench B.V."],
            ["sites", "add", "--account", "1", "semicomplete.com"],
        ):
            subprocess.run([admin, *command], env=environment, check=True, capture_output=True)
        output = work / "summary.json"
        command = [admin, "import-log", "semicomplete.com", str(log), "--json", *switches]
        elapsed, peak = run_measured(command, environment, output)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if database_url:
            drop_postgres(database_url)
    return elapsed, json.loads(output.read_text()), peak


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
    parser.add_argument(
        "--default-only", action="store_true", help="skip the import that stores every line"
    )
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
        load_before = os.getloadavg()[0]
        rows: list[tuple[int, str, float, float, int]] = []
        ratios: dict[str, list[float]] = {"default switches": [], "everything stored": []}
        for round_number in range(1, arguments.rounds + 1):
            goaccess_seconds, general, peak = time_goaccess(log, work)
            print(f"round {round_number}: goaccess: {goaccess_seconds:.1f} s", flush=True)
            rows.append((round_number, "goaccess", goaccess_seconds, 1.0, peak))
            goaccess_rate = lines / goaccess_seconds
            kinds = [("default switches", [])]
            if not arguments.default_only:
                kinds.append(("everything stored", EVERYTHING))
            for label, switches in kinds:
                seconds, summary, peak = time_import(log, work, switches, arguments.database_url)
                ratio = (lines / seconds) / goaccess_rate
                rows.append((round_number, f"ot-admin import-log, {label}", seconds, ratio, peak))
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
                    f"{summary['imported']:,}, ratio {ratio:.3f}, "
                    f"peak memory {peak / 1024:.0f} MiB",
                    flush=True,
                )
        print()
        header = "| round | what | seconds | lines/s | ratio to GoAccess | peak memory |"
        print(header)
        print("|---|---|---:|---:|---:|---:|")
        for round_number, what, seconds, ratio, peak in rows:
            print(
                f"| {round_number} | {what} | {seconds:.1f} | {lines / seconds:,.0f} | "
                f"{ratio:.3f} | {peak / 1024:.0f} MiB |"
            )
        print()
        for label, values in ratios.items():
            if values:
                print(f"median ratio, {label}: {statistics.median(values):.3f}")
        print(f"load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}")
    finally:
        if arguments.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
