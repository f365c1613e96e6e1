"""The writer: one task per process that commits queued hits in batches (group commit).

A handler's `write()` returns only once the transaction holding its hits is committed, so an
acknowledged hit survives what the durability mode promises (`OT_COLLECTOR__DURABILITY`: a
power cut, or a crash of `ot serve`), which is set on the engine it is given
(`ot.db.create_hit_engine`). The queue is bounded in hits: when it is full `write()` raises
`Overloaded` at once instead of letting memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot import metrics
from ot.db import checkpoint_wal
from ot.errors import Overloaded, StorageUnavailable
from ot.ingest.hit import EnrichedHit
from ot.ingest.store import store_batch
from ot.storage import StorageHealth, storage_problem

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 1.0


@dataclass(slots=True)
class _Pending:
    hits: Sequence[EnrichedHit]
    done: asyncio.Future[list[bool]]


class HitWriter:
    """Group commit on either backend, through the engine of `ot.db.create_hit_engine`: an
    async engine on PostgreSQL, or on SQLite a synchronous one used from the writer's own
    thread."""

    def __init__(
        self,
        engine: AsyncEngine | Engine,
        *,
        queue_size: int,
        batch_size: int,
        batch_wait: float,
        visit_timeout: timedelta,
        health: StorageHealth | None = None,
    ) -> None:
        self._engine = engine
        # Failing storage is logged there, once in a while, and makes the server not ready.
        self._health = health or StorageHealth()
        self._thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="hit-writer")
            if isinstance(engine, Engine)
            else None
        )
        self._capacity = queue_size
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._visit_timeout = visit_timeout
        self._pending: deque[_Pending] = deque()
        self._queued_hits = 0
        self._dropped: Counter[tuple[int, date, str]] = Counter()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hit-writer")
        if isinstance(self._engine, Engine):
            self._checkpoints = asyncio.create_task(
                self._checkpoint_regularly(self._engine), name="wal-checkpoints"
            )

    async def _checkpoint_regularly(self, engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint") as thread:
            while not self._closing:
                await asyncio.sleep(CHECKPOINT_INTERVAL_SECONDS)
                try:
                    await loop.run_in_executor(thread, checkpoint_wal, engine)
                except Exception as error:  # a busy database only postpones it
                    if (problem := storage_problem(error)) is not None:
                        self._health.failed(problem)  # a full disk: said once in a while
                    else:
                        log.warning("WAL checkpoint failed", extra={"error": type(error).__name__})

    async def write(self, hits: Sequence[EnrichedHit]) -> list[bool]:
        """Queue `hits` and wait until they are committed. For each hit: whether it was new
        (False for the retry of a hit already stored)."""
        # A handler cancelled here (its client hung up) cancels only the future: the hits stay
        # queued and are written, and the writer skips answering a future nobody waits for.
        return await self.enqueue(hits)

    def enqueue(self, hits: Sequence[EnrichedHit]) -> asyncio.Future[list[bool]]:
        """Queue `hits` now; the future is done once they are committed (see `write`).
        Raises `Overloaded` at once when the queue is full or the writer stops."""
        if self._closing:
            raise Overloaded("the collector is shutting down", retry_after=5)
        if self._queued_hits + len(hits) > self._capacity:
            raise Overloaded("the collector's write queue is full", retry_after=1)
        done: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(hits, done))
        self._queued_hits += len(hits)
        # Set on every enqueue, not once per batch: a writer stuck on a busy database shows its
        # growing queue in /metrics, and a test can see that the server holds its requests.
        metrics.queue_depth.set(self._queued_hits)
        self._wakeup.set()
        return done

    def count_dropped(self, site_id: int, day: date, reason: str) -> None:
        """Count a hit we refused to store; the counts go out with the next batch."""
        self._dropped[(site_id, day, reason)] += 1
        metrics.hits_dropped.labels(reason).inc()
        self._wakeup.set()

    async def stop(self, timeout: float) -> None:
        """Stop taking hits, commit what is queued (for at most `timeout` seconds), and end."""
        self._closing = True
        self._wakeup.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error("writer did not drain in time", extra={"queued_hits": self._queued_hits})
            self._task.cancel()
            for pending in self._pending:
                if not pending.done.done():
                    pending.done.set_exception(StorageUnavailable("the collector stopped"))
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        if self._thread is not None:
            self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending and not self._dropped:
                if self._closing:
                    return
                continue
            if self._batch_wait and self._queued_hits < self._batch_size and not self._closing:
                await asyncio.sleep(self._batch_wait)
            while self._pending or self._dropped:
                committed = await self._commit_next_batch()
                if not committed and not self._pending:
                    break  # only drop counts are left: retry them with the next hit, not in a loop
            if self._closing and not self._pending:
                return  # nothing acknowledged is waiting; unwritable drop counts do not hold us

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._pending and (
            not batch or size + len(self._pending[0].hits) <= self._batch_size
        ):
            pending = self._pending.popleft()
            batch.append(pending)
            size += len(pending.hits)
        return batch

    async def _commit_next_batch(self) -> bool:
        """Commit the next batch and answer its requests; False when the batch failed."""
        committed = True
        batch = self._take_batch()
        dropped, self._dropped = self._dropped, Counter()
        try:
            results: list[list[bool] | BaseException] = list(await self._commit(batch, dropped))
        except Exception as error:  # the writer must survive anything a batch does
            metrics.commit_failures.inc()
            committed = False
            self._dropped.update(dropped)  # counted again with the next batch
            problem = storage_problem(error)
            if problem is not None:
                # Each request alone would fail the same way: refuse them all at once.
                self._health.failed(problem)
                results = [_storage_failing() for _ in batch]
            else:
                log.error(
                    "batch commit failed",
                    extra={"error": type(error).__name__, "requests": len(batch)},
                )
                results = await self._commit_one_by_one(batch)
        else:
            self._health.succeeded()
        for pending, result in zip(batch, results, strict=True):
            self._queued_hits -= len(pending.hits)
            if pending.done.done():
                continue
            if isinstance(result, BaseException):
                pending.done.set_exception(result)
            else:
                pending.done.set_result(result)
        metrics.queue_depth.set(self._queued_hits)
        return committed

    async def _commit(
        self, batch: Sequence[_Pending], dropped: dict[tuple[int, date, str], int]
    ) -> list[list[bool]]:
        hits = [hit for pending in batch for hit in pending.hits]
        started = time.perf_counter()
        is_new = await self._store(hits, dropped)
        metrics.commit_seconds.observe(time.perf_counter() - started)
        metrics.batch_size.observe(len(hits))
        results, start = [], 0
        for pending in batch:
            results.append(is_new[start : start + len(pending.hits)])
            start += len(pending.hits)
        return results

    async def _store(
        self, hits: Sequence[EnrichedHit], dropped: dict[tuple[int, date, str], int]
    ) -> list[bool]:
        engine = self._engine
        if isinstance(engine, Engine):
            return await self._store_sqlite(engine, hits, dropped)
        async with engine.begin() as connection:
            return await connection.run_sync(
                store_batch, hits, visit_timeout=self._visit_timeout, dropped=dropped
            )

    async def _store_sqlite(
        self,
        engine: Engine,
        hits: Sequence[EnrichedHit],
        dropped: dict[tuple[int, date, str], int],
    ) -> list[bool]:
        """Waiting for the write lock and for the disk happen in the writer's thread; the
        statements run on the event loop. pysqlite gives up the GIL for every row it steps
        through, and a thread winning it back from a busy event loop waits each time: a batch
        of 100 hits took 30 ms that way."""
        loop = asyncio.get_running_loop()
        connection = engine.connect()
        try:
            transaction = await loop.run_in_executor(self._thread, connection.begin)
            try:
                is_new = store_batch(
                    connection, hits, visit_timeout=self._visit_timeout, dropped=dropped
                )
            except BaseException:
                await loop.run_in_executor(self._thread, transaction.rollback)
                raise
            await loop.run_in_executor(self._thread, transaction.commit)
            return is_new
        finally:
            connection.close()

    async def _commit_one_by_one(
        self, batch: Sequence[_Pending]
    ) -> list[list[bool] | BaseException]:
        """After a failed batch, isolate the request that broke it so the others still land."""
        results: list[list[bool] | BaseException] = []
        for pending in batch:
            try:
                results.extend(await self._commit([pending], {}))
            except Exception as error:
                metrics.commit_failures.inc()
                problem = storage_problem(error)
                if problem is not None:
                    self._health.failed(problem)
                else:
                    log.error("hit write failed", extra={"error": type(error).__name__})
                results.append(_storage_failing())
        return results


def _storage_failing() -> StorageUnavailable:
    return StorageUnavailable("the hits could not be stored; retry later")
