"""The collector's cache of sites: requests that miss a site together wait for one query (an
entry expiring under load must not send hundreds of identical queries to the database)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from ot.models import Site
from ot.sites.store import SiteDirectory
from tests.generated_hits import Engines


def count_site_queries(engines: Engines) -> list[str]:
    """The statements that read the site table through the reading engine, as they run."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM site" in statement:
            seen.append(statement)

    event.listen(engines.reader.sync_engine, "before_cursor_execute", on_execute)
    return seen


async def test_requests_that_miss_a_site_together_share_one_query(
    engines: Engines, site: Site
) -> None:
    directory = SiteDirectory(engines.reader)
    queries = count_site_queries(engines)

    by_domain = await asyncio.gather(*(directory.by_domain("shop.example") for _ in range(50)))
    by_id = await asyncio.gather(*(directory.by_id(site.id or 0) for _ in range(50)))

    assert {found.id if found else None for found in by_domain + by_id} == {site.id}
    assert len(queries) == 1  # the domain's answer also filled the cache by id


async def test_an_unknown_domain_is_looked_up_once_for_all_who_ask(engines: Engines) -> None:
    directory = SiteDirectory(engines.reader)
    queries = count_site_queries(engines)

    found = await asyncio.gather(*(directory.by_domain("nobody.example") for _ in range(20)))

    assert found == [None] * 20
    assert len(queries) == 1


async def test_an_expired_entry_is_read_again(engines: Engines, site: Site) -> None:
    directory = SiteDirectory(engines.reader, ttl=0)
    queries = count_site_queries(engines)

    await directory.by_domain("shop.example")
    await directory.by_domain("www.shop.example")

    assert len(queries) == 2


async def test_a_request_that_gives_up_does_not_cancel_the_query_of_the_others(
    engines: Engines, site: Site
) -> None:
    directory = SiteDirectory(engines.reader)
    leaving = asyncio.ensure_future(directory.by_domain("shop.example"))
    staying = asyncio.ensure_future(directory.by_domain("shop.example"))
    await asyncio.sleep(0)  # both are waiting for the one query

    leaving.cancel()

    found = await staying
    assert found is not None and found.id == site.id


async def test_a_failed_query_fails_every_request_waiting_for_it_and_is_tried_again(
    tmp_path: Path,
) -> None:
    empty = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.sqlite3'}")
    directory = SiteDirectory(empty)
    try:
        failed = await asyncio.gather(
            *(directory.by_domain("shop.example") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(error, OperationalError) for error in failed)
        with pytest.raises(OperationalError):  # not remembered: asked again
            await directory.by_domain("shop.example")
    finally:
        await empty.dispose()
