"""Benchmark how fast the command-line tools start: `--help` and a few simple commands.

Usage:
    python scripts/bench/startup.py [--repeats 15] [--quiet-reference 0.020] [--folder DIR]

Targets (issue 11, item 6): `ot-admin --help` and `ot --help` under 0.3 s, a simple command
(`ot-admin sites list` on a small database) under 0.6 s, on a quiet machine.

Our machine is shared, so a wall-clock figure on its own says little. The script therefore times,
in the same run, `python -c pass` with the same interpreter (the reference: the interpreter's own
start-up, site-packages and the editable install's finder included) and reports every command as
its median in seconds AND as the ratio of that median to the reference's, for the wall clock and
for the CPU time (user + system, from `wait4`), which a busy machine inflates much less. Each
repetition starts fresh subprocesses of all the commands one after the other (the order
rotating), so that the machine's noise falls on all of them alike.

The verdict multiplies each ratio by `--quiet-reference`, what `python -c pass` takes on a quiet
machine, to estimate the command's time there, and compares that with the target. The load
average before and after the run is printed: above the number of cores, the run was noisy.

The data folder (a temporary one unless --folder) is made with `ot-admin db upgrade --create`,
one account and one site, so that `site list` and `account list` read a small real database.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HELP_TARGET_SECONDS = 0.3
COMMAND_TARGET_SECONDS = 0.6


@dataclass
class Timed:
    """One command line, what it must stay under on a quiet machine, and its timings."""

    label: str
    argv: list[str]
    target_seconds: float | None  # None for the reference
    seconds: list[float] = field(default_factory=list)  # wall clock
    cpu_seconds: list[float] = field(default_factory=list)  # user + system, from wait4

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)


def tool(name: str) -> list[str]:
    """The console script installed beside this interpreter (`ot`, `ot-admin`), as users run it."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    module = "ot.admin.cli" if name == "ot-admin" else "ot.cli"
    return [sys.executable, "-c", f"from {module} import main; main()"]


def run_checked(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def make_data_folder(env: dict[str, str], cwd: Path) -> None:
    """A small installation: the schema, one account and one site."""
    admin = tool("ot-admin")
    run_checked([*admin, "db", "upgrade", "--create"], env, cwd)
    created = run_checked([*admin, "accounts", "create", "Bench"], env, cwd)
    account = re.search(r"(\d+)", created)
    if account is None:
        raise RuntimeError(f"no account id in {created!r}")
    run_checked(
        [*admin, "sites", "add", "startup.example", "--account", account.group(1)], env, cwd
    )


def time_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run. CPU time grows much less than
    wall-clock time when other jobs take the cores, so its ratios are the steadier figure."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode})")
    return elapsed, usage.ru_utime + usage.ru_stime


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def measure(timed: list[Timed], repeats: int, env: dict[str, str], cwd: Path) -> None:
    for _ in range(2):  # warm the page cache and the bytecode caches; not counted
        for entry in timed:
            time_once(entry.argv, env, cwd)
    for repeat in range(repeats):
        shift = repeat % len(timed)
        for entry in timed[shift:] + timed[:shift]:
            wall, cpu = time_once(entry.argv, env, cwd)
            entry.seconds.append(wall)
            entry.cpu_seconds.append(cpu)


def report(timed: list[Timed], quiet_reference: float) -> bool:
    """Print the table and the verdicts; True when every target is met by the wall-clock
    estimate."""
    reference, cpu_reference = timed[0].median, timed[0].cpu_median
    print(
        f"\n{'command':<22} {'median s':>8} {'min s':>6} {'ratio':>6} {'quiet est.':>10}"
        f" {'cpu s':>6} {'cpu ratio':>9} {'quiet est.':>10} {'target':>6}  verdict (wall, cpu)"
    )
    all_met = True
    for entry in timed:
        ratio, cpu_ratio = entry.median / reference, entry.cpu_median / cpu_reference
        estimate, cpu_estimate = ratio * quiet_reference, cpu_ratio * quiet_reference
        if entry.target_seconds is None:
            target = verdict = ""
        else:
            met = estimate < entry.target_seconds
            all_met &= met
            target = f"{entry.target_seconds:.1f}"
            verdict = ", ".join(
                "met" if value < entry.target_seconds else "MISSED"
                for value in (estimate, cpu_estimate)
            )
        print(
            f"{entry.label:<22} {entry.median:>8.3f} {min(entry.seconds):>6.3f} {ratio:>6.1f}"
            f" {estimate:>10.3f} {entry.cpu_median:>6.3f} {cpu_ratio:>9.1f} {cpu_estimate:>10.3f}"
            f" {target:>6}  {verdict}"
        )
    print(
        "\nratio = median / median of `python -c pass` (wall clock; cpu: user + system time);"
        f" quiet est. = ratio x {quiet_reference} s (--quiet-reference)"
    )
    print(
        f"targets: --help < {HELP_TARGET_SECONDS} s, simple command < {COMMAND_TARGET_SECONDS} s:"
        f" {'all met' if all_met else 'NOT all met'} (by the wall-clock estimates)"
    )
    return all_met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--repeats", type=int, default=15, help="Timed runs of each command (medians are reported)."
    )
    parser.add_argument(
        "--quiet-reference",
        type=float,
        default=0.020,
        help="Seconds `python -c pass` takes on a quiet machine: turns the "
        "ratios into the estimates the targets are judged by.",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="Where to make the data folder (kept); default a temporary one.",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ot-bench-startup-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OT_DATA_DIR=str(folder / "ot-data"))
    try:
        make_data_folder(env, folder)
        admin, ot = tool("ot-admin"), tool("ot")
        timed = [
            Timed("python -c pass", [sys.executable, "-c", "pass"], None),
            Timed("ot-admin --help", [*admin, "--help"], HELP_TARGET_SECONDS),
            Timed("ot --help", [*ot, "--help"], HELP_TARGET_SECONDS),
            Timed("ot-admin sites list", [*admin, "sites", "list"], COMMAND_TARGET_SECONDS),
            Timed("ot-admin accounts list", [*admin, "accounts", "list"], COMMAND_TARGET_SECONDS),
        ]
        print(f"python {sys.version.split()[0]} ({sys.executable}), {args.repeats} repeats")
        print(f"load average before: {load_average()}")
        started = time.perf_counter()
        measure(timed, args.repeats, env, folder)
        print(f"load average after:  {load_average()} ({time.perf_counter() - started:.0f} s)")
        report(timed, args.quiet_reference)
    finally:
        if args.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
