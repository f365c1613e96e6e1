"""The app's stats queries go to the server together (`StatsBatches`).

A dashboard asks a dozen small queries whenever its view changes, each from its panel's worker.
Sent one request each, they cost the server a dozen authentications and site look-ups, and the
app a dozen round trips in waves (it kept a few in flight at a time, or a large site's server
refused those that waited too long for a query process). Now the queries asked before the app's
event loop turns again go in one request (`OtClient.query_many`): the server answers them as
many at a time as it has query processes, and each answer reaches its panel as soon as it is
ready. A query refused alone fails alone; a request that fails fails each of its queries.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable

from ot.api.stats import MAX_QUERIES_AT_ONCE, QueryAnswer, StatsQuery
from ot.client import ClientError

Send = Callable[[list[StatsQuery]], AsyncIterator[tuple[int, QueryAnswer | ClientError]]]
_Asked = tuple[StatsQuery, "asyncio.Future[QueryAnswer]"]


class StatsBatches:
    """`await batches.ask(query)` from anywhere in the app: the query goes out with the others
    asked in the same turn of the event loop, through `send` (`OtClient.query_many`)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._asked: list[_Asked] = []
        self._sending: set[asyncio.Task[None]] = set()  # kept: asyncio holds tasks weakly
        self.requests = 0  # how many requests went out (for tests and benchmarks)

    async def ask(self, query: StatsQuery) -> QueryAnswer:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[QueryAnswer] = loop.create_future()
        if not self._asked:
            # After the callbacks already due, such as the other panels' workers starting.
            loop.call_soon(self._send_asked)
        self._asked.append((query, answer))
        return await answer

    def _send_asked(self) -> None:
        asked, self._asked = self._asked, []
        live = [item for item in asked if not item[1].done()]  # a cancelled asker left
        for start in range(0, len(live), MAX_QUERIES_AT_ONCE):
            batch = live[start : start + MAX_QUERIES_AT_ONCE]
            task = asyncio.create_task(self._answer(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            for _, answer in batch:
                # Once no asker waits any more (the view changed), the rest is not needed: the
                # request is closed and the server stops its queries.
                answer.add_done_callback(functools.partial(_stop_if_unwanted, batch, task))

    async def _answer(self, batch: list[_Asked]) -> None:
        self.requests += 1
        try:
            async for index, outcome in self._send([query for query, _ in batch]):
                answer = batch[index][1]
                if answer.done():
                    continue
                if isinstance(outcome, ClientError):
                    answer.set_exception(outcome)
                else:
                    answer.set_result(outcome)
        except ClientError as error:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
        finally:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(ClientError("the server's answer left this query out"))


def _stop_if_unwanted(batch: list[_Asked], task: asyncio.Task[None], _: object) -> None:
    if all(answer.done() for _, answer in batch):
        task.cancel()
