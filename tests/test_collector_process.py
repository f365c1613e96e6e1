"""The collector in a process of its own (`OT_COLLECTOR__OWN_PROCESS`, the default of `ot serve`):
a hit is answered only once that process committed it, refusals come back as they would from the
server's own event loop, a process that dies is replaced while the server answers 503 with
Retry-After, and the process never outlives the server, however the server ends."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.errors import StorageUnavailable
from ot.ingest import process as process_module
from ot.ingest.process import CollectorProcess
from ot.models import Site
from ot.server.app import create_app
from ot.server.app_keys import COLLECTOR, HIT_ENGINE
from ot.storage import StorageHealth
from tests.conftest import assert_quiet_log, start_server, stop_server
from tests.support import CHROME_USER_AGENT, event, eventually, hits, make_site, store_hits

HEADERS = {"User-Agent": CHROME_USER_AGENT, "X-Forwarded-For": "203.0.113.7"}
UNKNOWN_SITE_ID = 999_999


def in_own_process(settings: Settings, **collector: Any) -> Settings:
    changed = settings.collector.model_copy(update={"own_process": True, **collector})
    return settings.model_copy(update={"collector": changed})


@pytest.fixture
async def server(settings: Settings, site: Site, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(in_own_process(settings)))


def collector_process(client: TestClient) -> CollectorProcess:
    collector = client.server.app[COLLECTOR]
    assert isinstance(collector, CollectorProcess)
    return collector


async def test_hits_are_committed_by_the_collector_process_before_they_are_answered(
    server: TestClient, settings: Settings
) -> None:
    process = collector_process(server)
    assert process.pid is not None and process.pid != os.getpid()
    assert HIT_ENGINE not in server.server.app  # this process writes no hit
    await store_hits(server, [event(url="https://shop.example/a", eid="first")])
    assert [hit["pathname"] for hit in await hits(settings)] == ["/a"]  # committed when answered
    await store_hits(server, [event(url="https://shop.example/b")])
    # A tracker's retry of a hit already stored counts once, across the process boundary too.
    await store_hits(server, [event(url="https://shop.example/a", eid="first")])
    stored = await hits(settings)
    assert [hit["pathname"] for hit in stored] == ["/a", "/b"]
    assert stored[0]["visit_id"] == stored[1]["visit_id"]  # one visitor, one visit


async def test_a_hit_the_collector_process_refuses_is_answered_as_the_server_would(
    server: TestClient, settings: Settings
) -> None:
    response = await server.post("/api/event", json=event(domain="nobody.example"), headers=HEADERS)
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["code"] == "not_found"
    assert error["message"] == "no site is registered for the domain nobody.example"
    assert await hits(settings) == []


async def test_requests_arriving_together_are_each_answered_as_their_own(
    server: TestClient, settings: Settings
) -> None:
    # The collector process takes the requests read together in one go: a refusal, a dropped
    # hit or a retry among them changes nothing for the others.
    kinds = ["stored", "refused", "bot", "stored", "retry", "stored", "refused", "bot"] * 4
    await store_hits(server, [event(url="https://shop.example/first", eid="first")])

    async def send(number: int, kind: str) -> tuple[str, int]:
        body = event(url=f"https://shop.example/{number}", eid=f"hit-{number}")
        headers = dict(HEADERS)
        if kind == "refused":
            body["domain"] = "nobody.example"
        elif kind == "bot":
            headers["User-Agent"] = "Googlebot/2.1 (+http://www.google.com/bot.html)"
        elif kind == "retry":
            body = event(url="https://shop.example/first", eid="first")
        response = await server.post("/api/event", json=body, headers=headers)
        return kind, response.status

    answers = await asyncio.gather(*(send(n, kind) for n, kind in enumerate(kinds)))

    expected = {"stored": 202, "refused": 404, "bot": 202, "retry": 202}
    assert [status for _, status in answers] == [expected[kind] for kind in kinds]
    stored = sorted(hit["pathname"] for hit in await hits(settings))
    numbers = [n for n, kind in enumerate(kinds) if kind == "stored"]
    assert stored == sorted(["/first", *(f"/{n}" for n in numbers)])


async def test_a_bulk_request_stores_what_the_collector_process_takes_and_names_the_rest(
    server: TestClient, settings: Settings, site: Site
) -> None:
    requests = [
        f"?idsite={site.id}&rec=1&url=https%3A%2F%2Fshop.example%2Fa",
        # Refused by the collector process (no such site), then by the server (no `rec=1`).
        f"?idsite={UNKNOWN_SITE_ID}&rec=1&url=https%3A%2F%2Fshop.example%2Fnowhere",
        f"?idsite={site.id}&url=https%3A%2F%2Fshop.example%2Fno-rec",
        f"?idsite={site.id}&rec=1&url=https%3A%2F%2Fshop.example%2Fb",
    ]
    response = await server.post("/matomo.php", json={"requests": requests}, headers=HEADERS)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "status": "success",
        "tracked": 2,
        "invalid": 2,
        "invalid_indices": [1, 2],
    }
    assert [hit["pathname"] for hit in await hits(settings)] == ["/a", "/b"]


async def test_a_full_queue_in_the_collector_process_answers_503_with_retry_after(
    settings: Settings, site: Site, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(in_own_process(settings, queue_size=1)))
    requests = [f"?idsite={site.id}&rec=1&url=https%3A%2F%2Fshop.example%2F{n}" for n in "ab"]
    response = await client.post("/matomo.php", json={"requests": requests}, headers=HEADERS)
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "overloaded"
    assert await hits(settings) == []


async def test_a_collector_process_that_dies_is_replaced_and_no_answer_claims_a_lost_hit(
    server: TestClient, settings: Settings
) -> None:
    process = collector_process(server)
    first = process.pid
    assert first is not None
    await store_hits(server, [event(url="https://shop.example/before")])
    os.kill(first, signal.SIGKILL)
    answers: dict[str, int] = {}

    async def accepted_again() -> bool:
        number = len(answers)
        body = event(url=f"https://shop.example/after/{number}", eid=f"after-{number}")
        response = await server.post("/api/event", json=body, headers=HEADERS)
        answers[f"after-{number}"] = response.status
        if response.status == 503:
            assert int(response.headers["Retry-After"]) >= 1, await response.text()
        return response.status == 202

    await eventually(accepted_again, "a new collector process takes hits")
    assert set(answers.values()) <= {202, 503}
    assert process.pid not in (None, first)
    accepted = {event_id for event_id, status in answers.items() if status == 202}
    stored = await hits(settings)
    assert stored[0]["pathname"] == "/before"
    assert {hit["event_id"] for hit in stored[1:]} == accepted


async def test_the_collector_process_ends_with_the_server_and_commits_what_it_was_given(
    server: TestClient, settings: Settings
) -> None:
    process = collector_process(server)
    pid = process.pid
    assert pid is not None
    await store_hits(server, [event(url="https://shop.example/kept")])
    await server.close()
    assert process.pid is None
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    assert [hit["pathname"] for hit in await hits(settings)] == ["/kept"]


async def test_a_collector_process_that_cannot_start_stops_the_server_with_its_reason_in_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    not_a_database = tmp_path / "GeoLite2-City.mmdb"
    not_a_database.write_text("not a MaxMind database")
    environment = {
        **os.environ,
        "OT_DATA_DIR": str(settings.data_dir),
        "OT_DATABASE_URL": settings.database_url,
        "OT_SERVER__HOST": "127.0.0.1",
        "OT_SERVER__PORT": "0",
        "OT_GEO__MMDB_PATH": str(not_a_database),
    }
    served = subprocess.run(
        [sys.executable, "-m", "ot", "serve"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 2
    [line] = (served.stdout + served.stderr).splitlines()  # no traceback from either process
    assert "the collector process could not start: cannot open the GeoIP City database" in line
    assert str(not_a_database) in line


async def test_a_collector_process_not_ready_in_time_is_stopped_and_the_server_says_so(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_module, "START_TIMEOUT_SECONDS", 0.0)
    collector = CollectorProcess(in_own_process(settings), StorageHealth())
    with pytest.raises(StorageUnavailable, match="was not ready within 0 s"):
        await collector.start()
    assert children_running(os.getpid(), "ot.ingest.process") == []  # stopped and reaped


async def test_a_collector_process_that_ends_before_it_is_ready_is_told_by_its_exit_code(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It ended on its way up without a word (killed, out of memory, a broken install): the
    server says so with the exit code, and where to look."""
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # ends at once, with 1
    collector = CollectorProcess(in_own_process(settings), StorageHealth())
    with pytest.raises(StorageUnavailable) as refused:
        await collector.start()
    assert refused.value.message == (
        "the collector process could not start: it ended with exit code 1; its log says why"
    )


async def test_a_collector_process_that_cannot_be_made_is_tried_again(
    server: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process could be made (out of memory, of process ids): the server keeps answering
    503 and tries again later, rather than stop starting new ones."""
    process = collector_process(server)
    first = process.pid
    assert first is not None
    make_process = asyncio.create_subprocess_exec
    refused = 0

    async def out_of_processes(*command: Any, **options: Any) -> asyncio.subprocess.Process:
        nonlocal refused
        if refused < 2:
            refused += 1
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return await make_process(*command, **options)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", out_of_processes)
    os.kill(first, signal.SIGKILL)

    async def accepted_again() -> bool:
        response = await server.post("/api/event", json=event(), headers=HEADERS)
        assert response.status in (202, 503), await response.text()
        return response.status == 202

    await eventually(accepted_again, "a collector process made at the third attempt takes hits")
    assert refused == 2
    assert process.pid not in (None, first)


def children_running(pid: int, module: str) -> list[int]:
    """The processes whose parent is `pid` and whose command line names `module`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The parent's pid is the second field after the command in parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and module in command:
            found.append(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopts it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_server_killed_outright_under_load_leaves_no_collector_process_behind(
    settings: Settings, tmp_path: Path
) -> None:
    """Killed while answers are on their way, the server's end of the socket is reset rather
    than closed: the collector process must take that as the end too."""
    await make_site(settings)
    log = tmp_path / "server.log"
    server, base_url, _ = start_server(settings, log)
    answers: dict[str, int] = {}
    [collector] = children_running(server.pid, "ot.ingest.process")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            senders = [
                asyncio.create_task(keep_sending(session, base_url, f"s{n}", answers))
                for n in range(16)
            ]

            async def enough_acknowledged() -> bool:
                assert server.poll() is None, log.read_text()
                return sum(1 for status in answers.values() if status == 202) >= 200

            await eventually(enough_acknowledged, "200 hits acknowledged")
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            await asyncio.wait_for(asyncio.gather(*senders), 60)

        async def collector_ended() -> bool:
            return not is_running(collector)

        await eventually(collector_ended, "the collector process ends after its server")
    finally:
        stop_server(server)
        if is_running(collector):
            os.kill(collector, signal.SIGKILL)  # not left behind when this test fails
    acknowledged = {event_id for event_id, status in answers.items() if status == 202}
    stored = {hit["event_id"] for hit in await hits(settings)}
    assert acknowledged - stored == set(), "acknowledged hits lost"
    assert_quiet_log(log)


async def keep_sending(
    session: aiohttp.ClientSession, base_url: str, prefix: str, answers: dict[str, int]
) -> None:
    """Send hits one after another until the server stops answering."""
    for number in range(100_000):
        event_id = f"{prefix}-{number}"
        body = event(url=f"https://shop.example/{event_id}", eid=event_id)
        try:
            async with session.post(f"{base_url}/api/event", json=body, headers=HEADERS) as sent:
                answers[event_id] = sent.status
        except (TimeoutError, aiohttp.ClientError):
            answers[event_id] = 0
            return
