"""Benchmark the terminal UI's own overhead on the stats benchmark's site.

Usage:
    python scripts/bench/tui.py [--events 1000000] [--folder DIR] [--reuse] [--rounds 5]
        [--markdown]

It prepares the site of `scripts/bench/query.py` (a year of realistic traffic, loaded now or, with
--reuse, by an earlier run under --folder), makes an API key for its account with `ot-admin tokens
create`, starts a real `ot serve` on a loopback port and then, in each round, drives `ot tui`'s
app through Textual's test driver (160x48) against it:

  open     from choosing the site on the sites list to the dashboard's first complete paint
           (the KPIs, the chart and every panel on screen answered, and the screen refreshed);
  range    from pressing a period key (last 30 days, then last 7 days) to the repaint;
  filter   from picking the first row of the pages panel (a drill-down) to the repaint;

and each step again until every panel has loaded, those below the screen too (", every
panel"), recording every call the app made to the server. The reference of each step is the
same calls made directly through `ot.client.OtClient` in the same round, concurrently (as the
dashboard's workers make them) on a warmed-up client: the ratio is the UI's own cost. The app
runs with the garbage collector tuned as `ot tui` runs it (`ot.tuning.settle_garbage_collector`).

`first screen` times `ot tui` itself: a child process that imports the app and runs it headless
until the sites list is painted, against a child that imports `ot.client` and lists the sites.

The targets (issue 12) are absolute: first complete paint under 1 s, repaints under 0.5 s, the
first screen under 1 s, on the 10-million-event site; the ratios say what of that is the UI's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import query as stats_bench

from ot.client import ClientError, CredentialStore, OtClient
from ot.config import Settings
from ot.tuning import settle_garbage_collector

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 48)
WAIT_LIMIT_SECONDS = 120.0


@dataclass
class Step:
    name: str
    ui_ms: list[float] = field(default_factory=list)
    direct_ms: list[float] = field(default_factory=list)
    calls: int = 0
    refused: int = 0  # calls the server refused the app
    refused_direct: int = 0  # calls it refused the replays

    def line(self) -> str:
        ui, direct = statistics.median(self.ui_ms), statistics.median(self.direct_ms)
        return (
            f"| {self.name} | {ui:.0f} ms | {direct:.0f} ms | {ui / direct:.2f} | {self.calls} "
            f"| {min(self.ui_ms):.0f} to {max(self.ui_ms):.0f} ms | {self.refused} "
            f"| {self.refused_direct} |"
        )

    def add_replay(self, timed: tuple[float, int]) -> None:
        self.direct_ms.append(timed[0])
        self.refused_direct += timed[1]


Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class Recorder:
    """Wraps a client's calls so each step's calls can be replayed directly: those made before
    the screen was complete (`painted()`) apart from those made after it."""

    def __init__(self, client: OtClient, painted: Callable[[], bool]) -> None:
        self.painted = painted
        self.calls: list[Call] = []
        self.later: list[Call] = []
        self.refused = 0  # calls the server refused the app
        for name in ("query", "realtime_visitors", "summary", "list_sites", "site", "list_goals"):
            original = getattr(client, name)
            setattr(client, name, self._recording(name, original))
        client.query_many = self._recording_batches(client.query_many)  # type: ignore[method-assign]

    def _recording_batches(
        self, original: Callable[..., AsyncIterator[tuple[int, Any]]]
    ) -> Callable[..., AsyncIterator[tuple[int, Any]]]:
        async def call(queries: list[Any]) -> AsyncIterator[tuple[int, Any]]:
            (self.later if self.painted() else self.calls).append(("query_many", (queries,), {}))
            try:
                async for index, outcome in original(queries):
                    self.refused += isinstance(outcome, ClientError)
                    yield index, outcome
            except ClientError:
                self.refused += len(queries)
                raise

        return call

    def _recording(
        self, name: str, original: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            (self.later if self.painted() else self.calls).append((name, args, kwargs))
            try:
                return await original(*args, **kwargs)
            except ClientError:
                self.refused += 1
                raise

        return call

    def take(self) -> tuple[list[Call], list[Call]]:
        """The calls made before the screen was complete and after it, since the last take."""
        taken, self.calls, later, self.later = self.calls, [], self.later, []
        return taken, later


async def replay(url: str, key: str, calls: list[Call], folder: Path) -> tuple[float, int]:
    """Milliseconds to make `calls` concurrently through a warmed-up client, and how many the
    server refused (503 when its query processes stay busy: at 10M, filtered queries)."""
    async with OtClient(url, api_key=key, credentials=CredentialStore(folder)) as client:
        await client.list_sites()  # a warm connection, as the app's
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(_made(client, name, args, kw) for name, args, kw in calls),
            return_exceptions=True,
        )
        elapsed = (time.perf_counter() - started) * 1000
    outcomes = [item for made in outcomes for item in (made if isinstance(made, list) else [made])]
    refused = [outcome for outcome in outcomes if isinstance(outcome, ClientError)]
    if len(refused) < len([o for o in outcomes if isinstance(o, BaseException)]):
        raise next(o for o in outcomes if isinstance(o, BaseException) and o not in refused)
    return elapsed, len(refused)


def _queries(calls: list[Call]) -> int:
    """How many calls were made, the queries of a batch each counted."""
    return sum(len(args[0]) if name == "query_many" else 1 for name, args, _ in calls)


async def _made(client: OtClient, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    """A recorded call made again; a batch of queries answers the list of its outcomes."""
    if name == "query_many":
        return [outcome async for _, outcome in client.query_many(*args, **kw)]
    return await getattr(client, name)(*args, **kw)


async def idle(pilot: Any, done: Callable[[], bool], *, settled: bool = True) -> None:
    """Wait until `done()` holds (and, if `settled`, no worker runs), then for the screen's
    refresh. It polls with a plain sleep: `pilot.pause` would make the app render its screen
    at every poll, which a terminal does not."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    app = pilot.app
    while not (done() and not (settled and any(worker.is_running for worker in app.workers))):
        await asyncio.sleep(0.001)
        if loop.time() - start > WAIT_LIMIT_SECONDS:
            raise RuntimeError("the app did not settle")
    await pilot.pause(0)  # the messages under way handled, and the screen rendered


async def one_round(url: str, key: str, domain: str, steps: dict[str, Step], folder: Path) -> None:
    from ot.tui.app import OtApp
    from ot.tui.screens.dashboard import DashboardScreen
    from ot.tui.screens.sites import SitesScreen

    def painted() -> bool:
        screen = app.screen
        return isinstance(screen, DashboardScreen) and screen.painted

    client = OtClient(url, api_key=key, credentials=CredentialStore(folder))
    recorder = Recorder(client, painted)
    app = OtApp(client)
    async with app.run_test(size=SIZE) as pilot:
        await idle(pilot, lambda: isinstance(app.screen, SitesScreen))
        recorder.take()

        async def timed(step: str, act: Callable[[], Awaitable[None]]) -> None:
            started = time.perf_counter()
            await act()
            # The screen complete: what the user sees is the view's.
            await idle(pilot, painted, settled=False)
            steps[step].ui_ms.append((time.perf_counter() - started) * 1000)
            # Then every panel, those below the screen too.
            await idle(pilot, painted)
            whole = steps[f"{step}, every panel"]
            whole.ui_ms.append((time.perf_counter() - started) * 1000)
            calls, later = recorder.take()
            whole.refused += recorder.refused
            recorder.refused = 0
            steps[step].calls = _queries(calls)
            whole.calls = _queries(calls) + _queries(later)
            steps[step].add_replay(await replay(url, key, calls, folder))
            whole.add_replay(await replay(url, key, calls + later, folder))

        await timed("open (30 days)", lambda: pilot.press("enter"))
        await timed("range: last 7 days", lambda: pilot.press("3"))
        await timed("range: last 30 days", lambda: pilot.press("4"))
        await timed("filter: first page", lambda: pilot.press("enter"))


def first_screen_ms(url: str, key: str, folder: Path, *, ui: bool) -> float:
    """Wall time of a child process: `ot tui` to its painted sites list, or the reference."""
    # `ot tui` pauses the garbage collector before its imports, and settles it before the app.
    program = (
        "from ot.tuning import pause_garbage_collector; pause_garbage_collector()\n" if ui else ""
    )
    program += (
        "import asyncio, sys\n"
        "from ot.client import ClientError, CredentialStore, OtClient\n"
        f"client = OtClient({url!r}, api_key={key!r}, credentials=CredentialStore("
        f"__import__('pathlib').Path({str(folder)!r})))\n"
    )
    if ui:
        program += (
            "from ot.tui.app import OtApp\n"
            "from ot.tui.screens.sites import SitesScreen\n"
            "from ot.tuning import settle_garbage_collector\n"
            "settle_garbage_collector()  # as `ot tui` does before it runs the app\n"
            "app = OtApp(client)\n"
            "async def main():\n"
            "    async with app.run_test(size=(160, 48)) as pilot:\n"
            "        while not (isinstance(app.screen, SitesScreen)\n"
            "                   and not any(w.is_running for w in app.workers)):\n"
            "            await pilot.pause(0.001)\n"
            "        await pilot.pause()\n"
            "asyncio.run(main())\n"
        )
    else:
        program += (
            "async def main():\n"
            "    async with client:\n"
            "        await client.list_sites()\n"
            "asyncio.run(main())\n"
        )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], check=True, cwd=ROOT)
    return (time.perf_counter() - started) * 1000


def make_key(settings: Settings, account_id: int) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ot-admin")), "tokens", "create", "--account",
         str(account_id), "--name", "tui bench", "--scope", "stats:read", "--scope",
         "sites:read"],
        check=True, capture_output=True, text=True, env=_environment(settings),
    )  # fmt: skip
    return result.stdout.strip().split()[-1]


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "OT_DATA_DIR": str(settings.data_dir),
        "OT_DATABASE_URL": settings.database_url or "",
        "OT_LOG__ACCESS_LOG": "false",
    }


@contextlib.contextmanager
def running_server(settings: Settings, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    environment = _environment(settings) | {"OT_SERVER__PORT": str(port)}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("ot")), "serve"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import urllib.request

        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("ot serve did not become ready") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Step], Step, int]:
    options = argparse.Namespace(postgres_url=None, reuse=args.reuse)
    size = await stats_bench.prepare_size(args.events, options, folder)
    assert size.site.account_id is not None
    key = make_key(size.settings, size.site.account_id)
    steps = {
        name: Step(name)
        for step in ("open (30 days)", "range: last 7 days", "range: last 30 days",
                     "filter: first page")
        for name in (step, f"{step}, every panel")
    }  # fmt: skip
    first = Step("first screen (process)")
    settle_garbage_collector()  # as `ot tui` does before it runs the app
    with running_server(size.settings, free_port()) as url, tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            print(f"round {number + 1}/{args.rounds}", flush=True)
            await one_round(url, key, size.site.domain, steps, Path(tmp))
            first.ui_ms.append(first_screen_ms(url, key, Path(tmp), ui=True))
            first.direct_ms.append(first_screen_ms(url, key, Path(tmp), ui=False))
    first.calls = 1
    return steps, first, size.report.hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=None, help="Where datasets are kept.")
    parser.add_argument("--reuse", action="store_true", help="Reuse a dataset loaded earlier.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ot-bench-tui-"))
    steps, first, hits = asyncio.run(run(args, folder))
    load = os.getloadavg()
    print(f"\n{hits:,} hits; {args.rounds} rounds; median (range); load average {load[0]:.1f}")
    print(
        "| step | ot tui | same calls via ot.client | ratio | calls | ot tui range "
        "| refused to ot tui | refused to ot.client |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for step in [*steps.values(), first]:
        print(step.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
