"""One access-log line read into a record, or the reason it cannot be read.

A line is malformed (as GoAccess counts it) when it does not fit the format, its client is not an
IP address, its time cannot be read, or its status is not between 100 and 599.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import lru_cache

from ot.logimport.formats import LogFormat
from ot.logimport.timestamps import compile_timestamp

# GoAccess's request parsing: a known method, the target, and a known protocol.
HTTP_METHODS = frozenset(
    {
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH", "SEARCH",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "VERSION-CONTROL",
        "REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE",
        "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH",
    }
)  # fmt: skip
# A protocol is known when it starts with one of these ("HTTP/2.0" is "HTTP/2"), as in GoAccess.
HTTP_PROTOCOLS = ("HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3")


@dataclass(slots=True)
class LogRecord:
    """The parts of a line an import uses."""

    ip: str
    vhost: str
    timestamp: datetime  # aware, UTC
    day: date  # the date as the log wrote it: GoAccess counts a visitor once per such day
    method: str  # "" when the request names no known method
    target: str  # as logged: "/path?query", an absolute URL, or whatever a client sent
    protocol: str  # "" when the request names no known protocol
    status: int  # 0 when the format has no status
    size: int
    referrer: str  # "" when none
    user_agent: str  # "-" when none, as GoAccess keeps it


# LogRecord's fields in its order, the size as logged.
Fields = tuple[str, str, datetime, date, str, str, str, int, str, str, str]


class Malformed(str):
    """Why a line could not be read (a short phrase)."""


NO_MATCH = Malformed("does not fit the log format")
BAD_IP = Malformed("client is not an IP address")
BAD_TIME = Malformed("time cannot be read")
BAD_STATUS = Malformed("status is not between 100 and 599")

_FIELDS = (
    "host", "vhost", "timestamp", "date", "time", "request", "status", "bytes", "referrer",
    "user_agent",
)  # fmt: skip
_PARTS = ("method", "path", "query", "protocol")  # a request logged in parts (%m %U %q %H)
_ABSENT = "absent"
# The statuses GoAccess accepts, looked up rather than parsed: "200" -> 200.
_STATUSES = {str(code): code for code in range(100, 600)}


class LineReader:
    """Reads lines of one format; `read` answers a LogRecord or a Malformed reason."""

    def __init__(self, log_format: LogFormat, default_zone: tzinfo) -> None:
        # An empty group at the end stands for every field the format lacks, so that one
        # `Match.group(...)` call answers all fields at once ("" for the missing ones).
        pattern = re.compile(log_format.pattern.pattern + f"(?P<{_ABSENT}>)")
        self._match = pattern.match
        # Lines without a backslash (nearly all) are read by the faster plain pattern, whose
        # groups are numbered alike, so that `self._fields` serves both.
        plain = re.compile(log_format.plain_pattern.pattern + f"(?P<{_ABSENT}>)")
        if plain.groupindex != pattern.groupindex:
            raise RuntimeError(f"the plain pattern of {log_format.description!r} differs")
        self._match_plain = plain.match
        self._parse_time = compile_timestamp(log_format.time_format, default_zone)
        self._fields = tuple(
            pattern.groupindex.get(name, pattern.groupindex[_ABSENT]) for name in _FIELDS
        )
        self._has = {name: name in log_format.fields for name in _FIELDS + _PARTS}

    def read(self, line: str) -> LogRecord | Malformed:
        fields = self.read_fields(line)
        if isinstance(fields, Malformed):
            return fields
        return LogRecord(*fields[:8], size_of(fields[8]), *fields[9:])

    def read_fields(self, line: str) -> Fields | Malformed:
        """What `read` answers, as a plain tuple in LogRecord's order with the size as logged
        (see `size_of`): the importer's hot path, which skips most lines after a glance."""
        found = self._match(line) if "\\" in line else self._match_plain(line)
        if found is None:
            return NO_MATCH
        (ip, vhost, time_text, date_text, clock_text, request, status_text, size_text,
         referrer, user_agent) = found.group(*self._fields)  # fmt: skip
        if not _is_ip(ip):
            return BAD_IP
        if not time_text:
            time_text = f"{date_text} {clock_text}" if clock_text else date_text
        moment = self._parse_time(time_text)
        if moment is None:
            return BAD_TIME
        status = _STATUSES.get(status_text, 0)
        if status == 0 and self._has["status"]:
            status = int(status_text) if status_text.isdigit() else 0  # "0200", say
            if not 100 <= status <= 599:
                return BAD_STATUS
        if request:
            method, target, protocol = split_request(request)
        elif self._has["request"]:
            method, target, protocol = split_request("")
        else:
            method, target, protocol = self._request_from_parts(found)
        return (
            ip, vhost, moment[0], moment[1], method, target, protocol, status, size_text,
            "" if referrer == "-" else referrer, user_agent or "-",
        )  # fmt: skip

    def _request_from_parts(self, found: re.Match[str]) -> tuple[str, str, str]:
        method, path, query, protocol = (
            found.group(name) if self._has[name] else "" for name in _PARTS
        )
        query = query.removeprefix("?")
        return method.upper(), path + ("?" + query if query else ""), protocol.upper()


def size_of(text: str) -> int:
    # "-" is Apache's zero; GoAccess counts anything unreadable as zero too.
    return int(text) if text.isdigit() else 0


@lru_cache(maxsize=65_536)  # the same few thousand requests make up most of a log
def split_request(request: str) -> tuple[str, str, str]:
    """(method, target, protocol) as GoAccess splits a request line: without a known method the
    whole line is the target; with one but no known protocol, the target is "-"."""
    method, space, rest = request.partition(" ")
    method = method.upper()
    if not space or method not in HTTP_METHODS:
        return "", request, ""
    target, space, protocol = rest.rpartition(" ")
    protocol = protocol.upper()
    known = (
        protocol
        if protocol in HTTP_PROTOCOLS
        else next((name for name in HTTP_PROTOCOLS if protocol.startswith(name)), None)
    )
    if not space or known is None:
        return "", "-", ""
    return method, target.strip(), known


@lru_cache(maxsize=65_536)
def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError):
        return False
    return True
