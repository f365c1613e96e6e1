"""Per-site retention: hits older than `retention_days` are deleted automatically (by
`ot serve`'s background process and `ot-admin retention run`), with their visits and the rollup
days wholly past the horizon, and the deletion is audited with counts only."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ot.clock import utcnow
from ot.config import Settings, load_settings
from ot.db import create_engine
from ot.models import Site
from ot.rights.housekeeping import run_housekeeping
from tests import support
from tests.conftest import start_server, stop_server
from tests.generated_hits import Engines, hit, roll, store
from tests.rights_support import ALICE, BOB, admin, audit_actions, count, visit


async def _keep_for(settings: Settings, site: Site, days: int | None) -> None:
    """Set the site's retention (the sites API sets it for customers)."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE site SET retention_days = :days WHERE id = :id"),
                {"days": days, "id": site.id},
            )
    finally:
        await engine.dispose()


async def _housekeeping(settings: Settings) -> None:
    engine = create_engine(settings, for_writes=True)
    try:
        await run_housekeeping(engine, settings)
    finally:
        await engine.dispose()


async def test_hits_older_than_a_sites_retention_are_deleted_automatically(
    client: TestClient, settings: Settings, site: Site, engines: Engines
) -> None:
    now = utcnow()
    await visit(client, settings, site, ALICE, now - timedelta(days=100))
    await visit(client, settings, site, BOB, now - timedelta(days=2))
    await roll(engines, now)
    await _keep_for(settings, site, 30)

    await _housekeeping(settings)

    [remaining] = await support.hits(settings)
    assert str(remaining["timestamp"])[:10] == str((now - timedelta(days=2)).date())
    assert await count(settings, "visit", site_id=site.id) == 1
    horizon = (now - timedelta(days=30)).date()
    old_rollups = await support.rows(
        settings,
        "SELECT day, span_days FROM rollup_day WHERE site_id = :site_id",
        site_id=site.id,
    )
    for row in old_rollups:
        day = row["day"] if not isinstance(row["day"], str) else None
        if day is not None:
            assert day + timedelta(days=row["span_days"]) > horizon
    assert old_rollups, "the recent days keep their rollups"


async def test_retention_deletes_the_rollup_days_wholly_past_its_horizon(
    client: TestClient, settings: Settings, site: Site, engines: Engines
) -> None:
    now = utcnow()
    await visit(client, settings, site, ALICE, now - timedelta(days=100))
    await roll(engines, now)
    before = await count(settings, "rollup_day", site_id=site.id)
    await _keep_for(settings, site, 30)

    await _housekeeping(settings)

    assert before > 0
    assert await count(settings, "rollup_day", site_id=site.id) == 0
    assert await count(settings, "rollup_bitmap", site_id=site.id) == 0


async def test_sites_without_retention_keep_every_hit(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await visit(client, settings, site, ALICE, utcnow() - timedelta(days=3000))

    await _housekeeping(settings)

    assert await count(settings, "hit", site_id=site.id) == 1


async def test_retention_is_audited_with_counts_only(
    client: TestClient, settings: Settings, site: Site
) -> None:
    now = utcnow()
    await visit(client, settings, site, ALICE, now - timedelta(days=40), now - timedelta(days=39))
    await _keep_for(settings, site, 30)

    await _housekeeping(settings)
    await _housekeeping(settings)  # nothing left to delete: no second entry

    entries = [e for e in await audit_actions(settings) if e["action"] == "site.retention_applied"]
    assert len(entries) == 1
    details = entries[0]["details"]
    details = details if isinstance(details, dict) else json.loads(details)
    assert details == {
        "site_id": site.id,
        "retention_days": 30,
        "hits": 2,
        "visits": 2,  # a day apart: two visits
        "rollup_rows": 0,
    }
    assert entries[0]["account_id"] == site.account_id


async def test_retention_deletes_in_batches(
    client: TestClient, settings: Settings, site: Site
) -> None:
    now = utcnow()
    await visit(
        client, settings, site, ALICE, *[now - timedelta(days=50, minutes=m) for m in range(7)]
    )
    await _keep_for(settings, site, 30)
    small_batches = settings.model_copy(
        update={"rights": settings.rights.model_copy(update={"batch_size": 2})}
    )

    await _housekeeping(small_batches)

    assert await count(settings, "hit", site_id=site.id) == 0


async def test_another_sites_retention_leaves_this_sites_hits_alone(
    client: TestClient, settings: Settings, site: Site
) -> None:
    other = await support.make_site(settings, "other.example")
    await visit(client, settings, site, ALICE, utcnow() - timedelta(days=100))
    await _keep_for(settings, other, 1)

    await _housekeeping(settings)

    assert await count(settings, "hit", site_id=site.id) == 1


async def test_ot_admin_retention_run_applies_every_sites_retention(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await visit(client, settings, site, ALICE, utcnow() - timedelta(days=100))
    await _keep_for(settings, site, 30)

    result = await admin(settings, "retention run")

    assert result.exit_code == 0, result.output
    assert f"site {site.id}: deleted 1 hit, 1 visit" in result.stdout
    assert await count(settings, "hit", site_id=site.id) == 0


def test_ot_serve_applies_retention_in_its_background_process(
    tmp_path: Path, databases: support.DatabaseFactory
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(support.make_site(settings))
    assert site.id is not None

    async def prepare() -> None:
        engines = Engines(create_engine(settings), create_engine(settings, for_writes=True))
        try:
            old = utcnow() - timedelta(days=100)
            await store(
                engines, [hit(site.id or 0, 1, old, "/"), hit(site.id or 0, 2, utcnow(), "/")]
            )
        finally:
            await engines.reader.dispose()
            await engines.writer.dispose()
        await _keep_for(settings, site, 30)

    support.run_sync(prepare())
    process, _, _ = start_server(
        settings,
        tmp_path / "server.log",
        extra_env={
            "OT_RIGHTS__HOUSEKEEPING_INTERVAL_SECONDS": "0.2",
            "OT_ROLLUPS__INTERVAL_SECONDS": "0",
        },
    )
    try:
        deadline = time.monotonic() + 60  # ends as soon as the old hit is deleted
        while time.monotonic() < deadline and len(support.run_sync(support.hits(settings))) > 1:
            time.sleep(0.1)
    finally:
        stop_server(process)

    [kept] = support.run_sync(support.hits(settings))
    assert kept["visitor_id"] == 2
