"""Where an import's batches go: each batch of hits and the log's new position are committed in
one transaction, strictly in the order they were read.

Small imports store their batches in this process. Once a batch fills up the import is a large
one, and from then on batches are stored by a writer process of its own, so that reading and
enriching the next batches (one core) overlaps storing this one (the other core). At most
MAX_BATCHES_IN_FLIGHT batches are sent and not yet committed, so memory stays bounded by the
batch size. The writer process is a fork of this one when this one runs a single thread (no
second interpreter to start and import into), and a new interpreter otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import utcnow
from ot.config import Settings
from ot.db import checkpoint_wal, create_hit_engine
from ot.errors import OtError
from ot.ingest.hit import EnrichedHit
from ot.ingest.store import store_batch
from ot.logimport import legacy, state
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of

T = TypeVar("T")

CHECKPOINT_EVERY_SECONDS = 5.0
GC_THRESHOLDS = (50_000, 20, 100)
MAX_BATCHES_IN_FLIGHT = 3
SQLITE_CACHE_KIB = 64 * 1024
# A hit is sent to the writer as a tuple with its time as integer microseconds since the epoch
# (pickling an aware datetime costs more than everything else in the row together), built so
# by the importer: an EnrichedHit of 32 fields, made and taken apart again, cost the importer
# more than reading its line.
_HIT_FIELDS = tuple(field.name for field in fields(EnrichedHit))
_TIMESTAMP = _HIT_FIELDS.index("timestamp")
_IP = _HIT_FIELDS.index("ip_encrypted")  # the IP to keep, in plaintext on its way
_FIELD_COUNT = len(_HIT_FIELDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_OT_ROOT = str(Path(__file__).resolve().parents[2])
_WRITER_MAIN = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from ot.logimport.writer import serve; serve(int(sys.argv[2]))"
)

# A hit on its way to the writer: EnrichedHit's fields in order, but the timestamp as integer
# microseconds since the epoch (see `microseconds`) and, for `ip_encrypted`, the IP to keep in
# plaintext (None: none), which the writer encrypts; then, only for a site that has hits with
# position-based ids, the line's CRC-32 (see ot.logimport.legacy).
Row = tuple[Any, ...]
StoredCallback = Callable[[int, int], None]  # (hits stored, hits in the batch)


class Database:
    """`store_batch` runs on a synchronous connection: stdlib sqlite3 on SQLite (as the
    collector's writer does) and asyncpg through `run_sync` on PostgreSQL; both in the
    collector's durability mode, since what they write is hits (and the log's position, which
    a lost commit takes back with its hits)."""

    def __init__(self, settings: Settings) -> None:
        self._sqlite: Engine | None = None
        self._async: AsyncEngine | None = None
        engine = create_hit_engine(settings)
        if isinstance(engine, AsyncEngine):
            self._async = engine
        else:
            self._sqlite = engine
            event.listen(self._sqlite, "connect", _larger_page_cache)
        self._last_checkpoint = time.monotonic()

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self._sqlite is not None:
            with self._sqlite.begin() as connection:
                result = work(connection)
            if time.monotonic() - self._last_checkpoint > CHECKPOINT_EVERY_SECONDS:
                # The writer engine never checkpoints inside commits (see ot.db).
                checkpoint_wal(self._sqlite)
                self._last_checkpoint = time.monotonic()
            return result
        assert self._async is not None
        async with self._async.begin() as connection:
            return await connection.run_sync(work)

    async def close(self) -> None:
        if self._sqlite is not None:
            checkpoint_wal(self._sqlite)
            self._sqlite.dispose()
        if self._async is not None:
            await self._async.dispose()

    async def disconnect(self) -> None:
        """Close the pooled connections; the next `run` opens new ones. Before a fork: a
        connection must never be used by two processes (SQLite keeps its locks per process,
        PostgreSQL a session per socket)."""
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._async is not None:
            await self._async.dispose()


def _larger_page_cache(dbapi_connection: Any, _record: Any) -> None:
    # An import writes hits by the hundred thousand; with SQLite's default 2 MiB cache the
    # index pages kept falling out of it and being read back at every batch.
    dbapi_connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")


def store(
    connection: Connection,
    hits: Sequence[EnrichedHit],
    position: state.ImportPosition,
    visit_timeout: timedelta,
    checksums: Sequence[int] | None = None,
) -> list[bool]:
    """One batch and the position after it, in the caller's transaction. With `checksums` (the
    lines' CRC-32s), hits already stored under position-based ids are left out."""
    if checksums is None:
        is_new = store_batch(connection, hits, visit_timeout=visit_timeout)
    else:
        stored = legacy.stored_before(connection, hits, checksums)
        new = store_batch(
            connection,
            [hit for hit, known in zip(hits, stored, strict=True) if not known],
            visit_timeout=visit_timeout,
        )
        answers = iter(new)
        is_new = [False if known else next(answers) for known in stored]
    state.save(connection, position, utcnow())
    return is_new


class IpSealer:
    """Turns rows into hits, encrypting the IP kept with each. The writer does it, not the
    reader of the log: the reader is the import's busier process when (as by default) most
    lines are skipped."""

    def __init__(self, settings: Settings, context: str) -> None:
        self._cipher = Cipher(load_secrets_of(settings))
        self._context = context

    def hit(self, row: Row) -> EnrichedHit:
        values = list(row[:_FIELD_COUNT])
        values[_TIMESTAMP] = _EPOCH + timedelta(microseconds=values[_TIMESTAMP])
        ip = values[_IP]
        if ip is not None:
            values[_IP] = self._cipher.encrypt(ip, context=self._context)
        return EnrichedHit(*values)


def microseconds(moment: datetime) -> int:
    """A row's timestamp: an aware datetime as integer microseconds since the epoch."""
    return (moment - _EPOCH) // _MICROSECOND


class BatchWriter:
    """Stores an import's batches in order (see the module's docstring); `on_stored` hears how
    many hits of each batch were new. Errors of the writer process are raised here."""

    def __init__(
        self,
        settings: Settings,
        visit_timeout: timedelta,
        on_stored: StoredCallback,
        *,
        ip_context: str,
    ) -> None:
        self._settings = settings
        self._visit_timeout = visit_timeout
        self._on_stored = on_stored
        self._ip_context = ip_context
        self._sealer = IpSealer(settings, ip_context)
        self._database = Database(settings)
        self._process: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._pipe: Pipe | None = None
        self._pending = 0  # batches sent to the writer process and not yet answered

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction of its own, after every batch sent before it."""
        await self.drain()
        return await self._database.run(work)

    async def store(self, rows: list[Row], position: state.ImportPosition, *, full: bool) -> None:
        """Store a batch (`full`: it reached the batch size) and the position after it."""
        if self._pipe is None and full:
            await self._start_process()
        if self._pipe is None:
            is_new = await self._database.run(
                _store_rows(rows, position, self._visit_timeout, self._sealer)
            )
            self._on_stored(sum(is_new), len(is_new))
            return
        # The bound on memory: at most this many batches sent and not yet committed.
        while self._pending >= MAX_BATCHES_IN_FLIGHT or (self._pending and self._pipe.poll()):
            self._receive()
        self._pipe.send((rows, position))
        self._pending += 1

    async def drain(self) -> None:
        """Wait until every batch sent so far is committed."""
        while self._pending:
            self._receive()

    async def close(self) -> None:
        """Drain and stop the writer process. Safe to call after an error."""
        try:
            if self._pipe is not None:
                try:
                    await self.drain()
                finally:
                    self._stop_process()
        finally:
            await self._database.close()

    async def _start_process(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            if threading.active_count() == 1:
                # A fork saves the second of CPU a new interpreter spends on its imports. Only
                # in a single thread: another thread may hold a lock the child would then wait
                # for forever (Python 3.12 warns of such forks). The child uses none of our
                # connections, event loop or open files, and never returns into our code.
                await self._database.disconnect()
                self._process = fork_writer(theirs.fileno(), ours)
            else:
                self._process = _spawn_writer(theirs.fileno())
        self._pipe = Pipe(ours.detach())
        self._pipe.send((self._settings, self._visit_timeout, self._ip_context))

    def _receive(self) -> None:
        assert self._pipe is not None
        try:
            answer = self._pipe.recv()
        except EOFError:
            self._pending = 0
            raise OtError("the import's writer process stopped unexpectedly") from None
        self._pending -= 1
        if isinstance(answer, BaseException):
            self._pending = 0
            raise answer
        self._on_stored(*answer)

    def _stop_process(self) -> None:
        assert self._pipe is not None and self._process is not None
        with contextlib.suppress(OSError):  # it may be gone already
            self._pipe.send(None)
        self._pipe.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()  # its open transaction is rolled back
            self._process.wait()
        self._pipe = None


def _spawn_writer(descriptor: int) -> subprocess.Popen[bytes]:
    # A new interpreter running this module, not multiprocessing's spawn (which runs the
    # caller's main module again: a script without a __main__ guard would import twice). -P
    # and the folder this `ot` came from: the same code as ours whatever the current folder
    # holds (with `-m`, an `ot` folder there would be imported instead).
    return subprocess.Popen(
        [sys.executable, "-P", "-c", _WRITER_MAIN, _OT_ROOT, str(descriptor)],
        pass_fds=(descriptor,),
        stdin=subprocess.DEVNULL,
    )


class ForkedProcess:
    """A forked child process, waited for and killed as a `subprocess.Popen` is."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"writer process {self.pid}", timeout or 0)
            time.sleep(0.01)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


def fork_writer(descriptor: int, parent_end: socket.socket) -> ForkedProcess:
    """Fork the writer process, which serves the socket `descriptor` (see `serve`) and exits;
    `parent_end` is the importer's end, closed in the child so that it sees the importer go."""
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    status = 1
    try:
        parent_end.close()
        # asyncio knows the importer's event loop belongs to the parent: serve() may run its own.
        serve(descriptor)
        status = 0
    except BaseException:
        traceback.print_exc()  # as a new interpreter would; the importer reports it stopped
    finally:
        # Never back into the importer's code, nor its exit handlers and finalizers, which
        # would close what the parent still uses.
        os._exit(status)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage rarely while importing. Every line allocates short-lived objects while
    the figures, caches and batch live on; with the default thresholds the collector kept
    walking them, 6 % of the time when pages are stored and 13 % when every line is."""
    thresholds = gc.get_threshold()
    gc.freeze()  # what exists before the import (modules, parsers) lives as long as it
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def serve(descriptor: int) -> None:
    """The writer process: stores each batch sent over the socket `descriptor` and answers
    (stored, total) for each, until told to stop or the importer is gone."""
    # Ctrl-C reaches every process of the terminal; the importer stops us once it has sent
    # what it read, so a batch is never cut short here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pipe = Pipe(descriptor)
    try:
        settings, visit_timeout, ip_context = pipe.recv()
    except EOFError:
        return
    with fewer_collections():
        asyncio.run(_serve_batches(settings, visit_timeout, IpSealer(settings, ip_context), pipe))


async def _serve_batches(
    settings: Settings, visit_timeout: timedelta, sealer: IpSealer, pipe: Pipe
) -> None:
    # Batches are read as soon as they come, by a thread of their own: otherwise the importer
    # would wait for each commit before it could send the next batch, and on a busy machine
    # the two processes kept waiting for each other (the importer sends at most
    # MAX_BATCHES_IN_FLIGHT before it waits for answers).
    received: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_receive_batches, args=(pipe, received), daemon=True).start()
    database = Database(settings)
    try:
        while True:
            data = received.get()
            message = None if data is None else pickle.loads(data)
            if message is None:
                return  # told to stop, or the importer is gone
            rows, position = message
            try:
                is_new = await database.run(_store_rows(rows, position, visit_timeout, sealer))
            except Exception as error:  # the importer raises it
                pipe.send(_picklable(error))
                return
            pipe.send((sum(is_new), len(is_new)))
    finally:
        await database.close()


def _receive_batches(pipe: Pipe, received: queue.SimpleQueue[bytes | None]) -> None:
    try:
        while True:
            received.put(pipe.recv_bytes())
    except (EOFError, OSError):
        received.put(None)


def _store_rows(
    rows: list[Row], position: state.ImportPosition, visit_timeout: timedelta, sealer: IpSealer
) -> Callable[[Connection], list[bool]]:
    hits = [sealer.hit(row) for row in rows]
    checksums = (
        [row[_FIELD_COUNT] for row in rows] if rows and len(rows[0]) > _FIELD_COUNT else None
    )
    return lambda connection: store(connection, hits, position, visit_timeout, checksums)


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # some driver errors do not survive pickling
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
