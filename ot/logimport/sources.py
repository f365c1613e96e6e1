"""Opening the logs to import: plain files, gzip files and standard input, each recognised by its
first line so that a later import of the same log can continue where this one stops."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ot.errors import InvalidInput

STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
# The first line identifies a log; a longer one is cut here (it is still read whole later).
IDENTITY_BYTES = 4096
# Errors of a damaged or truncated gzip stream, raised while reading.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@dataclass
class LogSource:
    """One log given on the command line, opened."""

    name: str  # as given: a path or "-"
    stream: BinaryIO
    path: Path | None  # None for standard input
    compressed: bool
    file: BinaryIO | None = None  # the file under a gzip stream, closed with it

    @property
    def can_grow(self) -> bool:
        """A plain file may still be written to: its unterminated last line is left for the next
        import, and --follow can wait for more."""
        return self.path is not None and not self.compressed

    def close(self) -> None:
        if self.path is not None:
            self.stream.close()
            if self.file is not None:
                self.file.close()


def open_source(name: str) -> LogSource:
    """Open a log for reading; a missing, unreadable or falsely named .gz file is refused here,
    before anything is imported."""
    if name == STDIN:
        raw = sys.stdin.buffer
        peeked = _peek(raw)
        compressed = peeked.startswith(GZIP_MAGIC)
        stream: BinaryIO = raw
        if compressed:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        return LogSource(name, stream, None, compressed)
    path = Path(name)
    try:
        if path.is_dir():
            raise InvalidInput(f"{name} is a directory, not a log file", field="file")
        handle = path.open("rb")
    except FileNotFoundError:
        raise InvalidInput(f"{name}: no such file", field="file") from None
    except PermissionError:
        raise InvalidInput(f"{name}: permission denied", field="file") from None
    except OSError as error:
        raise InvalidInput(f"{name}: cannot be read ({error.strerror})", field="file") from None
    magic = handle.read(2)
    handle.seek(0)
    if name.endswith(".gz"):
        if magic != GZIP_MAGIC:
            handle.close()
            raise InvalidInput(f"{name} is named .gz but is not a gzip file", field="file")
        stream = gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[assignment]
        return LogSource(name, stream, path, True, file=handle)
    return LogSource(name, handle, path, False)


def _peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    return bytes(peek(2)[:2]) if peek is not None else b""


def identity_of(site_id: int, name: str) -> str | None:
    """The identity of the log `name` (see `file_identity`); None while it has no line."""
    source = open_source(name)
    try:
        first = source.stream.readline(IDENTITY_BYTES)
    except GZIP_ERRORS as error:
        raise InvalidInput(f"{name} is not a valid gzip file ({error})", field="file") from None
    finally:
        source.close()
    unfinished = len(first) < IDENTITY_BYTES and not first.endswith(b"\n")
    if not first or (unfinished and source.can_grow):
        return None  # an import leaves a first line still being written for later too
    return file_identity(site_id, first)


def file_identity(site_id: int, first_line: bytes) -> str:
    """The identity of a log for a site: a hash of its first line, which rotation does not
    carry over to the next file but appending never changes."""
    digest = hashlib.sha256(f"{site_id}\x00".encode() + first_line[:IDENTITY_BYTES])
    return digest.hexdigest()[:32]


def file_size(source: LogSource) -> int | None:
    """Bytes to read in all, when that is known (for a progress bar)."""
    if source.path is None or source.compressed:
        return None
    try:
        return os.fstat(source.stream.fileno()).st_size
    except (OSError, io.UnsupportedOperation):
        return None
