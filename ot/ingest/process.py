"""The collector in a process of its own (`OT_COLLECTOR__OWN_PROCESS`, the default): the server's
event loop parses requests and answers them, a second process enriches, stores and commits their
hits (`ot.ingest.service`), and the two share two cores. A request's hits cross a Unix socket and
its answer comes back once they are committed: an answer still means a committed hit.

Messages are pickled and framed by their length. The server sends each request at once: holding
them for one write per turn of its busy event loop cost a turn each way and a third of the rate
(tried twice; the second time, with the answers below, a tenth). The collector process sends the
answers of the requests committed together in one write. A request and its answer cross as
tuples of plain values (`_request_message`, `_answer_message`): pickle looks up the class of
every object it writes, and a request with one hit cost 22 µs to pickle and 12 µs to unpickle
that way, against 4 and 5 as plain values.

The process lives as long as its socket: when the server closes its end (after its last
request) or dies (even by kill -9), the process commits and answers what it was given, then
exits. It ignores SIGINT and SIGTERM, which a terminal or systemd send the whole group: the server
stops it, in order. If it dies, the server answers 503 with Retry-After until a new one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ot import metrics
from ot.config import Settings
from ot.errors import OtError, StorageUnavailable
from ot.ingest.collector import Collector, Outcome, Storing
from ot.ingest.hit import IncomingHit
from ot.ingest.service import running_collector
from ot.logs import configure_logging
from ot.storage import StorageHealth, storage_problem
from ot.tuning import settle_garbage_collector, share_the_gil_often

log = logging.getLogger(__name__)

_FRAME = struct.Struct(">I")  # each message's length in bytes
# What the collector process says: it is ready; it cannot start (and why); a request's outcome;
# a request refused (an OtError); a request failed (a bug, logged there); how its writes fare
# (`StorageHealth`).
READY, UNABLE, ANSWER, REFUSAL, FAILURE, HEALTH = (
    "ready",
    "unable",
    "answer",
    "refusal",
    "failure",
    "health",
)
# Python starting and importing the collector takes a second or two, more on a loaded machine;
# past this, something holds it and the server says so rather than wait forever.
START_TIMEOUT_SECONDS = 60.0
FIRST_RESTART_DELAY_SECONDS = 0.5
LAST_RESTART_DELAY_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0  # past the shutdown timeout, before a process that will not end is killed


class _Messages(asyncio.Protocol):
    """Pickled messages over a Unix socket, each framed by its length, each handed to
    `on_message` as soon as it is whole (no task or future per message: on the server's busy
    loop, asyncio's streams cost a fifth of a hit's time)."""

    def __init__(
        self, on_message: Callable[[Any], None], on_end: Callable[[], None] | None
    ) -> None:
        self._on_message = on_message
        # Told when the other end sends nothing more, and it may still read: the socket stays
        # open for answers. Without it the socket closes then.
        self._on_end = on_end
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def over(
        cls,
        sock: socket.socket,
        on_message: Callable[[Any], None],
        on_end: Callable[[], None] | None = None,
    ) -> _Messages:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_unix_connection(lambda: cls(on_message, on_end), sock=sock)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= _FRAME.size:
            (length,) = _FRAME.unpack_from(buffer, start)
            end = start + _FRAME.size + length
            if len(buffer) < end:
                break
            message = pickle.loads(buffer[start + _FRAME.size : end])
            start = end
            self._on_message(message)
        del buffer[:start]

    def eof_received(self) -> bool:
        if self._on_end is None:
            return False
        self._ended()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        # A peer killed outright may reset the connection rather than end it.
        self._ended()
        if not self.closed.done():
            self.closed.set_result(None)

    def _ended(self) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, message: object) -> None:
        """Send `message`; nothing if the other end is gone (its answers go nowhere: asyncio
        would warn at every one)."""
        self.send_all([message])

    def send_all(self, messages: Sequence[object]) -> None:
        """Send `messages` in one write (one system call, one wake-up of the other end)."""
        if not self.is_open or not messages:
            return
        assert self._transport is not None
        frames: list[bytes] = []
        for message in messages:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            frames += (_FRAME.pack(len(data)), data)
        self._transport.write(b"".join(frames))

    def end_sending(self) -> None:
        """Tell the other end nothing more is coming; its messages can still arrive."""
        if self.is_open:
            assert self._transport is not None
            self._transport.write_eof()

    def close(self) -> None:
        assert self._transport is not None
        self._transport.close()


class CollectorProcess:
    """The server's side: `collect` as `Collector.collect`, answered by the collector process.
    It starts one with `start`, starts another if it dies, and stops it with `stop`."""

    def __init__(self, settings: Settings, health: StorageHealth) -> None:
        self._settings = settings
        self._health = health  # the process's writes are reported here (for /readyz)
        self._process: asyncio.subprocess.Process | None = None
        self._messages: _Messages | None = None  # None while no process answers
        self._ready: asyncio.Future[None] | None = None
        self._unable: str | None = None  # why the last process could not start, as it said
        self._waiting: dict[int, asyncio.Future[Outcome]] = {}
        self._last_request = 0
        self._stopping = False
        self._watching: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The process that answers now (None between two)."""
        process = self._process
        return process.pid if process is not None and self._messages is not None else None

    async def start(self) -> None:
        """Start the process and wait until it is ready; raises StorageUnavailable if it
        cannot start (its log says why)."""
        await self._spawn()
        self._watching = asyncio.create_task(self._watch(), name="collector-process")

    async def collect(
        self,
        incomings: Sequence[IncomingHit],
        *,
        endpoint: str,
        now: datetime,
        partial: bool = False,
    ) -> Outcome:
        messages = self._messages
        if messages is None or not messages.is_open:
            raise StorageUnavailable("the collector is restarting; retry later")
        self._last_request += 1
        request = self._last_request
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        messages.send(_request_message(request, incomings, endpoint, now, partial))
        # A handler cancelled here (its client hung up) cancels only the future: the hits are
        # committed all the same and the answer is dropped.
        return await future

    async def stop(self, timeout: float) -> None:
        """Let the process commit and answer what it holds (for about `timeout` seconds), and
        wait for it to end."""
        self._stopping = True
        watching, messages = self._watching, self._messages
        if watching is None:
            return
        if messages is None:  # between two processes
            watching.cancel()
        else:
            messages.end_sending()
        try:
            await asyncio.wait_for(asyncio.shield(watching), timeout + STOP_GRACE_SECONDS)
        except TimeoutError:
            log.error("the collector process did not stop in time: killed")
            watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        self._fail_waiting()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            try:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    __name__,
                    str(theirs.fileno()),
                    pass_fds=(theirs.fileno(),),
                )
            except OSError:
                ours.close()
                raise
        self._ready = asyncio.get_running_loop().create_future()
        self._unable = None
        messages = await _Messages.over(ours, self._on_message)
        messages.send(self._settings)
        await asyncio.wait(
            [self._ready, messages.closed],
            timeout=START_TIMEOUT_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not self._ready.done():
            held = not messages.closed.done()  # neither ready nor gone in time
            messages.close()
            if held:
                self._process.kill()
                self._unable = f"it was not ready within {START_TIMEOUT_SECONDS:g} s (stopped)"
            code = await self._process.wait()
            why = self._unable or f"it ended with exit code {code}; its log says why"
            raise StorageUnavailable(f"the collector process could not start: {why}")
        self._messages = messages

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == READY:
            assert self._ready is not None
            self._ready.set_result(None)
            return
        if kind == HEALTH:
            self._health.reported(message[1])
            return
        if kind == UNABLE:
            self._unable = message[1]
            return
        future = self._waiting.pop(message[1], None)
        if future is None or future.done():
            return
        if kind == ANSWER:
            future.set_result(Outcome(*message[2:]))
        elif kind == REFUSAL:
            future.set_exception(message[2])
        else:
            future.set_exception(RuntimeError(f"the collector process failed: {message[2]}"))

    async def _watch(self) -> None:
        """When the process ends, fail the requests it held and, unless stopping, start
        another."""
        delay = FIRST_RESTART_DELAY_SECONDS
        while True:
            messages, process = self._messages, self._process
            assert messages is not None and process is not None
            await messages.closed
            self._messages = None
            self._fail_waiting()
            code = await process.wait()
            metrics.process_ended(process.pid)
            if self._stopping:
                return
            log.error("the collector process ended: starting another", extra={"exitcode": code})
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._spawn()
                except StorageUnavailable as error:
                    log.error(error.message)
                    delay = min(2 * delay, LAST_RESTART_DELAY_SECONDS)
                except OSError as error:  # no process could be made: out of memory, of pids
                    log.error(f"the collector process could not be started: {error}")
                    delay = min(2 * delay, LAST_RESTART_DELAY_SECONDS)
                else:
                    delay = FIRST_RESTART_DELAY_SECONDS
                    break

    def _fail_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(
                    StorageUnavailable("the collector stopped before committing; retry later")
                )


def main() -> None:
    # The server stops this process, in order, by closing the socket (see the module's text).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_serve(socket.socket(fileno=int(sys.argv[1]))))


class _Requests:
    """The collector process's side: the requests that arrive together (in one read of the
    socket) are collected by one task, each answered once committed, and the answers of those
    committed together are sent in one write; until the server sends nothing more. A task and
    a write per request cost this process about a tenth more CPU a hit."""

    def __init__(self) -> None:
        self.settings: asyncio.Future[Settings] = asyncio.get_running_loop().create_future()
        self.ended = asyncio.Event()  # the server sends nothing more
        self._collector: Collector | None = None
        self._messages: _Messages | None = None
        self._arrived: list[_Request] = []  # for the task that starts next
        self._in_hand: set[asyncio.Task[None]] = set()

    def serve(self, collector: Collector, messages: _Messages) -> None:
        self._collector, self._messages = collector, messages

    @property
    def serving(self) -> bool:
        return self._collector is not None

    def on_message(self, message: Any) -> None:
        if not self.settings.done():
            self.settings.set_result(message)
            return
        request, hits, endpoint, now, partial = message
        incomings = [IncomingHit(*values) for values in hits]
        self._arrived.append(_Request(request, incomings, endpoint, _time_of(now), partial))
        if len(self._arrived) == 1:  # the first since the last task started: start one
            task = asyncio.create_task(self._answer_arrived())
            self._in_hand.add(task)
            task.add_done_callback(self._in_hand.discard)

    async def finish(self) -> None:
        """Wait until the server sends nothing more, then until every request is answered."""
        await self.ended.wait()
        while self._in_hand:
            await asyncio.wait(set(self._in_hand))

    async def _answer_arrived(self) -> None:
        """Queue the hits of every request arrived so far, in order, then answer each once
        committed."""
        collector, messages = self._collector, self._messages
        assert collector is not None and messages is not None
        arrived, self._arrived = self._arrived, []
        started: list[tuple[int, Storing]] = []
        for each in arrived:
            try:
                storing = await collector.start_collecting(
                    each.incomings, endpoint=each.endpoint, now=each.now, partial=each.partial
                )
            except Exception as error:
                messages.send(_refusal_message(each.request, error))
            else:
                if storing.committed is None:  # nothing to store (all dropped): answered now
                    messages.send(_answer_message(each.request, await storing.finished()))
                else:
                    started.append((each.request, storing))
        # The answers of requests committed together go out together; those committed later
        # wait for nothing else.
        answers: list[tuple[Any, ...]] = []
        for request, storing in started:
            if answers and not (storing.committed and storing.committed.done()):
                messages.send_all(answers)
                answers = []
            try:
                outcome = await storing.finished()
            except Exception as error:
                answers.append(_refusal_message(request, error))
            else:
                answers.append(_answer_message(request, outcome))
        messages.send_all(answers)


@dataclass(slots=True)
class _Request:
    request: int
    incomings: list[IncomingHit]
    endpoint: str
    now: datetime
    partial: bool


def _refusal_message(request: int, error: Exception) -> tuple[Any, ...]:
    """An `OtError` crosses as it is (the server answers it); anything else is a bug, said
    here and answered there as one (500)."""
    if isinstance(error, OtError):
        return REFUSAL, request, error
    log.error("collecting a request's hits failed", exc_info=error)
    return FAILURE, request, type(error).__name__


def _request_message(
    request: int, incomings: Sequence[IncomingHit], endpoint: str, now: datetime, partial: bool
) -> tuple[Any, ...]:
    """A request as it crosses to the collector process: plain values only (see the module's
    text); `now` in microseconds since the epoch, exactly."""
    hits = [incoming.as_values() for incoming in incomings]
    return request, hits, endpoint, (now - _EPOCH) // _MICROSECOND, partial


def _time_of(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _answer_message(request: int, outcome: Outcome) -> tuple[Any, ...]:
    """A request's outcome as it crosses back: `Outcome(*message[2:])` rebuilds it."""
    return ANSWER, request, outcome.stored, outcome.duplicates, outcome.dropped, outcome.refused


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


async def _serve(sock: socket.socket) -> None:
    requests = _Requests()
    messages = await _Messages.over(sock, requests.on_message, requests.ended.set)
    await asyncio.wait([requests.settings, messages.closed], return_when=asyncio.FIRST_COMPLETED)
    if not requests.settings.done():
        return  # the server ended before it said anything
    settings = requests.settings.result()
    configure_logging(settings.log)
    share_the_gil_often()
    health = StorageHealth(on_report=lambda problem: messages.send((HEALTH, problem)))
    try:
        async with running_collector(settings, health=health) as collector:
            requests.serve(collector, messages)
            settle_garbage_collector()
            messages.send((READY,))
            await requests.finish()
    except Exception as error:
        # What keeps it from starting (a GeoIP file it cannot read, a database it cannot
        # open) is the server's to say, in one line: it cannot start without this process.
        why = error.message if isinstance(error, OtError) else storage_problem(error)
        if requests.serving or why is None:
            raise
        messages.send((UNABLE, why))
    finally:
        messages.close()


if __name__ == "__main__":
    main()
