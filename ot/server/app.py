"""The application factory: `create_app(settings)` wires the core into aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.resources import files

from aiohttp import web

from ot.clock import SYSTEM_CLOCK, Clock
from ot.config import Settings
from ot.db import create_engine, create_hit_engine, dispose_engine
from ot.ingest.collector import Collector
from ot.ingest.geo import GeoLocator
from ot.ingest.hit import PayloadLimits
from ot.ingest.visitors import SaltKeeper
from ot.ingest.writer import HitWriter
from ot.ips import parse_networks
from ot.mailer import Mailer
from ot.schema import ensure_schema
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from ot.server import middlewares, stats_api
from ot.server.access_log import hide_request_details_from_aiohttp_logs
from ot.server.app_keys import (
    CIPHER,
    CLOCK,
    COLLECTOR,
    ENGINE,
    HIT_ENGINE,
    LIMITS,
    MAILER,
    QUERIES,
    SETTINGS,
    STORAGE_HEALTH,
    TRACKER_SCRIPT,
    TRUSTED_PROXIES,
    WRITE_ENGINE,
)
from ot.server.auth import authorise
from ot.server.routes import setup_routes
from ot.sites.store import SiteDirectory
from ot.stats.processes import QueryProcesses
from ot.storage import StorageHealth


def create_app(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> web.Application:
    """The server; `clock` is what its rate limits and log-in throttling read the time from."""
    hide_request_details_from_aiohttp_logs()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[
            middlewares.collector_shortcut,
            middlewares.headers,
            stats_api.plausible_errors,
            middlewares.errors,
            middlewares.api_limits(settings.api, clock),
            authorise,
        ],
    )
    app.on_response_prepare.append(middlewares.finish_headers)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[LIMITS] = payload_limits(settings)
    app[TRUSTED_PROXIES] = parse_networks(
        settings.server.trusted_proxies, field="server.trusted_proxies"
    )
    app[TRACKER_SCRIPT] = files("ot").joinpath("static/ot.js").read_bytes()
    app[STORAGE_HEALTH] = StorageHealth()
    app.cleanup_ctx.append(_core)
    setup_routes(app)
    return app


def payload_limits(settings: Settings) -> PayloadLimits:
    collector = settings.collector
    return PayloadLimits(
        max_body_bytes=settings.server.max_body_bytes,
        max_props=collector.max_props,
        max_prop_key_length=collector.max_prop_key_length,
        max_prop_value_length=collector.max_prop_value_length,
    )


async def _core(app: web.Application) -> AsyncIterator[None]:
    """Database, writer and collector live as long as the application."""
    settings = app[SETTINGS]
    secrets = load_secrets_of(settings)
    engine = create_engine(settings)
    write_engine = create_engine(settings, for_writes=True)
    # Hits alone, in the durability mode of the settings; on SQLite the writer commits from its
    # own thread through the stdlib driver (see ot.db).
    hit_engine = create_hit_engine(settings)
    geo = GeoLocator(settings.geo.mmdb_path)
    try:
        await ensure_schema(engine, migrate_if_new=settings.is_embedded_database)
        collector_settings = settings.collector
        writer = HitWriter(
            hit_engine,
            queue_size=collector_settings.queue_size,
            batch_size=collector_settings.batch_size,
            batch_wait=collector_settings.batch_wait_ms / 1000,
            visit_timeout=timedelta(minutes=collector_settings.visit_timeout_minutes),
            health=app[STORAGE_HEALTH],
        )
        app[ENGINE] = engine
        app[WRITE_ENGINE] = write_engine
        app[HIT_ENGINE] = hit_engine
        app[CIPHER] = Cipher(secrets)
        app[MAILER] = Mailer(settings.mail, settings.data_dir)
        app[COLLECTOR] = Collector(
            collector_settings,
            sites=SiteDirectory(engine),
            writer=writer,
            geo=geo,
            salts=SaltKeeper(write_engine),
            cipher=app[CIPHER],
            visitor_key=secrets.visitor_key,
        )
        app[QUERIES] = QueryProcesses(settings)
        await writer.start()
        try:
            yield
        finally:
            await app[QUERIES].close()
            await writer.stop(settings.server.shutdown_timeout_seconds)
    finally:
        geo.close()
        await dispose_engine(hit_engine)
        await write_engine.dispose()
        await engine.dispose()
