"""Helpers for the grants tests: a grant made through the API as its owner makes one, and a third
party's reads through `/ot/v1/shared/query` or Plausible's `/api/v2/query`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.support import bearer

SHARED = "/ot/v1/shared/query"
PLAUSIBLE = "/api/v2/query"


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def grant_terms(site_ids: list[int], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grantee": "Example Research Ltd",
        "purpose": "Benchmark of shop traffic",
        "site_ids": site_ids,
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page", "time:day"],
        "expires_at": in_days(30),
    }
    body.update(changes)
    return body


async def grant(
    client: TestClient, owner_token: str, site_ids: list[int], **changes: Any
) -> dict[str, Any]:
    """A new grant, as `POST /ot/v1/grants` answers it (with its key, shown once)."""
    response = await client.post(
        "/ot/v1/grants", json=grant_terms(site_ids, **changes), headers=bearer(owner_token)
    )
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def read(
    client: TestClient, credential: str, body: dict[str, Any], path: str = SHARED, **headers: str
) -> ClientResponse:
    """A third party's query through a grant's key or link."""
    return await client.post(path, json=body, headers={**bearer(credential), **headers})


async def answer_of(response: ClientResponse) -> dict[str, Any]:
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


def rows_of(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(*row["dimensions"], *row["metrics"]) for row in answer["results"]]
