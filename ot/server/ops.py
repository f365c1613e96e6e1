"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from ot.schema import schema_is_current
from ot.server.auth import Access, endpoint
from ot.server.keys import ENGINE


@endpoint(Access.PUBLIC, summary="Liveness")
async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


@endpoint(Access.PUBLIC, summary="Readiness: the database answers with the expected schema")
async def readyz(request: web.Request) -> web.Response:
    """The database answers and its schema is the one this code expects."""
    engine = request.app[ENGINE]
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await schema_is_current(engine)
    except Exception as error:  # any failure to reach the database means "not ready"
        return web.json_response(
            {"status": "unavailable", "reason": f"database unreachable ({type(error).__name__})"},
            status=503,
        )
    if not current:
        return web.json_response(
            {"status": "unavailable", "reason": "database schema is outdated"}, status=503
        )
    return web.json_response({"status": "ready"})


@endpoint(
    Access.PUBLIC, summary="Prometheus metrics (process and collector counters; no customer data)"
)
async def prometheus_metrics(request: web.Request) -> web.Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
