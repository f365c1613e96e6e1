"""Housekeeping for the customer's rights: apply every site's retention and purge the accounts
whose deletion grace period is over, once (`ot-admin retention run`) or every few minutes (the
background process of `ot serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.clock import utcnow
from ot.config import Settings
from ot.db import create_engine
from ot.rights.account_deletion import purge_due_accounts
from ot.rights.retention import RetentionReport, run_retention
from ot.storage import storage_problem

log = logging.getLogger("ot.rights")


@dataclass
class HousekeepingReport:
    retention: RetentionReport
    purged_accounts: list[int] = field(default_factory=list)


async def run_housekeeping(
    engine: AsyncEngine,
    settings: Settings,
    progress: Callable[[int, int | None], None] | None = None,
) -> HousekeepingReport:
    """Retention, then purges; `progress` is told the sites done by the retention (the long
    part: purges are few)."""
    now = utcnow()
    batch_size = settings.rights.batch_size
    retention = await run_retention(engine, now, batch_size, progress)
    purged = await purge_due_accounts(engine, now, batch_size)
    return HousekeepingReport(retention, purged)


async def keep_tidy(settings: Settings, stop: asyncio.Event) -> None:
    """Run the housekeeping every `settings.rights.housekeeping_interval_seconds` until `stop`
    is set; a failing database is logged and tried again next time, never fatal."""
    engine = create_engine(settings, for_writes=True)
    try:
        while not stop.is_set():
            try:
                report = await run_housekeeping(engine, settings)
                if report.retention.hits or report.purged_accounts:
                    log.info(
                        "housekeeping",
                        extra={
                            "hits_past_retention": report.retention.hits,
                            "accounts_purged": len(report.purged_accounts),
                        },
                    )
            except (SQLAlchemyError, OSError) as error:
                log.warning(
                    "housekeeping failed",
                    extra={"error": type(error).__name__, "cause": storage_problem(error)},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.rights.housekeeping_interval_seconds)
    finally:
        await engine.dispose()
