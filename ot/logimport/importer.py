"""The import itself: read each log line by line, count it as GoAccess would, enrich the lines
worth storing into pageviews, and commit them through the collector's own `store_batch` in large
batches, moving the log's import position forward in the same transaction. Each hit's event id is
made of its line (`ot.logimport.identity`), so a line is stored once whatever file, place or
stream it is read from; nothing of a log is stored before its first lines show that the format
fits (`ot.logimport.format_check`).

Visitors are counted as GoAccess counts them: a keyed hash of the site, the IP address, the date
the log wrote and the User-Agent. The key is derived from the data folder's visitor key, so
importing a log again (or the rest of a grown log) gives the same visitor ids; the IP address
itself is stored only as the site's IP policy says.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.errors import InvalidInput, OtError
from ot.ingest.collector import ip_context
from ot.ingest.geo import GeoLocator, Location
from ot.ingest.hit import PAGEVIEW
from ot.ingest.referrer import ReferrerInfo, classify_referrer
from ot.ingest.urls import PageUrl, parse_page_url, parse_referrer_url
from ot.ips import ip_in_networks, truncate_ip
from ot.logimport import state
from ot.logimport.classify import NOT_FOUND, client_of, is_crawler, is_static
from ot.logimport.format_check import FIRST_LINES, MalformedAtFirst, check_format
from ot.logimport.formats import LogFormat
from ot.logimport.identity import LineCounts, line_key
from ot.logimport.records import LineReader, Malformed, size_of
from ot.logimport.report import FileProgress, ImportReport
from ot.logimport.sources import GZIP_ERRORS, LogSource, file_identity, file_size, open_source
from ot.logimport.writer import BatchWriter, Row, fewer_collections, microseconds
from ot.models import Site
from ot.privacy import IpPolicy
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.secrets import load_secrets_of
from ot.sites.store import SiteConfig

MAX_LINE_BYTES = 64 * 1024  # a longer "line" is not a log line (binary garbage, a lost newline)
PROGRESS_EVERY_LINES = 4096
TOO_LONG = Malformed(f"line is longer than {MAX_LINE_BYTES // 1024} KiB")
NOT_TEXT = Malformed("line holds a NUL byte (binary data)")


class SkipReason:
    """Why a readable line was not imported (the summary counts each)."""

    CRAWLER = "crawler"
    STATIC = "static"
    NOT_FOUND = "not_found"
    EXCLUDED_IP = "excluded_ip"
    EXCLUDED_PATH = "excluded_path"


@dataclass(frozen=True)
class ImportOptions:
    """What to import and how. By default only what a web analytics product counts as a
    pageview is stored: no static files, no crawlers, no 404s."""

    include_static: bool = False
    include_crawlers: bool = False
    include_not_found: bool = False
    follow: bool = False  # keep reading what is appended to the (last) log until stopped
    batch_size: int = 5_000
    poll_seconds: float = 1.0

    @property
    def switches(self) -> str:
        """What is stored beyond the defaults, as a log's position records it: "404,static"."""
        return ",".join(
            name
            for name, included in (
                ("404", self.include_not_found),
                ("crawlers", self.include_crawlers),
                ("static", self.include_static),
            )
            if included
        )


# Called with a log's name, the lines and bytes read of it, its size if known, and whether its
# end was reached: when a log is opened, every few thousand lines, and at its end.
ProgressCallback = Callable[[str, int, int, int | None, bool], None]


class LogImporter:
    """Imports logs into one site. Use `run` once."""

    def __init__(
        self,
        settings: Settings,
        site: Site,
        log_format: LogFormat,
        options: ImportOptions,
        *,
        actor: Actor,
        stop: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._settings = settings
        self._actor = actor
        self._account_id = site.account_id
        self._site = SiteConfig.from_site(site)
        self._timezone = ZoneInfo(site.timezone)
        self._log_format = log_format
        self._read_fields = LineReader(log_format, self._timezone).read_fields
        self._options = options
        self._skip_crawlers = not options.include_crawlers
        self._skip_not_found = not options.include_not_found
        self._skip_static = not options.include_static
        self._stop = stop or threading.Event()
        self._progress = progress
        secrets = load_secrets_of(settings)
        # A key of its own, so that import ids never equal the collector's cookie-mode ids.
        self._visitor_key = hashlib.blake2b(
            b"opentracker access-log visitors", key=secrets.visitor_key, digest_size=32
        ).digest()
        # One count for all the logs of an import, read one after the other as one stream.
        self._line_counts = LineCounts(line_key(secrets.visitor_key, self._site.id))
        self._with_checksums = False  # see ot.logimport.legacy
        self._geo = GeoLocator(settings.geo.mmdb_path)
        self._allowed_params = frozenset(settings.collector.allowed_query_params)
        self._visit_timeout = timedelta(minutes=settings.collector.visit_timeout_minutes)
        self.report = ImportReport(site=site.domain)

    async def run(self, names: list[str]) -> ImportReport:
        """Import the logs in order. Every file is opened before the first line is imported, so
        a missing or unreadable one changes nothing. The import is kept in the audit trail, also
        when it failed: what it stored before is kept."""
        failed = True
        try:
            report = await self._import_all(names)
            failed = False
            return report
        finally:
            await self._record(failed=failed)

    async def _record(self, *, failed: bool) -> None:
        details = {"site_id": self._site.id, "imported": self.report.imported}
        details |= {"stopped": self.report.stopped, "failed": failed}
        engine = create_engine(self._settings, for_writes=True)
        try:
            async with AsyncSession(engine) as session:
                await audit.record(
                    session,
                    AuditAction.LOG_IMPORTED,
                    actor=self._actor,
                    account_id=self._account_id,
                    details=details,
                )
                await session.commit()
        finally:
            await engine.dispose()

    async def _import_all(self, names: list[str]) -> ImportReport:
        sources: list[LogSource] = []
        try:
            for name in names:
                sources.append(open_source(name))
        except OtError:
            for source in sources:
                source.close()
            raise
        opened = list(sources)
        database = BatchWriter(
            self._settings,
            self._visit_timeout,
            self._count_stored,
            ip_context=ip_context(self._site.id),
        )
        try:
            site_id = self._site.id
            self._with_checksums = await database.run(
                lambda connection: state.has_position_based_ids(connection, site_id)
            )
            with fewer_collections():
                for index, source in enumerate(sources):
                    follow = self._options.follow and index == len(sources) - 1
                    current: LogSource | None = source
                    while current is not None and not self._stop.is_set():
                        current = await self._import(database, current, follow=follow)
                        if current is not None and current is not source:
                            opened.append(current)  # a rotated log's successor, closed below
        finally:
            for each in opened:
                each.close()
            await database.close()
            self._geo.close()
        self.report.stopped = self._stop.is_set()
        return self.report

    async def _import(
        self, database: BatchWriter, source: LogSource, *, follow: bool
    ) -> LogSource | None:
        """Import one log; when following, answers the log that replaced it after a rotation."""
        first = self._read_line(source)
        unfinished = not first.endswith(b"\n") and len(first) < MAX_LINE_BYTES
        if not first or (source.can_grow and unfinished):
            if follow and source.can_grow:
                return await self._wait_for_first_line(source)
            return None
        identity = file_identity(self._site.id, first)
        progress = FileProgress(source.name, started_at_line=0)
        self.report.files.append(progress)
        position = await self._resume(database, source, identity, first, progress)
        if position is None:
            return None
        pending: bytes | None = first if position.byte_offset == 0 else None
        cursor = _Cursor(position.byte_offset, position.lines_read)
        size = file_size(source)
        self._show_progress(source.name, progress, cursor, size, finished=False)
        malformed = MalformedAtFirst()
        batch: list[Row] = []
        format_fits = False  # nothing of the log is committed until its first lines show it

        async def commit(*, full: bool = False) -> None:
            nonlocal format_fits
            if not format_fits:
                check_format(
                    source.name, progress.lines_read, malformed, self._log_format, self._timezone
                )
                # Judged on lines, not on none (a followed log may still be empty).
                format_fits = progress.lines_read > 0
            position.byte_offset, position.lines_read = cursor.offset, cursor.line_number
            position.line_counts = self._line_counts.snapshot()
            rows = list(batch)
            batch.clear()
            await database.store(rows, position, full=full)
            if not full:
                await database.drain()  # the end of the log, or stopped: all of it committed

        while True:
            raw = pending
            pending = None
            if raw is None:
                try:
                    raw = self._take_complete_lines(source, cursor, progress, malformed, batch)
                except OtError:
                    await commit()  # keep what was read before a damaged gzip stream
                    raise
            if raw is not None:
                # The end, a line without its newline, or the log's first line.
                unfinished = not raw.endswith(b"\n") and len(raw) < MAX_LINE_BYTES
                if not raw or (unfinished and source.can_grow):
                    # The end, or a last line still being written: leave it for later.
                    if raw and source.path is not None:
                        source.stream.seek(cursor.offset)
                    await commit()
                    self._show_progress(source.name, progress, cursor, size, finished=True)
                    if not follow or self._stop.is_set():
                        return None
                    replacement = await self._wait_for_more(source, cursor.offset)
                    if replacement is not None or self._stop.is_set():
                        return replacement
                    continue
                cursor.offset += len(raw)
                cursor.line_number += 1
                if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    cursor.offset += self._skip_rest_of_line(source)
                    self.report.lines_read += 1
                    progress.lines_read += 1
                    self.report.add_malformed(source.name, cursor.line_number, TOO_LONG)
                    if progress.lines_read <= FIRST_LINES:
                        malformed.add(cursor.line_number, raw.decode("utf-8", "replace"), TOO_LONG)
                else:
                    self._take(raw, source.name, cursor.line_number, progress, malformed, batch)
            if len(batch) >= self._options.batch_size and (
                format_fits or progress.lines_read >= FIRST_LINES
            ):
                await commit(full=True)
            if cursor.line_number % PROGRESS_EVERY_LINES == 0:
                self._show_progress(source.name, progress, cursor, size, finished=False)
                if self._stop.is_set():
                    await commit()
                    return None

    def _take_complete_lines(
        self,
        source: LogSource,
        cursor: _Cursor,
        progress: FileProgress,
        malformed: MalformedAtFirst,
        batch: list[Row],
    ) -> bytes | None:
        """Take whole lines until the batch is full or the line number is a multiple of
        PROGRESS_EVERY_LINES (None), or until a line that is not whole (the end, a line still
        being written or too long), which is answered untaken. The hot loop: locals only."""
        readline = source.stream.readline
        take = self._take
        name = source.name
        batch_size = self._options.batch_size
        offset, line_number = cursor.offset, cursor.line_number
        until = (line_number // PROGRESS_EVERY_LINES + 1) * PROGRESS_EVERY_LINES
        try:
            while line_number < until:
                raw = readline(MAX_LINE_BYTES)
                if not raw.endswith(b"\n"):
                    return raw
                line_number += 1
                offset += len(raw)
                if (
                    take(raw, name, line_number, progress, malformed, batch)
                    and len(batch) >= batch_size
                ):
                    return None
            return None
        except GZIP_ERRORS as error:
            raise _damaged_gzip(source, error) from None
        finally:
            cursor.offset, cursor.line_number = offset, line_number

    async def _resume(
        self,
        database: BatchWriter,
        source: LogSource,
        identity: str,
        first: bytes,
        progress: FileProgress,
    ) -> state.ImportPosition | None:
        """Where this log's import stands, with the stream moved past what earlier imports read
        (a log now shorter than that, or imported before without lines this import stores, is
        read again from its start). None: nothing to read."""
        site_id = self._site.id
        position = await database.run(
            lambda connection: state.read(
                connection, site_id=site_id, identity=identity, path=source.name
            )
        )
        switches = self._options.switches
        if position.byte_offset and not _covers(position.switches, switches):
            # Lines skipped then are stored now; those stored then are found stored.
            position.restart()
            progress.note = "read again from its start for what the last import skipped"
        # From here the lines up to the position are those imported with these switches.
        position.switches = switches
        progress.started_at_line = position.lines_read
        if position.byte_offset == 0:
            return position  # from the start: the counts go on from the logs read before
        if self._skip_imported(source, position.byte_offset - len(first)):
            self._line_counts.restore(position.line_counts)
            return position
        progress.started_at_line = 0
        position.restart()
        if source.path is None:
            # A stream cannot go back: the next import of it reads it from its start.
            await database.run(lambda connection: state.save(connection, position, utcnow()))
            progress.note = "shorter than when last imported: nothing imported"
            return None
        progress.note = "shorter than when last imported: imported again from the start"
        source.stream.seek(len(first))  # the first line is read already
        return position

    def _take(
        self,
        raw: bytes,
        file_name: str,
        line_number: int,
        progress: FileProgress,
        malformed: MalformedAtFirst,
        batch: list[Row],
    ) -> bool:
        """Count one line and add its hit to the batch; answers whether a hit was added.
        Most lines of a log are skipped (static files, crawlers), so they are dropped as soon
        as they are known valid, before anything else is computed."""
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text or text[0] == "#":
            return False  # GoAccess does not count blank lines and comments either
        report = self.report
        report.lines_read += 1
        progress.lines_read += 1
        fields = self._read_fields(text) if "\x00" not in text else NOT_TEXT
        if isinstance(fields, Malformed):
            report.add_malformed(file_name, line_number, fields)
            if progress.lines_read <= FIRST_LINES:
                malformed.add(line_number, text, fields)
            return False
        ip, vhost, moment, day, method, target, protocol, status, size, referrer, user_agent = (
            fields
        )
        decoded, static = _requested(target)
        if self._skip_crawlers and is_crawler(user_agent):
            report.skipped[SkipReason.CRAWLER] += 1
            return False
        if self._skip_not_found and status == NOT_FOUND:
            report.skipped[SkipReason.NOT_FOUND] += 1
            return False
        if self._skip_static and static:
            report.skipped[SkipReason.STATIC] += 1
            return False
        site = self._site
        if site.excluded_networks and ip_in_networks(ip, site.excluded_networks):
            report.skipped[SkipReason.EXCLUDED_IP] += 1
            return False
        page = _page(vhost or site.domain, target, self._allowed_params)
        if page is not None and site.excluded_path_patterns and site.excludes_path(page.pathname):
            report.skipped[SkipReason.EXCLUDED_PATH] += 1
            return False
        visitor_id = _visitor_id(self._visitor_key, site.id, ip, day, user_agent)
        size_read = size_of(size)
        report.add_valid(
            (decoded, method, protocol),
            status=status,
            size=size_read,
            visitor_id=visitor_id,
            static=static,
        )
        if page is None:
            report.not_stored += 1
            return False
        client = client_of(user_agent)
        referrer_info = _referrer(referrer, page.hostname, page.source_param)
        location: Location = self._geo.locate(ip)
        timestamp = microseconds(moment)
        # The hit as the writer takes it (see ot.logimport.writer.Row): EnrichedHit's fields
        # in their order, built here as a tuple since that costs a fraction of an EnrichedHit.
        row: Row = (
            site.id,
            timestamp,
            PAGEVIEW,
            visitor_id,
            page.hostname,
            page.pathname,
            page.query,
            referrer_info.url,
            referrer_info.source,
            page.utm_source,
            page.utm_medium,
            page.utm_campaign,
            page.utm_content,
            page.utm_term,
            client.browser,
            client.browser_version,
            client.os,
            client.os_version,
            client.device,
            location.country,
            location.region,
            location.city,
            "",  # language
            "",  # screen
            {},  # props
            None,  # revenue_amount
            "",  # revenue_currency
            True,  # interactive
            # What the line is, wherever it is read from: see ot.logimport.identity.
            self._line_counts.event_id(raw.rstrip(b"\r\n"), timestamp // 1_000_000, day),
            self._ip_to_keep(ip),  # in place of ip_encrypted: the writer encrypts it
            status or None,  # http_status
            size_read,  # response_bytes
        )
        batch.append((*row, zlib.crc32(raw)) if self._with_checksums else row)
        return True

    def _show_progress(
        self,
        name: str,
        progress: FileProgress,
        cursor: _Cursor,
        size: int | None,
        *,
        finished: bool,
    ) -> None:
        if self._progress is not None:
            self._progress(name, progress.lines_read, cursor.offset, size, finished)

    def _count_stored(self, stored: int, total: int) -> None:
        self.report.imported += stored
        self.report.already_imported += total - stored

    def _ip_to_keep(self, ip: str) -> str | None:
        policy = self._site.ip_policy
        if policy is IpPolicy.NONE:
            return None
        return ip if policy is IpPolicy.FULL else truncate_ip(ip)

    def _read_line(self, source: LogSource) -> bytes:
        try:
            return source.stream.readline(MAX_LINE_BYTES)
        except GZIP_ERRORS as error:
            raise _damaged_gzip(source, error) from None

    def _skip_rest_of_line(self, source: LogSource) -> int:
        skipped = 0
        while True:
            chunk = self._read_line(source)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped

    def _skip_imported(self, source: LogSource, count: int) -> bool:
        """Move past what earlier imports read; False when the log is now shorter than that."""
        if source.can_grow:
            size = os.fstat(source.stream.fileno()).st_size
            target = count + source.stream.tell()
            if size < target:
                return False
            source.stream.seek(target)
            return True
        while count > 0:
            try:
                chunk = source.stream.read(min(count, 1 << 20))
            except GZIP_ERRORS as error:
                raise InvalidInput(f"{source.name} is not a valid gzip file ({error})") from None
            if not chunk:
                return False
            count -= len(chunk)
        return True

    async def _wait_for_more(self, source: LogSource, offset: int) -> LogSource | None:
        """Wait until the log grows; answers the new log at its path when it was rotated or
        truncated (None: it grew, or we were stopped)."""
        assert source.path is not None
        while not self._stop.is_set():
            await _sleep(self._options.poll_seconds, self._stop)
            try:
                on_disk = os.stat(source.path)
            except FileNotFoundError:
                continue  # rotated away, its successor not yet created
            current = os.fstat(source.stream.fileno())
            if current.st_size > offset:
                return None  # read what was appended, even to a log rotated away meanwhile
            if on_disk.st_ino != current.st_ino or on_disk.st_size < offset:
                try:
                    return open_source(source.name)
                except OtError:
                    continue
        return None

    async def _wait_for_first_line(self, source: LogSource) -> LogSource | None:
        while not self._stop.is_set():
            await _sleep(self._options.poll_seconds, self._stop)
            source.stream.seek(0)
            line = source.stream.readline(MAX_LINE_BYTES)
            if line.endswith(b"\n"):
                source.stream.seek(0)
                return source
        return None


def _covers(recorded: str, wanted: str) -> bool:
    """Whether lines imported with the switches `recorded` hold all those `wanted` stores."""
    return set(wanted.split(",")) <= set(recorded.split(",")) | {""}


@dataclass(slots=True)
class _Cursor:
    """How far the reading of one log has come: bytes and lines, both counted from its start."""

    offset: int
    line_number: int


def _damaged_gzip(source: LogSource, error: Exception) -> InvalidInput:
    return InvalidInput(
        f"{source.name} is not a valid gzip file ({error}); lines before the damage were imported",
        field="file",
    )


async def _sleep(seconds: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(min(0.05, seconds))


@lru_cache(maxsize=65_536)
def _requested(target: str) -> tuple[str, bool]:
    """The request as GoAccess names it (percent-decoded, trimmed), and whether it is static."""
    decoded = unquote(target).strip() if "%" in target else target.strip()
    return decoded, is_static(decoded)


@lru_cache(maxsize=65_536)
def _visitor_id(key: bytes, site_id: int, ip: str, day: date, user_agent: str) -> int:
    data = f"{site_id}\x00{day.isoformat()}\x00{ip}\x00{user_agent}".encode()
    digest = hashlib.blake2b(data, key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=16_384)
def _page(host: str, target: str, allowed_params: frozenset[str]) -> PageUrl | None:
    """The page a request was for, or None when the request names none ("-", "*")."""
    if target.startswith("/"):
        url = f"http://{host}{target}"
    elif target.startswith(("http://", "https://")):
        url = target
    else:
        return None
    try:
        return parse_page_url(url, allowed_query_params=allowed_params)
    except InvalidInput:
        return None


@lru_cache(maxsize=16_384)
def _referrer(referrer: str, page_host: str, source_param: str) -> ReferrerInfo:
    try:
        url = parse_referrer_url(referrer) if referrer else ""
    except InvalidInput:
        url = ""  # as the collector does: an unreadable referrer counts as direct
    return classify_referrer(url, page_host, source_param)
