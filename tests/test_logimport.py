"""`ot-admin import-log` on SQLite and PostgreSQL: what an import stores, what it skips and says,
how it continues a grown log and never counts a line twice, and how it refuses bad input."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pty
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from ot.admin.cli import app
from ot.config import Settings
from ot.db import create_engine
from ot.ingest.collector import ip_context
from ot.logimport.format_check import FIRST_LINES
from ot.models import Site
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from tests import support
from tests.access_logs import (
    CHROME,
    FIREFOX,
    GOOGLEBOT,
    SAFARI_IPHONE,
    access_log_line,
    generated_log,
)

MONDAY = datetime(2024, 3, 11, 9, 0, tzinfo=timezone(timedelta(hours=2)))


def environment(settings: Settings) -> dict[str, str | None]:
    # Unset the caller's own OT_* variables so that only this database is in play.
    variables: dict[str, str | None] = {name: None for name in os.environ if name.startswith("OT_")}
    variables["OT_DATA_DIR"] = str(settings.data_dir)
    variables["OT_DATABASE_URL"] = settings.database_url
    return variables


async def import_log(settings: Settings, arguments: str, *, stdin: bytes | None = None) -> Result:
    """Run `ot-admin import-log <arguments>` in-process (in a thread: the command runs its own
    event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["import-log", *shlex.split(arguments)],
        input=stdin,
        env=environment(settings),
    )


async def summary_of(settings: Settings, arguments: str) -> dict[str, Any]:
    """The --json summary of a successful import."""
    result = await import_log(settings, arguments + " --json")
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def refusal(result: Result) -> str:
    """The one-line error of a refused import."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def write_log(path: Path, *lines: str) -> Path:
    path.write_text("".join(lines))
    return path


async def stored_hits(settings: Settings) -> list[dict[str, Any]]:
    return await support.hits(settings)


async def execute(settings: Settings, statement: str, **params: Any) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


async def execute_with(settings: Settings, statement: str, **params: Any) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


async def test_log_lines_become_pageviews_enriched_like_tracker_hits(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line(
            "8.8.8.8",
            MONDAY,
            "GET /pricing?utm_source=newsletter&session=secret HTTP/1.1",
            200,
            5120,
            "https://www.google.com/search?q=x",
            CHROME,
        ),
        access_log_line("8.8.8.8", MONDAY + timedelta(minutes=2), "GET /signup HTTP/1.1", 302, 0),
        access_log_line("8.8.8.8", MONDAY + timedelta(days=1), "GET / HTTP/1.1", user_agent=CHROME),
    )
    summary = await summary_of(settings, f"shop.example {log}")
    assert (summary["lines_read"], summary["imported"], summary["malformed"]["count"]) == (3, 3, 0)

    first, second, next_day = await stored_hits(settings)
    assert first["name"] == "pageview"
    assert (first["hostname"], first["pathname"]) == ("shop.example", "/pricing")
    assert first["query"] == "utm_source=newsletter"  # only allow-listed parameters are kept
    assert (first["utm_source"], first["referrer_source"]) == ("newsletter", "newsletter")
    assert (first["browser"], first["os"], first["device"]) == ("Chrome", "Windows", "Desktop")
    assert first["country"] == "US"
    assert (first["http_status"], first["response_bytes"]) == (200, 5120)
    assert first["referrer"] == "https://www.google.com/search"
    assert first["browser_version"] and first["os_version"]
    assert (first["language"], first["screen"], first["revenue_currency"]) == ("", "", "")
    assert first["revenue_amount"] is None and first["interactive"] in (True, 1)
    assert first["event_id"].startswith("log:") and second["event_id"] != first["event_id"]
    stored_time = first["timestamp"]
    if isinstance(stored_time, str):  # SQLite keeps UTC text
        stored_time = datetime.fromisoformat(stored_time).replace(tzinfo=UTC)
    assert stored_time == MONDAY.astimezone(UTC)
    # The IP is kept only as the site's policy says (truncated, encrypted).
    assert first["ip_encrypted"] and "8.8.8" not in first["ip_encrypted"]
    assert _ip(settings, first) == "8.8.8.0"
    # One visitor per IP, date and User-Agent, as GoAccess counts them; one visit per 30 minutes.
    assert first["visitor_id"] == second["visitor_id"] != next_day["visitor_id"]
    assert first["visit_id"] == second["visit_id"] != next_day["visit_id"]
    [visit] = await support.rows(
        settings, "SELECT * FROM visit WHERE id = :id", id=first["visit_id"]
    )
    assert (visit["entry_page"], visit["exit_page"], visit["pageviews"]) == (
        "/pricing",
        "/signup",
        2,
    )


async def test_static_files_crawlers_and_404s_are_skipped_by_default_and_switches_take_them(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.1", MONDAY, "GET / HTTP/1.1", user_agent=FIREFOX),
        access_log_line("203.0.113.1", MONDAY, "GET /style.css HTTP/1.1", user_agent=FIREFOX),
        access_log_line("203.0.113.2", MONDAY, "GET /missing HTTP/1.1", 404, user_agent=FIREFOX),
        access_log_line("66.249.66.1", MONDAY, "GET / HTTP/1.1", user_agent=GOOGLEBOT),
    )
    summary = await summary_of(settings, f"shop.example {log}")
    assert summary["imported"] == 1
    assert summary["skipped"] == {"crawler": 1, "not_found": 1, "static": 1}
    assert summary["goaccess"]["valid_requests"] == 1

    switches = "--include-static --include-crawlers --include-404"
    summary = await summary_of(settings, f"shop.example {log} {switches}")
    assert (summary["imported"], summary["already_imported"], summary["skipped"]) == (3, 1, {})
    assert summary["goaccess"]["not_found_requests"] == 1
    assert {hit["http_status"] for hit in await stored_hits(settings)} == {200, 404}


async def test_lines_without_a_user_agent_are_stored_as_unknown_clients_not_dropped_as_crawlers(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    """Apache's `common` format logs no User-Agent, and a combined line may say "-": the client
    is unknown, which is not a crawler (GoAccess counts these lines too)."""
    common = write_log(
        tmp_path / "common.log",
        '203.0.113.5 - - [11/Mar/2024:09:00:00 +0200] "GET /pricing HTTP/1.1" 200 512\n',
        '203.0.113.6 - - [11/Mar/2024:09:00:01 +0200] "GET /about HTTP/1.1" 200 512\n',
    )
    summary = await summary_of(settings, f"shop.example {common} --format common")
    assert (summary["imported"], summary["skipped"]) == (2, {})
    assert summary["goaccess"]["unique_visitors"] == 2
    combined = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.7", MONDAY, "GET /blog/ HTTP/1.1", user_agent="-"),
        access_log_line("203.0.113.8", MONDAY, "GET /blog/ HTTP/1.1", user_agent=""),
        access_log_line("66.249.66.1", MONDAY, "GET /blog/ HTTP/1.1", user_agent=GOOGLEBOT),
    )
    summary = await summary_of(settings, f"shop.example {combined}")
    assert (summary["imported"], summary["skipped"]) == (2, {"crawler": 1})
    unknown = await stored_hits(settings)
    assert len(unknown) == 4
    assert {(hit["browser"], hit["os"], hit["device"]) for hit in unknown} == {("", "", "")}


async def test_importing_a_log_again_adds_nothing_and_a_grown_log_continues_where_it_stopped(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    lines = [
        access_log_line(f"203.0.113.{n}", MONDAY + timedelta(seconds=n), f"GET /p{n} HTTP/1.1")
        for n in range(1, 8)
    ]
    log = write_log(tmp_path / "access.log", *lines[:4])
    assert (await summary_of(settings, f"shop.example {log}"))["imported"] == 4

    again = await summary_of(settings, f"shop.example {log}")
    assert (again["lines_read"], again["imported"], again["files"][0]["started_at_line"]) == (
        0,
        0,
        4,
    )

    # The web server appends three lines and is half-way through writing a fourth.
    with log.open("a") as appending:
        appending.write("".join(lines[4:6]) + lines[6][:30])
    grown = await summary_of(settings, f"shop.example {log}")
    assert (grown["lines_read"], grown["imported"]) == (2, 2)
    with log.open("a") as appending:
        appending.write(lines[6][30:])
    assert (await summary_of(settings, f"shop.example {log}"))["imported"] == 1
    assert [hit["pathname"] for hit in await stored_hits(settings)] == [
        f"/p{n}" for n in range(1, 8)
    ]


# Runs `ot-admin` as its console script does, and says on standard error how many writer
# processes were forked: run as a command, the import has a single thread and forks its writer.
COUNTING_FORKS = """
import sys
from ot.admin.cli import main
from ot.logimport import writer
forks = []
fork_writer = writer.fork_writer
writer.fork_writer = lambda *arguments: forks.append(1) or fork_writer(*arguments)
try:
    main()
finally:
    print(f"forked writers: {len(forks)}", file=sys.stderr)
"""


async def summary_of_command(settings: Settings, arguments: str) -> dict[str, Any]:
    """The --json summary of `ot-admin import-log <arguments>` run as a command of its own, which
    must have forked its writer process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OT_")}
    env.update({k: v for k, v in environment(settings).items() if v is not None})
    command = [
        sys.executable,
        "-c",
        COUNTING_FORKS,
        "import-log",
        *shlex.split(arguments),
        "--json",
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "forked writers: 1" in result.stderr, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("writer", ["new interpreter", "fork"])
async def test_batches_stored_by_the_writer_process_are_the_batches_stored_in_process(
    settings: Settings, site: Site, tmp_path: Path, writer: str
) -> None:
    """Small batches hand the import to the writer process (a full batch starts it): the hits,
    the figures and the position must be those of an import that stores in-process. In-process
    (these tests run the command in a thread) the writer is a new interpreter; as a command of
    its own, a single thread, the import forks it."""
    import_with_writer = summary_of if writer == "new interpreter" else summary_of_command
    log = tmp_path / "access.log"
    # Each half longer than the lines held back until they show the format fits.
    whole = generated_log(2 * FIRST_LINES + 200)
    half = whole.index("\n", len(whole) // 2) + 1
    log.write_text(whole[:half])
    switches = "--include-static --include-crawlers --include-404"
    first = await import_with_writer(settings, f"shop.example {log} {switches} --batch-size 7")
    log.write_text(whole)
    rest = await import_with_writer(settings, f"shop.example {log} {switches} --batch-size 7")
    assert rest["files"][0]["started_at_line"] == first["lines_read"]
    by_process = await stored_hits(settings)
    visits_by_process = await support.rows(settings, "SELECT * FROM visit")
    assert len(by_process) == first["imported"] + rest["imported"] > FIRST_LINES
    assert first["already_imported"] == rest["already_imported"] == 0

    await execute(settings, "DELETE FROM log_import")
    await execute(settings, "DELETE FROM hit")
    await execute(settings, "DELETE FROM visit")
    in_process = await summary_of(settings, f"shop.example {log} {switches}")
    assert in_process["imported"] == len(by_process)
    for figure in ("valid_requests", "bandwidth"):
        assert (
            in_process["goaccess"][figure] == first["goaccess"][figure] + rest["goaccess"][figure]
        )
    # Ids follow the order of writing and every encryption has its own nonce: compare the rest.
    in_process_hits = await stored_hits(settings)
    assert _without(by_process, "id", "visit_id", "ip_encrypted") == _without(
        in_process_hits, "id", "visit_id", "ip_encrypted"
    )
    assert sorted(_ip(settings, hit) for hit in by_process) == sorted(
        _ip(settings, hit) for hit in in_process_hits
    )
    assert _without(visits_by_process, "id") == _without(
        await support.rows(settings, "SELECT * FROM visit"), "id"
    )
    [position] = await support.rows(settings, "SELECT lines_read FROM log_import")
    assert position["lines_read"] == in_process["lines_read"]


def _ip(settings: Settings, hit: dict[str, Any]) -> str:
    """The IP stored with a hit, decrypted."""
    cipher = Cipher(load_secrets_of(settings))
    return cipher.decrypt(hit["ip_encrypted"], context=ip_context(hit["site_id"]))


def _without(rows: list[dict[str, Any]], *names: str) -> list[str]:
    """Rows as sorted text without the named columns, to compare two imports' tables."""
    return sorted(
        repr(sorted((k, str(v)) for k, v in row.items() if k not in names)) for row in rows
    )


async def test_a_lost_import_position_still_never_stores_a_line_twice(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        *(access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)),
    )
    await summary_of(settings, f"shop.example {log}")
    await execute(settings, "DELETE FROM log_import")  # as if the position were lost
    again = await summary_of(settings, f"shop.example {log}")
    assert (again["lines_read"], again["imported"], again["already_imported"]) == (3, 0, 3)
    assert len(await stored_hits(settings)) == 3


async def test_a_log_imported_in_halves_and_again_concatenated_stores_each_line_once(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    """The `zcat old/*.gz | ot-admin import-log ... -` of docs/compatibility.md after the files
    themselves were imported, and the other way round: a line is what it says, wherever it is
    read from."""
    whole = generated_log(1_500)
    middle = whole.index("\n", len(whole) // 2) + 1
    older = write_log(tmp_path / "access.log.2", whole[:middle])
    newer = write_log(tmp_path / "access.log.1", whole[middle:])
    everything = "--include-static --include-crawlers --include-404"
    for half in (older, newer):
        await summary_of(settings, f"shop.example {half} {everything}")
    stored = len(await stored_hits(settings))

    concatenated = await import_log(
        settings, f"shop.example - {everything} --json", stdin=whole.encode()
    )
    assert concatenated.exit_code == 0, concatenated.output
    assert json.loads(concatenated.stdout)["imported"] == 0
    assert len(await stored_hits(settings)) == stored

    other = await support.make_site(settings, "other.example")
    concatenated = await import_log(
        settings, f"other.example - {everything} --json", stdin=whole.encode()
    )
    assert json.loads(concatenated.stdout)["imported"] == stored
    for half in (older, newer):
        again = await summary_of(settings, f"other.example {half} {everything}")
        assert again["imported"] == 0 and again["already_imported"] > 0
    assert (
        len(await support.rows(settings, "SELECT id FROM hit WHERE site_id = :id", id=other.id))
        == stored
    )


async def test_identical_lines_of_one_second_are_as_many_hits_however_the_log_is_read(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    """A visitor reloading a page within a second writes identical lines: each is a hit, counted
    once whether the log is read whole, split into files, resumed in the middle of that second,
    or read again from another file or a stream."""
    reload = access_log_line("203.0.113.5", MONDAY, "GET /pricing HTTP/1.1")
    lines = [
        access_log_line("203.0.113.9", MONDAY - timedelta(seconds=1), "GET / HTTP/1.1"),
        reload,
        reload,
        access_log_line("203.0.113.7", MONDAY, "GET /about HTTP/1.1"),
        reload,
        access_log_line("203.0.113.9", MONDAY + timedelta(seconds=1), "GET /blog/ HTTP/1.1"),
    ]

    def reloads(hits: list[dict[str, Any]]) -> int:
        return sum(hit["pathname"] == "/pricing" for hit in hits)

    # A growing log imported in the middle of that second, then the rest.
    log = write_log(tmp_path / "access.log", *lines[:2])
    await summary_of(settings, f"shop.example {log}")
    write_log(log, *lines)
    await summary_of(settings, f"shop.example {log}")
    assert reloads(await stored_hits(settings)) == 3
    # The same lines after a comment (another log to the importer), and from a stream.
    again = write_log(tmp_path / "copy.log", "# a copy\n", *lines)
    assert (await summary_of(settings, f"shop.example {again}"))["imported"] == 0
    streamed = await import_log(
        settings, "shop.example - --json", stdin="".join(["# streamed\n", *lines]).encode()
    )
    assert json.loads(streamed.stdout)["imported"] == 0

    # Rotated in the middle of that second: two files read in one command.
    await support.make_site(settings, "other.example")
    first = write_log(tmp_path / "access.log.1", *lines[:3])
    second = write_log(tmp_path / "access.log.0", *lines[3:])
    both = await summary_of(settings, f"other.example {first} {second}")
    assert both["imported"] == 6
    streamed = await import_log(
        settings, "other.example - --json", stdin="".join(["# streamed\n", *lines]).encode()
    )
    assert json.loads(streamed.stdout)["imported"] == 0
    assert reloads(await stored_hits(settings)) == 6  # three for each site


async def test_a_log_imported_before_lines_had_content_ids_is_imported_again_without_duplicates(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    """Hits imported by an earlier version have ids made of their place in their log and a
    CRC-32 of the line; reading such a log again, from another file or after forgetting its
    position, finds them stored."""
    lines = [
        access_log_line("203.0.113.5", MONDAY + timedelta(seconds=n), f"GET /{n} HTTP/1.1")
        for n in range(4)
    ]
    lines += [lines[1], access_log_line("203.0.113.5", MONDAY, "GET /gone HTTP/1.1", 404)]
    log = write_log(tmp_path / "access.log", *lines)
    await summary_of(settings, f"shop.example {log}")
    await _as_imported_by_the_earlier_version(settings, site, log)

    copy = write_log(tmp_path / "copy.log", "# a copy\n", *lines)
    summary = await summary_of(settings, f"shop.example {copy}")
    assert (summary["imported"], summary["already_imported"]) == (0, 5)
    summary = await summary_of(settings, f"shop.example {log} --include-404")
    assert (summary["imported"], summary["already_imported"]) == (1, 5)
    # The line logged twice in its second was two hits, and still is: a third copy is new.
    third = write_log(tmp_path / "third.log", "# three of them\n", *lines[:2], lines[1], lines[1])
    summary = await summary_of(settings, f"shop.example {third}")
    assert (summary["imported"], summary["already_imported"]) == (1, 3)
    assert len(await stored_hits(settings)) == 7


async def _as_imported_by_the_earlier_version(settings: Settings, site: Site, log: Path) -> None:
    """Give the hits imported from `log` the ids the earlier version gave them,
    `log:<identity>:<byte offset>:<CRC-32 of the line>`, and mark its position as recorded
    by that version."""
    import zlib

    from ot.logimport.sources import file_identity

    raw_lines = log.read_bytes().splitlines(keepends=True)
    prefix = file_identity(site.id or 0, raw_lines[0])[:16]
    offset = 0
    by_path: dict[str, list[str]] = {}
    for raw in raw_lines:
        path = raw.split(b'"')[1].split()[1].decode()
        by_path.setdefault(path, []).append(f"log:{prefix}:{offset}:{zlib.crc32(raw):08x}")
        offset += len(raw)
    for hit in await stored_hits(settings):  # in the order of their lines
        await execute(
            settings,
            "UPDATE hit SET event_id = :old WHERE id = :id",
            old=by_path[hit["pathname"]].pop(0),
            id=hit["id"],
        )
    await execute(settings, "UPDATE log_import SET position_based_ids = TRUE, switches = NULL")


async def test_two_imports_of_one_log_at_once_store_each_line_once(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text(generated_log(2_000, malformed=False))
    # Requests that name no page ("-", "OPTIONS *", one without a protocol) are never stored.
    pageless = ('] "-" ', '"OPTIONS * ', '"GET /no-protocol"')
    storable = sum(
        not any(mark in line for mark in pageless) for line in log.read_text().splitlines()
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OT_")}}
    env.update({k: v for k, v in environment(settings).items() if v is not None})
    command = [str(Path(sys.executable).with_name("ot-admin")), "import-log", "shop.example",
               str(log), "--include-static", "--include-crawlers", "--include-404", "--json",
               "--batch-size", "200"]  # fmt: skip
    first, second = await asyncio.gather(
        *(
            asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, timeout=300)
            for _ in range(2)
        )
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    summaries = [json.loads(result.stdout) for result in (first, second)]
    assert sum(summary["imported"] for summary in summaries) == storable
    assert len(await stored_hits(settings)) == storable


async def test_a_rotated_log_at_the_same_path_is_imported_from_its_start(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log", access_log_line("203.0.113.5", MONDAY, "GET /old HTTP/1.1")
    )
    await summary_of(settings, f"shop.example {log}")
    write_log(log, access_log_line("203.0.113.5", MONDAY + timedelta(days=1), "GET /new HTTP/1.1"))
    summary = await summary_of(settings, f"shop.example {log}")
    assert (summary["files"][0]["started_at_line"], summary["imported"]) == (0, 1)


async def test_a_log_truncated_below_the_imported_part_is_read_again_from_its_start(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    lines = [access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)]
    log = write_log(tmp_path / "access.log", *lines)
    await summary_of(settings, f"shop.example {log}")
    write_log(log, lines[0], access_log_line("203.0.113.5", MONDAY, "GET /new HTTP/1.1"))
    summary = await summary_of(settings, f"shop.example {log}")
    [file] = summary["files"]
    assert (file["started_at_line"], file["lines_read"]) == (0, 2)
    assert file["note"] == "shorter than when last imported: imported again from the start"
    # The first line is the one already stored; the second is new, though it sits where "/1" was.
    assert (summary["imported"], summary["already_imported"]) == (1, 1)


async def test_gzip_files_and_several_files_in_one_import(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    old = tmp_path / "access.log.1.gz"
    old.write_bytes(
        gzip.compress(access_log_line("203.0.113.5", MONDAY, "GET /a HTTP/1.1").encode())
    )
    current = write_log(
        tmp_path / "access.log", access_log_line("203.0.113.5", MONDAY, "GET /b HTTP/1.1")
    )
    summary = await summary_of(settings, f"shop.example {old} {current}")
    assert [file["lines_read"] for file in summary["files"]] == [1, 1]
    assert summary["imported"] == 2
    assert summary["goaccess"]["unique_visitors"] == 1


async def test_the_text_summary_says_what_was_read_skipped_and_imported(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.1", MONDAY, "GET /welcome HTTP/1.1", user_agent=SAFARI_IPHONE),
        access_log_line("66.249.66.1", MONDAY, "GET / HTTP/1.1", user_agent=GOOGLEBOT),
        "not a log line\n",
    )
    result = await import_log(settings, f"shop.example {log}")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for expected in [
        "lines read 3",
        "imported 1",
        "skipped: crawler 1",
        "malformed 1",
        "line 3: does not fit the log format",
        "unique visitors 1",
        "│ GET │ HTTP/1.1 │ /welcome │",
    ]:
        assert expected in text, result.stdout


async def test_the_text_summary_tells_apart_requests_that_differ_only_by_protocol(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.1", MONDAY, "GET /pricing HTTP/1.1"),
        access_log_line("203.0.113.2", MONDAY, "GET /pricing HTTP/2.0"),
        access_log_line("203.0.113.3", MONDAY, "GET /pricing HTTP/2.0"),
    )
    result = await import_log(settings, f"shop.example {log}")
    rows = [" ".join(line.replace("│", " ").split()) for line in result.stdout.splitlines()]
    assert "2 2 GET HTTP/2 /pricing" in rows, result.stdout
    assert "1 1 GET HTTP/1.1 /pricing" in rows, result.stdout


async def test_the_text_summary_says_its_request_figures_count_every_line_read(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.1", MONDAY, "GET /welcome HTTP/1.1"),
        access_log_line("203.0.113.1", MONDAY, "GET /welcome HTTP/1.1"),
        access_log_line("66.249.66.1", MONDAY, "GET / HTTP/1.1", user_agent=GOOGLEBOT),
    )
    await summary_of(settings, f"shop.example {log}")
    log.write_text(log.read_text() + access_log_line("203.0.113.2", MONDAY, "GET /new HTTP/1.1"))
    await execute(settings, "DELETE FROM log_import")  # all four lines are read again
    result = await import_log(settings, f"shop.example {log}")
    text = " ".join(result.stdout.split())
    assert "imported 1 already imported 2 skipped: crawler 1" in text, result.stdout
    assert "GoAccess's figures for the 4 lines read" in text, result.stdout
    assert "total requests 4 (every line read), valid 3 (not skipped)" in text, result.stdout


async def test_the_progress_bar_on_a_terminal_shows_a_small_log_read_to_its_end(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        *(access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)),
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OT_")}}
    env.update({k: v for k, v in environment(settings).items() if v is not None})
    terminal, terminal_end = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("ot-admin")), "import-log", "shop.example",
             str(log), "--json"],
            env={**env, "TERM": "xterm", "COLUMNS": "120"},
            stdout=subprocess.DEVNULL,
            stderr=terminal_end,
        )  # fmt: skip
        os.close(terminal_end)
        drawn = await asyncio.to_thread(_read_until_closed, terminal)
        await asyncio.to_thread(process.wait, timeout=120)
    finally:
        os.close(terminal)
    assert process.returncode == 0
    text = drawn.decode(errors="replace")
    assert "access.log" in text and "3 lines" in text, text


def _read_until_closed(descriptor: int) -> bytes:
    """What a process wrote to a terminal, until it closed it."""
    read = b""
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # EIO: the other end was closed
            return read
        if not chunk:
            return read
        read += chunk


async def test_malformed_lines_are_counted_with_their_line_numbers_and_never_stop_an_import(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    good = [access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(4)]
    log = write_log(
        tmp_path / "access.log",
        good[0],
        "garbage\n",
        good[1],
        good[2].replace("203.0.113.5", "not-an-ip"),
        good[2].replace("11/Mar/2024", "41/Mar/2024"),
        good[3],
    )
    summary = await summary_of(settings, f"shop.example {log}")
    assert summary["imported"] == 3
    assert summary["malformed"]["count"] == 3
    assert [(m["line"], m["reason"]) for m in summary["malformed"]["first"]] == [
        (2, "does not fit the log format"),
        (4, "client is not an IP address"),
        (5, "time cannot be read"),
    ]


async def test_a_log_read_in_the_wrong_format_is_refused_with_the_right_one_and_nothing_recorded(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    lines = [
        access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1", user_agent=FIREFOX)
        for n in range(5)
    ]
    log = write_log(tmp_path / "access.log", *lines)
    result = await import_log(settings, f"shop.example {log} --log-format VCOMBINED --json")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith(
        f"error: {log}: 5 of its first 5 lines do not fit the log format 'VCOMBINED'"
    ), message
    assert "nothing of it was imported and no position recorded" in message
    assert f"line 1: {lines[0].strip()}" in message  # a sample, with why it does not fit
    assert "--format combined" in message  # the formats that read it
    assert await stored_hits(settings) == []
    assert await support.rows(settings, "SELECT * FROM log_import") == []

    assert (await summary_of(settings, f"shop.example {log}"))["imported"] == 5


async def test_an_import_stops_only_when_most_of_the_first_lines_of_a_log_are_malformed(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    good = [access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)]
    half = write_log(tmp_path / "half.log", good[0], "garbage\n", good[1], "garbage\n")
    assert (await summary_of(settings, f"shop.example {half}"))["imported"] == 2
    more = write_log(tmp_path / "more.log", good[2], "garbage\n", "garbage\n")
    message = (await import_log(settings, f"shop.example {half} {more}")).stderr
    assert "2 of its first 3 lines do not fit the log format 'combined'" in message
    assert "line 2: garbage (does not fit the log format)" in message
    assert "no predefined format reads them" in message
    assert len(await stored_hits(settings)) == 2


async def test_an_import_with_more_switches_stores_what_an_earlier_import_of_the_log_skipped(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log",
        access_log_line("203.0.113.5", MONDAY, "GET / HTTP/1.1"),
        access_log_line("203.0.113.5", MONDAY, "GET /old-page HTTP/1.1", 404),
        access_log_line("203.0.113.5", MONDAY, "GET /logo.png HTTP/1.1"),
    )
    assert (await summary_of(settings, f"shop.example {log}"))["imported"] == 1
    with_404s = await summary_of(settings, f"shop.example {log} --include-404")
    assert (with_404s["imported"], with_404s["already_imported"]) == (1, 1)
    assert (
        with_404s["files"][0]["note"]
        == "read again from its start for what the last import skipped"
    )
    again = await summary_of(settings, f"shop.example {log} --include-404")
    assert (again["files"][0]["started_at_line"], again["lines_read"]) == (3, 0)
    fewer = await summary_of(settings, f"shop.example {log}")  # nothing more to store
    assert (fewer["files"][0]["started_at_line"], fewer["lines_read"]) == (3, 0)
    everything = await summary_of(settings, f"shop.example {log} --include-static --include-404")
    assert (everything["imported"], everything["already_imported"]) == (1, 2)
    assert sorted(hit["pathname"] for hit in await stored_hits(settings)) == [
        "/",
        "/logo.png",
        "/old-page",
    ]


async def test_forget_lets_an_operator_import_a_log_again_from_its_start(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    lines = [access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)]
    log = write_log(tmp_path / "access.log", *lines)
    await summary_of(settings, f"shop.example {log}")
    never = write_log(
        tmp_path / "never.log", access_log_line("203.0.113.5", MONDAY, "GET / HTTP/1.1")
    )

    result = await import_log(settings, f"shop.example {log} {never} --forget --json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "site": "shop.example",
        "forgotten": [
            {"file": str(log), "lines_read": 3},
            {"file": str(never), "lines_read": None},  # nothing was recorded
        ],
    }
    [entry] = await support.rows(
        settings, "SELECT details FROM audit_entry WHERE action = 'log.position_forgotten'"
    )
    details = (
        entry["details"] if isinstance(entry["details"], dict) else json.loads(entry["details"])
    )
    assert details == {"site_id": site.id, "forgotten": 1}
    text_output = (await import_log(settings, f"shop.example {log} --forget")).stdout
    assert "nothing recorded" in text_output

    summary = await summary_of(settings, f"shop.example {log}")
    assert (summary["files"][0]["started_at_line"], summary["lines_read"]) == (0, 3)
    assert (summary["imported"], summary["already_imported"]) == (0, 3)


async def test_binary_garbage_is_malformed_lines_not_a_crash(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    garbage = bytes(range(256)) * 40  # NULs, invalid UTF-8, stray newlines
    endless = os.urandom(100_000).replace(b"\n", b"")  # a 100 KB "line"
    # Good lines first: a log that is mostly garbage is refused as being in another format.
    good = "".join(
        access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(60)
    ).encode()
    log.write_bytes(
        good
        + endless
        + b"\n"
        + garbage
        + b"\n"
        + access_log_line("203.0.113.5", MONDAY, "GET /ok HTTP/1.1").encode()
        + os.urandom(2048).replace(b"\n", b"")
        + b"\n"
    )
    summary = await summary_of(settings, f"shop.example {log}")
    assert summary["imported"] == 61
    assert summary["malformed"]["count"] >= 3
    assert summary["malformed"]["first"][0] == {
        "file": str(log),
        "line": 61,
        "reason": "line is longer than 64 KiB",
    }


async def test_a_damaged_gzip_file_stops_the_import_after_keeping_the_lines_before_the_damage(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    lines = "".join(
        access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(2_000)
    )
    damaged = tmp_path / "access.log.1.gz"
    damaged.write_bytes(gzip.compress(lines.encode())[:-200])
    message = refusal(await import_log(settings, f"shop.example {damaged}"))
    assert "is not a valid gzip file" in message
    assert 0 < len(await stored_hits(settings)) < 2_000


async def test_unknown_sites_missing_files_and_bad_formats_are_refused_before_importing(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log", access_log_line("203.0.113.5", MONDAY, "GET / HTTP/1.1")
    )
    not_gzip = write_log(tmp_path / "access.log.2.gz", "plain text, not gzip\n")
    cases = {
        f"nope.example {log}": "site 'nope.example' does not exist",
        f"shop.example {log} {tmp_path / 'missing.log'}": "missing.log: no such file",
        f"shop.example {tmp_path}": "is a directory",
        f"shop.example {not_gzip}": "is named .gz but is not a gzip file",
        f"shop.example {log} --format apache": "unknown log format 'apache'",
        f"shop.example {log} --format '%h %t \"%r\" %Z'": "unknown directive '%Z'",
        f"shop.example {log} --log-format '%h [%d:%t] \"%r\"'": "no --date-format",
        f"shop.example {log} --date-format %d/%b/%Y": "go with --log-format",
    }
    for arguments, message in cases.items():
        assert message in refusal(await import_log(settings, arguments)), arguments
    assert await stored_hits(settings) == []
    assert await support.rows(settings, "SELECT * FROM log_import") == []


async def test_an_unreadable_file_is_refused(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        return  # root reads every file: there is nothing to refuse
    log = write_log(tmp_path / "secret.log", "x\n")
    log.chmod(0)
    assert "permission denied" in refusal(await import_log(settings, f"shop.example {log}"))


async def test_the_ot_admin_command_reads_a_log_from_standard_input(
    settings: Settings, site: Site
) -> None:
    lines = "".join(
        access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1") for n in range(3)
    ).encode()
    command = [str(Path(sys.executable).with_name("ot-admin")), "import-log", "shop.example", "-"]
    env = {k: v for k, v in environment(settings).items() if v is not None}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OT_")}, **env}
    for expected_new in (3, 0):  # standard input is recognised by its first line too
        finished = await asyncio.to_thread(
            subprocess.run,
            [*command, "--json"],
            input=lines,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert finished.returncode == 0, finished.stderr.decode()
        assert json.loads(finished.stdout)["imported"] == expected_new
    gzipped = await asyncio.to_thread(
        subprocess.run, command, input=gzip.compress(lines), env=env, capture_output=True
    )
    assert gzipped.returncode == 0, gzipped.stderr.decode()
    assert len(await stored_hits(settings)) == 3


async def test_follow_imports_appended_lines_until_sigterm(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log", access_log_line("203.0.113.5", MONDAY, "GET /0 HTTP/1.1")
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OT_")}}
    env.update({k: v for k, v in environment(settings).items() if v is not None})
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("ot-admin")), "import-log", "shop.example", str(log),
         "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for_hits(settings, 1)
        with log.open("a") as appending:
            for n in range(1, 4):
                appending.write(access_log_line("203.0.113.5", MONDAY, f"GET /{n} HTTP/1.1"))
                appending.flush()
        await wait_for_hits(settings, 4)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.to_thread(process.communicate, timeout=300)
    assert process.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert (summary["imported"], summary["stopped"]) == (4, True)
    [position] = await support.rows(settings, "SELECT lines_read FROM log_import")
    assert position["lines_read"] == 4


async def test_follow_moves_on_to_the_new_log_when_the_old_one_is_rotated(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access.log", access_log_line("203.0.113.5", MONDAY, "GET /a HTTP/1.1")
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OT_")}}
    env.update({k: v for k, v in environment(settings).items() if v is not None})
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("ot-admin")), "import-log", "shop.example", str(log),
         "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for_hits(settings, 1)
        with log.open("a") as appending:  # written just before the rotation: must not be lost
            appending.write(access_log_line("203.0.113.5", MONDAY, "GET /b HTTP/1.1"))
        log.rename(tmp_path / "access.log.1")
        write_log(
            log,
            access_log_line("203.0.113.6", MONDAY + timedelta(days=1), "GET /c HTTP/1.1"),
            access_log_line("203.0.113.6", MONDAY + timedelta(days=1), "GET /d HTTP/1.1"),
        )
        await wait_for_hits(settings, 4)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.to_thread(process.communicate, timeout=300)
    assert process.returncode == 0, stderr.decode()
    assert [file["lines_read"] for file in json.loads(stdout)["files"]] == [2, 2]
    assert sorted(hit["pathname"] for hit in await stored_hits(settings)) == [
        "/a",
        "/b",
        "/c",
        "/d",
    ]


async def wait_for_hits(settings: Settings, count: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while len(await stored_hits(settings)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} hits after {timeout} s"
        await asyncio.sleep(0.2)
