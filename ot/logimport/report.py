"""What an import read and did, with the figures GoAccess reports for the same lines.

GoAccess's definitions: every line but blank ones and comments is a request; the valid ones are
those it could read and did not ignore; a unique visitor is a distinct (IP, date, User-Agent)
triple among valid requests other than 4xx; requested files are the valid requests that are
neither static nor 404, keyed by (decoded request, method, protocol); bandwidth sums the sizes of
valid requests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ot.logimport.classify import NOT_FOUND

MAX_MALFORMED_SHOWN = 5
TOP_REQUESTS = 10

RequestKey = tuple[str, str, str]  # (decoded request, method, protocol)


@dataclass
class _RequestTally:
    hits: int = 0
    bytes: int = 0
    visitors: set[int] = field(default_factory=set)


@dataclass
class FileProgress:
    """One log file of an import."""

    name: str
    started_at_line: int  # lines already imported by earlier runs (0: from the start)
    lines_read: int = 0
    note: str = ""  # e.g. that the file was rotated or truncated since the last import


@dataclass
class ImportReport:
    site: str
    files: list[FileProgress] = field(default_factory=list)
    lines_read: int = 0
    malformed: int = 0
    malformed_lines: list[tuple[str, int, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    imported: int = 0
    already_imported: int = 0
    not_stored: int = 0  # valid requests with no page URL to store ("-", "OPTIONS *")
    stopped: bool = False  # interrupted (Ctrl-C, SIGTERM) after committing what was read
    valid_requests: int = 0
    bandwidth: int = 0
    status_codes: Counter[int] = field(default_factory=Counter)
    _visitors: set[int] = field(default_factory=set)
    _requests: dict[RequestKey, _RequestTally] = field(default_factory=dict)
    _static: set[RequestKey] = field(default_factory=set)
    _not_found: set[RequestKey] = field(default_factory=set)
    not_found_requests: int = 0

    def add_malformed(self, file_name: str, line_number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_MALFORMED_SHOWN:
            self.malformed_lines.append((file_name, line_number, reason))

    def add_valid(
        self, key: RequestKey, *, status: int, size: int, visitor_id: int, static: bool
    ) -> None:
        self.valid_requests += 1
        self.bandwidth += size
        self.status_codes[status] += 1
        counts_visitor = not 400 <= status <= 499
        if counts_visitor:
            self._visitors.add(visitor_id)
        if status == NOT_FOUND:
            self.not_found_requests += 1
            self._not_found.add(key)
        elif static:
            self._static.add(key)
        else:
            tally = self._requests.get(key)
            if tally is None:
                tally = self._requests[key] = _RequestTally()
            tally.hits += 1
            tally.bytes += size
            if counts_visitor:
                tally.visitors.add(visitor_id)

    @property
    def unique_visitors(self) -> int:
        return len(self._visitors)

    def top_requests(self, count: int = TOP_REQUESTS) -> list[dict[str, Any]]:
        ranked = sorted(self._requests.items(), key=lambda item: (-item[1].hits, item[0]))
        return [
            {
                "request": request,
                "method": method,
                "protocol": protocol,
                "hits": tally.hits,
                "visitors": len(tally.visitors),
                "bytes": tally.bytes,
            }
            for (request, method, protocol), tally in ranked[:count]
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "files": [
                {
                    "name": progress.name,
                    "started_at_line": progress.started_at_line,
                    "lines_read": progress.lines_read,
                    "note": progress.note,
                }
                for progress in self.files
            ],
            "lines_read": self.lines_read,
            "malformed": {
                "count": self.malformed,
                "first": [
                    {"file": name, "line": number, "reason": reason}
                    for name, number, reason in self.malformed_lines
                ],
            },
            "skipped": dict(sorted(self.skipped.items())),
            "imported": self.imported,
            "already_imported": self.already_imported,
            "not_stored": self.not_stored,
            "stopped": self.stopped,
            "goaccess": {
                "total_requests": self.lines_read,
                "valid_requests": self.valid_requests,
                "failed_requests": self.malformed,
                "unique_visitors": self.unique_visitors,
                "unique_files": len(self._requests),
                "unique_static_files": len(self._static),
                "unique_not_found": len(self._not_found),
                "not_found_requests": self.not_found_requests,
                "bandwidth": self.bandwidth,
                "status_codes": {
                    str(code): hits for code, hits in sorted(self.status_codes.items())
                },
                "top_requests": self.top_requests(),
            },
        }
