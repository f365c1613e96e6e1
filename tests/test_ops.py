"""Operations endpoints: liveness, readiness (database reachable, schema current), metrics."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.config import Settings
from ot.db import create_engine
from ot.models import Site
from tests.support import event, store_hits


async def test_healthz_answers_while_the_process_runs(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_current_schema(client: TestClient) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_readyz_says_unavailable_when_the_schema_is_outdated(
    client: TestClient, settings: Settings
) -> None:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    await engine.dispose()
    response = await client.get("/readyz")
    assert response.status == 503
    assert "schema" in (await response.json())["reason"]


def sample(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_accepted_dropped_and_batches(client: TestClient, site: Site) -> None:
    accepted = 'ot_hits_accepted_total{endpoint="plausible"}'
    duplicates = 'ot_hits_dropped_total{reason="duplicate"}'
    # Counters live as long as the process, which runs other tests too: compare differences.
    before = await (await client.get("/metrics")).text()
    await store_hits(client, [event(), event(eid="same-1"), event(eid="same-1")])
    body = await (await client.get("/metrics")).text()
    assert sample(body, accepted) - sample(before, accepted) == 2
    assert sample(body, duplicates) - sample(before, duplicates) == 1
    for name in (
        "ot_write_batch_hits_count",
        "ot_write_commit_seconds_count",
        "ot_write_queue_hits",
    ):
        assert name in body
