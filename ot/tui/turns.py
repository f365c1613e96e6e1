"""How many stats queries the app has in flight at once (`StatsTurns`).

A dashboard asks a dozen small queries whenever its view changes. Sent a few at a time, they
queue in the app and go out in waves, each wave a round trip: the more go out at once, the
sooner the screen is complete. But on a large site a filtered query keeps one of the server's
query processes busy for seconds, and the server refuses (503) a query that waits for a process
longer than its time budget. So the app starts cautiously: with no query out, nothing says how
heavy the next ones are, and four go out; once an answer came back quickly, eight; after a slow
one (or a refusal), four again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

QUICK_TURNS = 8  # in flight at once while answers are quick
SLOW_TURNS = 4  # once an answer was slow: the server's two query processes, twice over
SLOW_ANSWER_SECONDS = 1.0


class StatsTurns:
    """Turns for stats queries: `async with turns.take():` around each one. It allows
    SLOW_TURNS at once when queries start going out (none was out), QUICK_TURNS once one was
    answered in less than SLOW_ANSWER_SECONDS, and SLOW_TURNS again after an answer that took
    longer (or a refusal)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._in_flight = 0
        self.at_once = SLOW_TURNS
        self._waiting: list[asyncio.Future[None]] = []

    @asynccontextmanager
    async def take(self) -> AsyncIterator[None]:
        if self._in_flight == 0:
            self.at_once = SLOW_TURNS  # a new burst: its weight is not known yet
        while self._in_flight >= self.at_once:
            freed = asyncio.get_running_loop().create_future()
            self._waiting.append(freed)
            try:
                await freed
            finally:
                if freed in self._waiting:
                    self._waiting.remove(freed)
        self._in_flight += 1
        started = self._clock()
        try:
            yield
        except asyncio.CancelledError:
            raise  # left unanswered: says nothing of the server (which may still be at it)
        except Exception:
            self.at_once = SLOW_TURNS  # refused or failed: perhaps busy
            raise
        else:
            slow = self._clock() - started >= SLOW_ANSWER_SECONDS
            self.at_once = SLOW_TURNS if slow else QUICK_TURNS
        finally:
            self._in_flight -= 1
            # Each waiting query looks again whether its turn has come.
            for freed in self._waiting:
                if not freed.done():
                    freed.set_result(None)
