"""Stats queries answered in processes of their own, so that no query, however heavy, runs on
the event loop the collector shares: a query's Python work (building hundreds of thousands of
rows, merging bitmaps, ordering) would otherwise stall every request of the server for as long.

Each query process has its own database engine whose statements stop at the query's deadline
(`ot.stats.budget`); a process still busy a little after it (Python work past the budget) is
killed and replaced. Processes are forked from a fork server that has the stats modules
loaded, when first needed, and end with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ot.config import Settings
from ot.db import create_engine
from ot.errors import OtError, Overloaded
from ot.logs import configure_logging
from ot.models import Site
from ot.stats.budget import budget, enforce_deadline, too_slow
from ot.stats.engine import QueryResult, run_query
from ot.stats.query import Query
from ot.storage import StorageFailed, storage_problem

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Job = Callable[Concatenate[AsyncEngine, P], Awaitable[T]]

# After its budget a query's statements are stopped; its process gets this much longer to
# answer (the answer crosses a pipe, a stopped statement unwinds) before it is killed.
GRACE_SECONDS = 2.0
STOP_SECONDS = 5.0  # how long a process may take to end once told to
_CONTEXT = multiprocessing.get_context("forkserver")
# The fork server imports these once; each query process is a fork of it, ready at once.
_CONTEXT.set_forkserver_preload(["ot.stats.processes", "ot.grants.reads"])


async def answer_query(
    engine: AsyncEngine, site: Site, query: Query, *, now: datetime
) -> QueryResult:
    """`run_query` on a connection of `engine`: the job the Stats API hands a query process."""
    async with engine.connect() as connection:
        return await run_query(connection, site, query, now=now)


async def answer_here(
    settings: Settings, site: Site, query: Query, *, now: datetime
) -> QueryResult:
    """Answer a query in this process, within the time budget: for `ot-admin`, which runs one
    query and has no collector to keep responsive."""
    engine = create_engine(settings)
    deadline = enforce_deadline(engine)
    try:
        async with budget(deadline, settings.stats.query_timeout_seconds):
            return await answer_query(engine, site, query, now=now)
    finally:
        await engine.dispose()


class QueryProcesses:
    """Up to `processes` query processes; `call` runs a job in one of them and waits for it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._size = settings.stats.query_processes
        self._budget = settings.stats.query_timeout_seconds
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._started = 0
        self._closing = False
        # Waiting for an answer blocks a thread, one per process at most.
        self._threads = ThreadPoolExecutor(self._size, thread_name_prefix="stats-answers")

    async def call(self, job: Job[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`await job(engine, *args, **kwargs)` in a query process, within the time budget.
        Raises what the job raised (domain errors as they are), QueryTooSlow past the budget,
        Overloaded when every process stayed busy for a whole budget."""
        worker = await self._worker()
        answer = asyncio.get_running_loop().run_in_executor(
            self._threads, worker.ask, (job, args, kwargs, self._budget)
        )
        try:
            succeeded, value = await asyncio.wait_for(
                asyncio.shield(answer), self._budget + GRACE_SECONDS
            )
        except TimeoutError:
            # Its statements were stopped at the deadline, so Python work (or a database that
            # did not stop) holds it: end it; another process is started when needed.
            log.warning("stats query process killed past its budget", extra={"pid": worker.pid})
            answer.add_done_callback(_ignore_outcome)  # the pipe closes under the waiting thread
            self._started -= 1
            await asyncio.to_thread(worker.kill)
            raise too_slow(self._budget) from None
        except asyncio.CancelledError:
            # The caller left (its client hung up): the process is free once it has answered.
            answer.add_done_callback(lambda done: self._release(worker, done))
            raise
        except (EOFError, OSError):
            # The process died (killed from outside, out of memory): the next call starts another.
            self._started -= 1
            raise Overloaded(
                "the stats query could not be answered: retry", retry_after=1
            ) from None
        self._release(worker)
        if isinstance(value, _Failure):
            raise value.error()
        if not succeeded:
            raise value
        result: T = value
        return result

    async def close(self) -> None:
        """End every query process (each finishes the query it is answering, or is killed)."""
        self._closing = True
        workers = []
        while not self._idle.empty():
            workers.append(self._idle.get_nowait())
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in workers))
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _worker(self) -> _Worker:
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            if worker.alive():
                return worker
            self._started -= 1  # it died idle (killed from outside): start another
        if self._started < self._size:
            self._started += 1
            try:
                return await asyncio.to_thread(_Worker.start, self._settings)
            except BaseException:
                self._started -= 1
                raise
        try:
            return await asyncio.wait_for(self._idle.get(), self._budget)
        except TimeoutError:
            raise Overloaded(
                "every stats query process stayed busy: retry in a few seconds",
                retry_after=max(1, round(self._budget)),
            ) from None

    def _release(self, worker: _Worker, answer: asyncio.Future[Any] | None = None) -> None:
        if answer is not None:
            _ignore_outcome(answer)
        if self._closing:
            worker.stop_soon()
        elif worker.alive():
            self._idle.put_nowait(worker)
        else:
            self._started -= 1


def _ignore_outcome(answer: asyncio.Future[Any]) -> None:
    """Retrieve an answer nobody waits for any more, so asyncio does not report it."""
    if not answer.cancelled():
        answer.exception()


@dataclass(frozen=True)
class _Failure:
    """An unexpected error of a job, as the query process reports it: failing storage (its
    cause in words) or a bug (logged there)."""

    storage_problem: str | None

    def error(self) -> Exception:
        if self.storage_problem is not None:
            return StorageFailed(self.storage_problem)
        return RuntimeError("a stats query failed in its process (its log says why)")


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @classmethod
    def start(cls, settings: Settings) -> _Worker:
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_serve_queries, args=(theirs, settings), name="ot-stats-query", daemon=True
        )
        process.start()
        theirs.close()
        return cls(process, ours)

    def ask(self, message: tuple[Any, ...]) -> tuple[bool, Any]:
        """Send a job and wait for its answer (in a thread: both may block)."""
        self.connection.send(message)
        answer: tuple[bool, Any] = self.connection.recv()
        return answer

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()
        self.connection.close()
        self.process.join(STOP_SECONDS)

    def stop(self) -> None:
        self.connection.close()  # the process sees the end of its pipe and ends
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_SECONDS)

    def stop_soon(self) -> None:
        self.connection.close()


def _serve_queries(connection: Connection, settings: Settings) -> None:
    """A query process: answer jobs, one at a time, until the server closes the pipe."""
    # Ctrl-C reaches the whole process group: the server decides when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log)
    loop = asyncio.new_event_loop()
    engine = create_engine(settings)
    deadline = enforce_deadline(engine)

    async def within_budget(job: Awaitable[Any], seconds: float) -> Any:
        async with budget(deadline, seconds):
            return await job

    try:
        while True:
            try:
                job, args, kwargs, seconds = connection.recv()
            except (EOFError, OSError):
                return
            try:
                value = loop.run_until_complete(
                    within_budget(job(engine, *args, **kwargs), seconds)
                )
                answer: tuple[bool, Any] = (True, value)
            except OtError as error:
                answer = (False, error)
            except Exception as error:
                # Database errors do not all cross a pipe: send what the server needs to know.
                problem = storage_problem(error)
                if problem is None:
                    log.exception("stats query failed")
                answer = (False, _Failure(problem))
            try:
                connection.send(answer)
            except (EOFError, OSError):
                return
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(engine.dispose())
        loop.close()
