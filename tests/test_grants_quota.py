"""How often a grant may be read (`ot.grants.quota`): at most `OT_GRANTS__READS_PER_HOUR` reads
in any hour, key and link together, counted across workers in the grant's reads log; beyond it
the third party is told to come back (429 with Retry-After) and nothing is read or logged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Principal, PrincipalKind
from ot.clock import ManualClock
from ot.config import GrantSettings, Settings
from ot.errors import TooManyRequests
from ot.grants.reads import read_through_grant
from ot.grants.store import GrantTerms, IssuedGrant, create_grant
from ot.models import Site
from ot.server import create_app
from tests import support
from tests.grants_support import PLAUSIBLE, SHARED, read
from tests.support import error_of, helper_engine
from tests.team_support import cipher_of

BODY = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}


async def _grant(settings: Settings, site: Site) -> IssuedGrant:
    """A grant of the site's visitors with a share link, made by its owner."""
    assert site.id is not None
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        terms = GrantTerms(
            grantee="A third party",
            purpose="counting reads",
            site_ids=(site.id,),
            metrics=("visitors",),
            dimensions=(),
            expires_at=datetime.now(UTC) + timedelta(days=30),
            share_link=True,
        )
        owner = Principal(PrincipalKind.SESSION, site.account_id)
        issued = await create_grant(session, cipher_of(settings), owner, terms, settings.accounts)
        await session.commit()
        return issued


async def _logged_reads(settings: Settings) -> int:
    return len(await support.rows(settings, "SELECT id FROM grant_read"))


async def test_a_grant_is_read_at_most_its_hourly_number_of_times_then_waits(
    settings: Settings, site: Site
) -> None:
    issued = await _grant(settings, site)
    assert issued.grant.id is not None
    start = datetime.now(UTC).replace(microsecond=0)

    async def read_at(minutes: float) -> None:
        async with helper_engine(settings) as engine:
            await read_through_grant(
                engine,
                cipher_of(settings),
                issued.grant.id or 0,
                "key",
                BODY,
                now=start + timedelta(minutes=minutes),
                reads_per_hour=3,
            )

    for minutes in (0, 10, 20):
        await read_at(minutes)
    with pytest.raises(TooManyRequests) as refused:
        await read_at(30)
    # The first read leaves the hour at minute 60: half an hour from the refused one.
    assert refused.value.retry_after == 30 * 60
    assert await _logged_reads(settings) == 3  # the refused read read nothing
    with pytest.raises(TooManyRequests):
        await read_at(59.9)
    await read_at(60.1)
    assert await _logged_reads(settings) == 4
    with pytest.raises(TooManyRequests) as again:
        await read_at(61)
    assert again.value.retry_after == 9 * 60  # the read of minute 10 leaves at minute 70


@pytest.fixture
async def limited_client(settings: Settings, aiohttp_client: Any, clock: ManualClock) -> TestClient:
    """The server with a limit of two reads an hour per grant, on the test's standing clock."""
    limited = settings.model_copy(update={"grants": GrantSettings(reads_per_hour=2)})
    client: TestClient = await aiohttp_client(create_app(limited, clock=clock))
    return client


async def test_too_many_reads_of_one_grant_get_429_with_retry_after_on_both_endpoints(
    settings: Settings, site: Site, limited_client: TestClient
) -> None:
    issued = await _grant(settings, site)
    assert issued.link_token is not None
    # The key and the share link are one grant: they share its reads.
    assert (await read(limited_client, issued.key, BODY)).status == 200
    assert (await read(limited_client, issued.link_token, BODY)).status == 200
    for path in (SHARED, PLAUSIBLE):
        response = await read(limited_client, issued.key, BODY, path)
        assert response.status == 429, await response.text()
        # Whole seconds until the first read leaves the hour: all of it, the clock standing still.
        assert response.headers["Retry-After"] == "3600"
    error = await error_of(await read(limited_client, issued.link_token, BODY), 429)
    assert error["code"] == "too_many_requests" and "2 times an hour" in error["message"]
    plausible = await read(limited_client, issued.key, BODY, PLAUSIBLE)
    assert set(await plausible.json()) == {"error"}  # in Plausible's words
    # Another grant of the same site is not held back by this one's reads.
    other = await _grant(settings, site)
    assert (await read(limited_client, other.key, BODY)).status == 200


async def test_reads_at_once_never_get_past_the_limit_together(
    settings: Settings, site: Site, limited_client: TestClient
) -> None:
    issued = await _grant(settings, site)
    answers = await asyncio.gather(*(read(limited_client, issued.key, BODY) for _ in range(6)))
    assert sorted(answer.status for answer in answers) == [200, 200, 429, 429, 429, 429]
    assert await _logged_reads(settings) == 2
