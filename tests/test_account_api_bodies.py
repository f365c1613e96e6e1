"""Property-based checks on the bodies of the sites, keys and team endpoints: whatever JSON a
logged-in owner sends, the answer is below 500, a refusal is in the one error shape naming a
field, and a refused request changes nothing. SQLite only, one app for all examples (the app of
`tests.test_fuzz_endpoints`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from ot.accounts.sessions import StartedSession
from tests.support import bearer, logged_in
from tests.test_fuzz_endpoints import FUZZ, JSON_SCALARS, JSON_VALUES, SITE_ID, Collector
from tests.test_fuzz_endpoints import collector as collector  # the fixture, re-exported

# Field names each endpoint knows, so that examples often reach past the first check.
FIELDS = {
    ("POST", "/ot/v1/sites"): ["domain", "timezone", "visitor_mode", "ip_policy",
                               "excluded_ips", "excluded_paths", "hash_routing",
                               "respect_do_not_track", "retention_days", "team_id"],
    ("PATCH", f"/ot/v1/sites/{SITE_ID}"): ["timezone", "visitor_mode", "ip_policy",
                                           "excluded_ips", "excluded_paths", "retention_days"],
    ("POST", "/ot/v1/keys"): ["name", "scopes"],
    ("POST", "/ot/v1/team/invitations"): ["email", "role", "team_id"],
    ("POST", "/ot/v1/team/invitations/accept"): ["token"],
}  # fmt: skip
TABLES = ["site", "api_token", "invitation", "membership"]
GOOD_VALUES = st.sampled_from(
    ["UTC", "cookie", "full", "none", "viewer", "admin", "stats:read", "a@b.example", "x.example"]
)


def bodies(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    values = JSON_VALUES | GOOD_VALUES | st.lists(GOOD_VALUES | JSON_SCALARS, max_size=3)
    return st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), values, max_size=5)


@pytest.fixture
def owner(collector: Collector) -> StartedSession:
    """A session of the account owning the fuzzed app's only site."""
    return collector.run(logged_in(collector.settings, 1))


def snapshot(collector: Collector) -> dict[str, list[Any]]:
    async def read() -> dict[str, list[Any]]:
        async with collector.engine.connect() as connection:
            return {
                table: list(await connection.execute(text(f"SELECT * FROM {table} ORDER BY 1")))
                for table in TABLES
            }

    return collector.run(read())


@pytest.mark.parametrize(("method", "path"), list(FIELDS), ids=[f"{m} {p}" for m, p in FIELDS])
@FUZZ
@given(data=st.data())
def test_no_body_breaks_an_account_endpoint_and_a_refusal_changes_nothing(
    collector: Collector, owner: StartedSession, method: str, path: str, data: st.DataObject
) -> None:
    body = data.draw(bodies(FIELDS[(method, path)]))
    before = snapshot(collector)
    answer = collector.send(method, path, json=body, headers=bearer(owner.token))
    assert answer.status < 500, (answer.status, answer.body[:300])
    if answer.status >= 400:
        assert answer.content_type == "application/json"
        error = json.loads(answer.body)["error"]
        assert set(error) == {"code", "message", "field"} and error["field"]
        assert snapshot(collector) == before
