"""The collector with what it runs on, from its start to a drained stop: what `ot serve` runs on
its event loop, or in the collector's own process (`ot.ingest.process`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.config import Settings
from ot.db import create_engine, create_hit_engine, dispose_engine
from ot.ingest.collector import Collector
from ot.ingest.geo import GeoLocator
from ot.ingest.visitors import SaltKeeper
from ot.ingest.writer import HitWriter
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from ot.sites.store import SiteDirectory
from ot.storage import StorageHealth


@asynccontextmanager
async def running_collector(
    settings: Settings,
    *,
    health: StorageHealth,
    engine: AsyncEngine | None = None,
    write_engine: AsyncEngine | None = None,
    hit_engine: AsyncEngine | Engine | None = None,
) -> AsyncIterator[Collector]:
    """A collector whose writer commits through `hit_engine` (`ot.db.create_hit_engine`);
    leaving commits what is queued (for at most the shutdown timeout) first. The engines it is
    not given (the server's loop shares its own) it makes, and disposes of once stopped."""
    async with AsyncExitStack() as made:
        if engine is None:
            engine = create_engine(settings)
            made.push_async_callback(engine.dispose)
        if write_engine is None:
            write_engine = create_engine(settings, for_writes=True)
            made.push_async_callback(write_engine.dispose)
        if hit_engine is None:
            hit_engine = create_hit_engine(settings)
            made.push_async_callback(dispose_engine, hit_engine)
        async with _collector(settings, health, engine, write_engine, hit_engine) as collector:
            yield collector


@asynccontextmanager
async def _collector(
    settings: Settings,
    health: StorageHealth,
    engine: AsyncEngine,
    write_engine: AsyncEngine,
    hit_engine: AsyncEngine | Engine,
) -> AsyncIterator[Collector]:
    secrets = load_secrets_of(settings)
    geo = GeoLocator(settings.geo.mmdb_path)
    try:
        collector_settings = settings.collector
        writer = HitWriter(
            hit_engine,
            queue_size=collector_settings.queue_size,
            batch_size=collector_settings.batch_size,
            batch_wait=collector_settings.batch_wait_ms / 1000,
            visit_timeout=timedelta(minutes=collector_settings.visit_timeout_minutes),
            health=health,
        )
        collector = Collector(
            collector_settings,
            sites=SiteDirectory(engine),
            writer=writer,
            geo=geo,
            salts=SaltKeeper(write_engine),
            cipher=Cipher(secrets),
            visitor_key=secrets.visitor_key,
        )
        await writer.start()
        try:
            yield collector
        finally:
            await writer.stop(settings.server.shutdown_timeout_seconds)
    finally:
        geo.close()
