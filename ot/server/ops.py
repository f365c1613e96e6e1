"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from ot.schema import schema_is_current
from ot.server.answers import json_answer
from ot.server.app_keys import ENGINE, STORAGE_HEALTH, WRITE_ENGINE
from ot.server.auth import RouteNeeds, endpoint
from ot.storage import probe_write, storage_problem


@endpoint(RouteNeeds.PUBLIC, summary="Liveness")
async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return json_answer({"status": "ok"})


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Readiness: the database answers with the expected schema and takes writes",
)
async def readyz(request: web.Request) -> web.Response:
    """The database answers, its schema is the one this code expects, and writes are not
    failing: after a write failed for a reason of storage, each call tries a write again, so
    readiness returns as soon as the storage does."""
    engine = request.app[ENGINE]
    health = request.app[STORAGE_HEALTH]
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await schema_is_current(engine)
    except Exception as error:  # any failure to reach the database means "not ready"
        problem = storage_problem(error)
        if problem is not None:
            health.failed(problem)
        reason = problem or f"database unreachable ({type(error).__name__})"
        return _unavailable(reason)
    if not current:
        return _unavailable("database schema is outdated")
    if health.problem is not None:
        try:
            await probe_write(request.app[WRITE_ENGINE])
        except Exception as error:
            problem = storage_problem(error)
            if problem is None:
                raise
            health.failed(problem)
            return _unavailable(f"writes fail: {problem}")
        health.succeeded()
    return json_answer({"status": "ready"})


def _unavailable(reason: str) -> web.Response:
    return json_answer(
        {"status": "unavailable", "reason": reason}, status=503, headers={"Retry-After": "5"}
    )


@endpoint(
    RouteNeeds.PUBLIC,
    summary="Prometheus metrics (process and collector counters; no customer data)",
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
