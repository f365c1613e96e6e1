"""The collector with what it runs on, from its start to a drained stop: what `ot serve` runs on
its event loop, or in the collector's own process (`ot.ingest.process`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.config import Settings
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
    engine: AsyncEngine,
    write_engine: AsyncEngine,
    hit_engine: AsyncEngine | Engine,
    health: StorageHealth,
) -> AsyncIterator[Collector]:
    """A collector whose writer commits through `hit_engine` (`ot.db.create_hit_engine`);
    leaving commits what is queued (for at most the shutdown timeout) first."""
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
