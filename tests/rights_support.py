"""Helpers for the tests of the customer's rights (export, deletion, retention, erasure):
dated hits from known visitors through the real ingest path, `ot-admin` run from async tests,
and reading tables back."""

from __future__ import annotations

import asyncio
import os
import shlex
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from typer.testing import CliRunner, Result

from ot.admin.cli import app as admin_app
from ot.config import Settings
from ot.models import Site
from tests import support
from tests.stats_support import ALICE, BOB, Visitor, pageview, send, token_for


async def visit(
    client: TestClient, settings: Settings, site: Site, visitor: Visitor, *moments: datetime
) -> None:
    """Pageviews of `visitor` at `moments`, sent as the site's owner would import them."""
    token = await token_for(settings, site.account_id, name=f"import {visitor.client_id}")
    await send(client, site, token, [pageview(visitor, moment, "/") for moment in moments])


async def count(settings: Settings, table: str, **where: Any) -> int:
    condition = " AND ".join(f"{name} = :{name}" for name in where) or "1 = 1"
    found = await support.rows(
        settings, f"SELECT count(*) AS n FROM {table} WHERE {condition}", **where
    )
    return int(found[0]["n"])


async def admin(settings: Settings, command_line: str) -> Result:
    """`ot-admin <command_line>` on the test's database, in a thread: the command runs its own
    event loop."""
    environment: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("OT_")
    }
    environment["OT_DATA_DIR"] = str(settings.data_dir)
    environment["OT_DATABASE_URL"] = settings.database_url
    return await asyncio.to_thread(
        CliRunner().invoke, admin_app, shlex.split(command_line), env=environment
    )


async def audit_actions(settings: Settings) -> list[dict[str, Any]]:
    return await support.rows(
        settings, f"SELECT * FROM audit_entry WHERE {support.NOT_SETUP} ORDER BY id"
    )


__all__ = ["ALICE", "BOB", "admin", "audit_actions", "count", "visit"]
