"""Which engine a request's transaction runs on.

On SQLite a transaction that has read cannot take the write lock later once another connection
(the collector's writer, say) has committed meanwhile: it fails at once with "database is
locked". So requests that may change something begin with the write lock (BEGIN IMMEDIATE, see
`ot.db.create_engine`) and wait their turn instead; reads keep the plain engine and never wait.
Authentication reads first and writes only when it must (`ot.server.auth._principal_of`). On
PostgreSQL both engines behave alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot import db
from ot.server.app_keys import ENGINE, WRITE_ENGINE
from ot.server.auth import SAFE_METHODS


def engine_for(request: web.Request) -> AsyncEngine:
    """The write engine for requests that may change something, the plain one for reads."""
    if request.method in SAFE_METHODS:
        return request.app[ENGINE]
    return request.app[WRITE_ENGINE]


@asynccontextmanager
async def transaction(request: web.Request, *, locked: bool = True) -> AsyncIterator[AsyncSession]:
    """The request's unit of work (`ot.db.transaction` on `engine_for(request)`): committed when
    the block ends, refusals included, so what the core recorded before refusing is kept."""
    async with db.transaction(engine_for(request), locked=locked) as session:
        yield session
