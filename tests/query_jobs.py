"""Jobs for query processes in tests (`tests/test_stats_processes.py`), in a module of their own
that a query process imports in an instant: the test module would bring pytest along."""

from __future__ import annotations

import os
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from ot.errors import InvalidInput


async def sleeping(engine: AsyncEngine, seconds: float) -> str:
    """Python work that outlasts any budget: the process's event loop is blocked meanwhile."""
    time.sleep(seconds)
    return "woke up"


async def refusing(engine: AsyncEngine) -> None:
    raise InvalidInput("no such thing", field="dimensions")


async def own_pid(engine: AsyncEngine) -> int:
    return os.getpid()
