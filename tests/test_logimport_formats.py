"""Reading access-log lines: the predefined formats, Apache LogFormat and GoAccess format strings,
requests split as GoAccess splits them, and the lines that cannot be read."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ot.errors import InvalidInput
from ot.logimport.classify import is_static
from ot.logimport.formats import LogFormat, apache_format, goaccess_format
from ot.logimport.records import (
    BAD_IP,
    BAD_STATUS,
    BAD_TIME,
    NO_MATCH,
    LineReader,
    LogRecord,
    split_request,
)
from ot.logimport.timestamps import APACHE_TIME_FORMAT, compile_timestamp
from tests.access_logs import APACHE_10K

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
COMBINED_LINE = (
    '203.0.113.7 - jane [10/Mar/2024:23:30:05 -0500] "GET /blog/?page=2 HTTP/1.1" 200 5120 '
    '"https://www.google.com/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"'
)


def read(line: str, log_format: str = "combined") -> LogRecord:
    record = LineReader(apache_format(log_format), UTC).read(line)
    assert isinstance(record, LogRecord), record
    return record


def test_a_combined_line_gives_every_part_with_the_time_in_utc_and_the_logs_own_date() -> None:
    record = read(COMBINED_LINE)
    assert record.ip == "203.0.113.7"
    assert record.timestamp == datetime(2024, 3, 11, 4, 30, 5, tzinfo=UTC)
    assert record.day == date(2024, 3, 10)  # GoAccess counts the visitor on the logged date
    assert (record.method, record.target, record.protocol) == ("GET", "/blog/?page=2", "HTTP/1.1")
    assert (record.status, record.size) == (200, 5120)
    assert record.referrer == "https://www.google.com/"
    assert record.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"


def test_nginx_combined_is_apaches_and_a_dash_means_no_referrer_and_no_bytes() -> None:
    line = '198.51.100.2 - - [01/Jan/2025:00:00:00 +0000] "HEAD / HTTP/2.0" 304 - "-" "curl/8.5"'
    record = read(line)
    assert (record.method, record.protocol, record.size, record.referrer) == (
        "HEAD",
        "HTTP/2",
        0,
        "",
    )


def test_common_format_has_no_referrer_and_no_user_agent() -> None:
    record = read('2001:db8::1 - - [10/Mar/2024:10:00:00 +0100] "GET /a HTTP/1.0" 200 12', "common")
    assert record.ip == "2001:db8::1"
    assert (record.referrer, record.user_agent) == ("", "-")


def test_vhost_combined_names_the_virtual_host() -> None:
    record = read("shop.example:443 " + COMBINED_LINE, "vhost_combined")
    assert record.vhost == "shop.example"
    assert record.ip == "203.0.113.7"


def test_an_escaped_quote_stays_inside_its_field_and_text_after_the_format_is_ignored() -> None:
    line = COMBINED_LINE.replace("Firefox/121.0", r"Firefox/121.0 \"beta\"") + " 0.003 extra"
    assert read(line).user_agent.endswith(r"Firefox/121.0 \"beta\"")


@pytest.mark.parametrize(
    "log_format",
    [apache_format("combined"), apache_format("vhost_combined"), goaccess_format("COMBINED")],
    ids=["combined", "vhost_combined", "goaccess COMBINED"],
)
def test_lines_without_a_backslash_are_read_alike_by_the_plain_pattern(
    log_format: LogFormat,
) -> None:
    """The plain pattern (quoted fields end at the first quote) stands in for the exact one on
    every line without a backslash; it must read each such line exactly as the exact one."""
    with gzip.open(APACHE_10K, "rt", errors="replace") as log:
        lines = [line.rstrip("\n") for line in log]
    lines += [
        COMBINED_LINE[:-1],  # the last quote cut off
        COMBINED_LINE + " 0.003 extra",
        COMBINED_LINE.replace('"https://www.google.com/"', '""'),  # an empty quoted field
        COMBINED_LINE.replace("GET /blog", 'GET /"quoted"'),  # not a line of the format
        "www.example.com:443 " + COMBINED_LINE,
        COMBINED_LINE.replace(" 5120 ", " - "),
    ]
    for line in lines:
        if "\\" in line:
            continue
        exact, plain = log_format.pattern.match(line), log_format.plain_pattern.match(line)
        assert (exact and exact.groupdict()) == (plain and plain.groupdict()), line


def test_a_last_field_cut_short_by_the_end_of_the_line_is_read_as_goaccess_reads_it() -> None:
    assert read(COMBINED_LINE[:-1]).user_agent.endswith("Firefox/121.0")


def test_an_apache_logformat_string_with_its_own_time_format_and_extra_fields() -> None:
    log_format = apache_format(
        '%a %{%Y-%m-%d %H:%M:%S}t %m %U%q %H %>s %B %D "%{User-Agent}i" %{X-Request-Id}i'
    )
    record = LineReader(log_format, AMSTERDAM).read(
        '192.0.2.1 2024-07-01 12:00:00 GET /shop?x=1 HTTP/1.1 201 99 1234 "Safari" abc-123'
    )
    assert isinstance(record, LogRecord)
    # No zone in the log: the time is the site's (Amsterdam, UTC+2 in July).
    assert record.timestamp == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert (record.method, record.target, record.status, record.size) == (
        "GET",
        "/shop?x=1",
        201,
        99,
    )
    assert record.user_agent == "Safari"


def test_a_goaccess_log_format_with_date_and_time_formats() -> None:
    log_format = goaccess_format('%d %t %h %^ "%r" %s %b "%R" "%u"', "%Y-%m-%d", "%H:%M:%S")
    record = LineReader(log_format, UTC).read(
        '2024-03-10 08:15:00 203.0.113.8 ignored "GET /x HTTP/1.1" 404 7 "-" "Firefox"'
    )
    assert isinstance(record, LogRecord)
    assert record.timestamp == datetime(2024, 3, 10, 8, 15, tzinfo=UTC)
    assert (record.target, record.status) == ("/x", 404)


def test_goaccess_predefined_names_read_the_same_lines_as_apaches() -> None:
    record = LineReader(goaccess_format("COMBINED"), UTC).read(COMBINED_LINE)
    assert isinstance(record, LogRecord)
    assert record.day == date(2024, 3, 10)
    assert record.target == "/blog/?page=2"


def test_the_fast_reading_of_apache_times_agrees_with_the_general_one() -> None:
    fast = compile_timestamp(APACHE_TIME_FORMAT, UTC)
    general = compile_timestamp("%d/%b/%Y:%T %z", UTC)  # the same format, spelled otherwise
    start = datetime(2023, 12, 31, 22, 59, 58, tzinfo=UTC)
    for step in range(0, 400_000, 3_659):
        for zone in ("+0000", "-0500", "+0530", "+1400"):
            moment = start + timedelta(seconds=step)
            text = moment.astimezone(_offset(zone)).strftime("%d/%b/%Y:%H:%M:%S %z")
            assert fast(text) == general(text) == (moment, _local_date(moment, zone)), text
    for odd in ["31/Feb/2024:10:00:00 +0000", "10/Mar/2024:24:00:00 +0000", "10/Mar/2024:10:00"]:
        assert fast(odd) is None and general(odd) is None, odd


def _offset(zone: str) -> timezone:
    minutes = int(zone[1:3]) * 60 + int(zone[3:])
    return timezone(timedelta(minutes=-minutes if zone[0] == "-" else minutes))


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(_offset(zone)).date()


@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        ("GET /a HTTP/1.1", ("GET", "/a", "HTTP/1.1")),
        ("get /a http/1.1", ("GET", "/a", "HTTP/1.1")),
        ("GET /with space HTTP/1.1", ("GET", "/with space", "HTTP/1.1")),
        ("GET /h2 HTTP/2.0", ("GET", "/h2", "HTTP/2")),
        ("GET /no-protocol", ("", "-", "")),
        ("BREW /pot HTTP/1.1", ("", "BREW /pot HTTP/1.1", "")),
        ("-", ("", "-", "")),
        ("", ("", "", "")),
    ],
)
def test_requests_are_split_as_goaccess_splits_them(
    request_line: str, expected: tuple[str, str, str]
) -> None:
    assert split_request(request_line) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", NO_MATCH),
        (COMBINED_LINE.replace("203.0.113.7", "host.example"), BAD_IP),
        (COMBINED_LINE.replace("10/Mar", "32/Mar"), BAD_TIME),
        (COMBINED_LINE.replace("10/Mar", "10/Mrz"), BAD_TIME),
        (COMBINED_LINE.replace(" -0500]", "]"), BAD_TIME),
        (COMBINED_LINE.replace(" 200 ", " 999 "), BAD_STATUS),
        (COMBINED_LINE.replace(" 200 ", " OK "), BAD_STATUS),
    ],
)
def test_unreadable_lines_are_malformed_with_a_reason(line: str, reason: str) -> None:
    assert LineReader(apache_format("combined"), UTC).read(line) == reason


@pytest.mark.parametrize(
    ("log_format", "problem"),
    [
        ('%h %t "%r" %Z', "unknown directive '%Z'"),
        ('%h %t "%r" %{Referer', "never closed"),
        ('%l %t "%r" %>s', "no client address"),
        ('%h "%r" %>s', "no time of the request"),
        ("%h %t %>s", "no request"),
        ("%h %{%Y-%m-%d %Q}t %r", "%Q, which is not supported"),
        ("%h %{%H:%M}t %r", "no full date"),
    ],
)
def test_an_invalid_apache_logformat_is_refused_naming_the_problem(
    log_format: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        apache_format(log_format)
    assert problem in refused.value.message
    assert log_format in refused.value.message


@pytest.mark.parametrize(
    ("log_format", "date_format", "problem"),
    [
        ('%h %d "%r" %Y', "%d/%b/%Y", "unknown specifier '%Y'"),
        ('%h [%d:%t] "%r"', "", "no --date-format"),
    ],
)
def test_an_invalid_goaccess_format_is_refused_naming_the_problem(
    log_format: str, date_format: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        goaccess_format(log_format, date_format, "%H:%M:%S")
    assert problem in refused.value.message


@pytest.mark.parametrize(
    ("requested", "static"),
    [
        ("/style.css", True),
        ("/logo.PNG", True),
        ("/a.js", True),
        ("/fonts/inter.woff2", True),
        ("/app.js?v=3", False),  # GoAccess: a query string makes it a page
        ("/blog/", False),
        ("/download.php", False),
    ],
)
def test_static_files_are_those_goaccess_calls_static(requested: str, static: bool) -> None:
    assert is_static(requested) is static
