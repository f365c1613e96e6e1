"""The application factory: `create_app(settings)` wires the core into aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from aiohttp import web

from ot.clock import SYSTEM_CLOCK, Clock
from ot.config import Settings
from ot.db import create_engine, create_hit_engine, dispose_engine
from ot.ingest.collector import CollectsHits
from ot.ingest.hit import PayloadLimits
from ot.ingest.process import CollectorProcess
from ot.ingest.service import running_collector
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
    """Database, collector and query processes live as long as the application."""
    settings = app[SETTINGS]
    secrets = load_secrets_of(settings)
    engine = create_engine(settings)
    write_engine = create_engine(settings, for_writes=True)
    try:
        await ensure_schema(engine, migrate_if_new=settings.is_embedded_database)
        app[ENGINE] = engine
        app[WRITE_ENGINE] = write_engine
        app[CIPHER] = Cipher(secrets)
        app[MAILER] = Mailer(settings.mail, settings.data_dir)
        app[QUERIES] = QueryProcesses(settings)
        async with _collector(app) as collector:
            app[COLLECTOR] = collector
            try:
                yield
            finally:
                await app[QUERIES].close()
    finally:
        await write_engine.dispose()
        await engine.dispose()


@asynccontextmanager
async def _collector(app: web.Application) -> AsyncIterator[CollectsHits]:
    """The collector in its own process (see `ot.ingest.process`), or on this event loop."""
    settings = app[SETTINGS]
    if settings.collector.own_process:
        process = CollectorProcess(settings, app[STORAGE_HEALTH])
        await process.start()
        try:
            yield process
        finally:
            await process.stop(settings.server.shutdown_timeout_seconds)
        return
    # Hits alone, in the durability mode of the settings; on SQLite the writer commits from its
    # own thread through the stdlib driver (see ot.db).
    hit_engine = app[HIT_ENGINE] = create_hit_engine(settings)
    try:
        async with running_collector(
            settings,
            engine=app[ENGINE],
            write_engine=app[WRITE_ENGINE],
            hit_engine=hit_engine,
            health=app[STORAGE_HEALTH],
        ) as collector:
            yield collector
    finally:
        await dispose_engine(hit_engine)
