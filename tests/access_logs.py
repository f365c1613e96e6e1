"""Access logs for the import tests: a generator of realistic combined-format lines, and GoAccess
run as the oracle whose figures an import must reproduce."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ot.logimport.classify import STATIC_EXTENSIONS

FIXTURES = Path(__file__).parent / "fixtures"
APACHE_10K = FIXTURES / "apache_combined_10k.log.gz"  # elastic/examples' apache_logs, Apache-2.0

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
# User-Agents that GoAccess's crawler list and our bot detection classify alike.
BROWSERS = (CHROME, FIREFOX, SAFARI_IPHONE)
CRAWLERS = (GOOGLEBOT, BINGBOT)

PAGES = (
    "/", "/pricing", "/blog/", "/blog/privacy-first-analytics", "/docs/install?lang=en",
    "/search?q=log+import", "/caf%C3%A9", "/%7Eanna/", "/about?utm_source=newsletter",
)  # fmt: skip
STATIC = ("/style.css", "/app.js", "/logo.PNG", "/fonts/inter.woff2", "/app.js?v=3", "/a.js")
MISSING = ("/wp-login.php", "/.env", "/old-page")
REFERRERS = ("-", "https://www.google.com/", "https://news.ycombinator.com/item?id=1", "-")
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))


def access_log_line(
    ip: str,
    moment: datetime,
    request: str,
    status: int | str = 200,
    size: int | str = 512,
    referrer: str = "-",
    user_agent: str = CHROME,
) -> str:
    """One line of the Apache/NGINX combined format."""
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{ip} - - [{stamp}] "{request}" {status} {size} "{referrer}" "{user_agent}"\n'


def generated_log(lines: int = 3_000, *, seed: int = 7, malformed: bool = True) -> str:
    """A combined-format log over three days and three time zones: pages, static files and 404s
    from browsers and crawlers, IPv4 and IPv6 clients, encoded paths, odd requests, and (unless
    `malformed` is False) a few lines that cannot be read."""
    chooser = random.Random(seed)
    clients = [f"203.0.113.{n}" for n in range(1, 60)] + [f"2001:db8::{n:x}" for n in range(1, 12)]
    start = datetime(2024, 3, 9, 21, 0, tzinfo=UTC)
    output = []
    for number in range(lines):
        zone = ZONES[(number // 700) % len(ZONES)]
        moment = (start + timedelta(seconds=number * 97)).astimezone(zone)
        kind = chooser.random()
        status: int | str = chooser.choice((200, 200, 200, 200, 304, 301, 206, 500, 403))
        if kind < 0.55:
            path = chooser.choice(PAGES)
        elif kind < 0.85:
            path = chooser.choice(STATIC)
        else:
            path, status = chooser.choice(MISSING), 404
        method = chooser.choice(("GET",) * 8 + ("POST", "HEAD"))
        protocol = chooser.choice(("HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "HTTP/1.0"))
        request = f"{method} {path} {protocol}"
        if number % 401 == 0:
            request = chooser.choice(("-", "OPTIONS * HTTP/1.1", "GET /no-protocol"))
        size = chooser.choice((0, 512, 18_230, 1_048_576, "-"))
        user_agent = chooser.choice(BROWSERS * 4 + CRAWLERS)
        output.append(
            access_log_line(
                chooser.choice(clients),
                moment,
                request,
                status,
                size,
                chooser.choice(REFERRERS),
                user_agent,
            )
        )
        if malformed and number % 997 == 500:
            output.append(chooser.choice(MALFORMED_LINES))
    return "".join(output)


MALFORMED_LINES = (
    "this is not a log line\n",
    'not-an-ip - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"\n',
    '203.0.113.9 - - [31/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"\n',
    '203.0.113.9 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 999 5 "-" "x"\n',
)


def goaccess_executable() -> str:
    """GoAccess is the oracle: without it these tests cannot say anything, so they fail."""
    found = shutil.which("goaccess")
    if found is None:
        pytest.fail(
            "goaccess is not installed: the access-log import is checked against it "
            "(apt-get install goaccess; scripts/test installs it when run as root)"
        )
    return found


def as_common_format(log: str) -> str:
    """A combined-format log in Apache's common format: without referrer and User-Agent."""
    return "".join(
        line.rsplit(' "', 2)[0] + "\n" if line.count('"') == 6 else line + "\n"
        for line in log.splitlines()
    )


def goaccess_figures(
    log: Path, tmp_path: Path, *options: str, log_format: str = "COMBINED"
) -> dict[str, Any]:
    """What GoAccess reports for a log: its own configuration left out, the static extensions
    ours, so the test does not depend on /etc/goaccess."""
    if log.suffix == ".gz":
        plain = tmp_path / log.stem
        plain.write_bytes(gzip.decompress(log.read_bytes()))
        log = plain
    output = tmp_path / f"goaccess-{len(list(tmp_path.glob('goaccess-*')))}.json"
    command = [
        goaccess_executable(),
        str(log),
        "--no-global-config",
        f"--log-format={log_format}",
        "--http-method=yes",
        "--http-protocol=yes",
        *(f"--static-file={extension}" for extension in STATIC_EXTENSIONS),
        *options,
        "-o",
        str(output),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    report = json.loads(output.read_text())
    general = report["general"]
    return {
        "total_requests": general["total_requests"],
        "valid_requests": general["valid_requests"],
        "failed_requests": general["failed_requests"],
        "unique_visitors": general["unique_visitors"],
        "unique_files": general["unique_files"],
        "unique_static_files": general["unique_static_files"],
        "unique_not_found": general["unique_not_found"],
        "not_found_requests": sum(item["hits"]["count"] for item in report["not_found"]["data"]),
        "bandwidth": general["bandwidth"],
        "status_codes": {
            item["data"][:3]: item["hits"]["count"]
            for group in report["status_codes"]["data"]
            for item in group["items"]
        },
        "requests": {
            (item["data"], item["method"], item["protocol"]): (
                item["hits"]["count"],
                item["visitors"]["count"],
            )
            for item in report["requests"]["data"]
        },
    }


def our_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The same figures from an import's --json summary."""
    figures = dict(summary["goaccess"])
    figures.pop("total_requests")
    figures["total_requests"] = summary["lines_read"]
    top = figures.pop("top_requests")
    figures["top_requests"] = [
        ((entry["request"], entry["method"] or "---", entry["protocol"] or "---"),
         (entry["hits"], entry["visitors"]))
        for entry in top
    ]  # fmt: skip
    return figures
