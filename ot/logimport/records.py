"""One access-log line read into a record, or the reason it cannot be read.

A line is malformed (as GoAccess counts it) when it does not fit the format, its client is not an
IP address, its time cannot be read, or its status is not between 100 and 599.
"""

from __future__ import annotations

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


class Malformed(str):
    """Why a line could not be read (a short phrase)."""


NO_MATCH = Malformed("does not fit the log format")
BAD_IP = Malformed("client is not an IP address")
BAD_TIME = Malformed("time cannot be read")
BAD_STATUS = Malformed("status is not between 100 and 599")


class LineReader:
    """Reads lines of one format; `read` answers a LogRecord or a Malformed reason."""

    def __init__(self, log_format: LogFormat, default_zone: tzinfo) -> None:
        self._match = log_format.pattern.match
        self._fields = log_format.fields
        self._parse_time = compile_timestamp(log_format.time_format, default_zone)
        self._split_time = "timestamp" not in log_format.fields
        self._has_request = "request" in log_format.fields

    def read(self, line: str) -> LogRecord | Malformed:
        found = self._match(line)
        if found is None:
            return NO_MATCH
        fields = found.groupdict()
        ip = fields["host"]
        if not _is_ip(ip):
            return BAD_IP
        if self._split_time:
            time_text = fields["date"]
            if fields.get("time") is not None:
                time_text = f"{time_text} {fields['time']}"
        else:
            time_text = fields["timestamp"]
        moment = self._parse_time(time_text)
        if moment is None:
            return BAD_TIME
        status_text = fields.get("status")
        status = 0
        if status_text is not None:
            if not status_text.isdigit() or not 100 <= int(status_text) <= 599:
                return BAD_STATUS
            status = int(status_text)
        if self._has_request:
            method, target, protocol = split_request(fields["request"])
        else:
            method = (fields.get("method") or "").upper()
            protocol = (fields.get("protocol") or "").upper()
            query = fields.get("query") or ""
            target = fields["path"] + ("?" + query.removeprefix("?") if query else "")
        size_text = fields.get("bytes") or ""
        referrer = fields.get("referrer") or ""
        return LogRecord(
            ip=ip,
            vhost=fields.get("vhost") or "",
            timestamp=moment[0],
            day=moment[1],
            method=method,
            target=target,
            protocol=protocol,
            status=status,
            # "-" is Apache's zero; GoAccess counts anything unreadable as zero too.
            size=int(size_text) if size_text.isdigit() else 0,
            referrer="" if referrer == "-" else referrer,
            user_agent=fields.get("user_agent") or "-",
        )


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
