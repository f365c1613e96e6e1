"""How many stats queries the TUI has in flight at once (`ot.tui.turns.StatsTurns`): four as
queries start going out, eight once an answer was quick, four again after a slow or refused
one."""

from __future__ import annotations

import asyncio

import pytest

from ot.tui.turns import QUICK_TURNS, SLOW_ANSWER_SECONDS, SLOW_TURNS, StatsTurns


class Queries:
    """Queries that hold their turn until answered, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.turns = StatsTurns(clock=lambda: self.now)
        self.in_flight: list[asyncio.Future[None]] = []
        self.most = 0

    async def ask(self) -> None:
        async with self.turns.take():
            answer = asyncio.get_running_loop().create_future()
            self.in_flight.append(answer)
            self.most = max(self.most, len(self.in_flight))
            try:
                await answer
            finally:
                self.in_flight.remove(answer)

    async def settled(self) -> None:
        """Until every query that can have its turn has it."""
        for _ in range(100):
            await asyncio.sleep(0)

    async def answer_first(self, *, taking: float = 0.0, failing: bool = False) -> None:
        """Answer the query out longest, `taking` seconds after the last answer."""
        await self.answer(0, taking=taking, failing=failing)

    async def answer(self, index: int, *, taking: float = 0.0, failing: bool = False) -> None:
        self.now += taking
        answer = self.in_flight[index]
        if failing:
            answer.set_exception(RuntimeError("refused"))
        else:
            answer.set_result(None)
        await self.settled()


async def test_four_go_out_at_first_and_eight_once_an_answer_was_quick() -> None:
    queries = Queries()
    asked = [asyncio.create_task(queries.ask()) for _ in range(12)]
    await queries.settled()
    assert len(queries.in_flight) == SLOW_TURNS == 4  # nothing says yet how heavy they are
    await queries.answer_first()
    assert len(queries.in_flight) == QUICK_TURNS == 8
    while queries.in_flight:
        await queries.answer_first()
    await asyncio.gather(*asked)
    assert queries.most == 8


async def test_each_new_burst_starts_with_four() -> None:
    queries = Queries()
    first = [asyncio.create_task(queries.ask()) for _ in range(10)]
    await queries.settled()
    while queries.in_flight:
        await queries.answer_first()
    await asyncio.gather(*first)
    assert queries.turns.at_once == QUICK_TURNS
    then = [asyncio.create_task(queries.ask()) for _ in range(10)]  # a filter, say: heavier
    await queries.settled()
    assert len(queries.in_flight) == SLOW_TURNS
    while queries.in_flight:
        await queries.answer_first()
    await asyncio.gather(*then)


async def test_after_a_slow_answer_four_go_out_at_once_until_one_is_quick_again() -> None:
    queries = Queries()
    asked = [asyncio.create_task(queries.ask()) for _ in range(18)]
    await queries.settled()
    await queries.answer_first()
    assert len(queries.in_flight) == 8
    await queries.answer_first(taking=SLOW_ANSWER_SECONDS)
    assert queries.turns.at_once == SLOW_TURNS
    assert len(queries.in_flight) == 7  # none new until fewer than four are out
    for left in (6, 5, 4):
        await queries.answer_first(taking=SLOW_ANSWER_SECONDS)
        assert len(queries.in_flight) == left
    await queries.answer_first(taking=SLOW_ANSWER_SECONDS)
    assert len(queries.in_flight) == 4  # the freed turn is taken at once
    await queries.answer(-1)  # the newest, answered at once: quick again
    assert queries.turns.at_once == QUICK_TURNS
    assert len(queries.in_flight) == 8
    while queries.in_flight:
        await queries.answer_first()
    await asyncio.gather(*asked)


async def test_a_refused_query_counts_as_slow() -> None:
    queries = Queries()
    asked = [asyncio.create_task(queries.ask()) for _ in range(2)]
    await queries.settled()
    await queries.answer_first(failing=True)
    assert queries.turns.at_once == SLOW_TURNS
    with pytest.raises(RuntimeError, match="refused"):
        await asked[0]
    await queries.answer_first()
    await asked[1]


async def test_a_query_left_unanswered_frees_its_turn_and_changes_nothing() -> None:
    queries = Queries()
    asked = [asyncio.create_task(queries.ask()) for _ in range(10)]
    await queries.settled()
    await queries.answer_first()  # quick: eight out
    queries.now += 2 * SLOW_ANSWER_SECONDS  # long under way, then cancelled (a newer view)
    asked[1].cancel()
    await queries.settled()
    assert queries.turns.at_once == QUICK_TURNS
    assert len(queries.in_flight) == 8  # the tenth has the turn
    while queries.in_flight:
        await queries.answer_first()
    await asyncio.gather(asked[0], *asked[2:])
