"""Schemathesis against the OpenAPI document, on a real `ot serve` on a loopback port, logged in
as a test account: generated requests to every operation of our own API and the operations
endpoints never get a 5xx, and every answer matches the document.

Left out, each for a reason:
- the collector (`/api/event`, `/pixel.gif`, `/matomo.php`, ...) and the Plausible-compatible
  Stats API (`/api/v1/...`, `/api/v2/query`) answer as the products they imitate document, not
  in our error shape; `tests/test_fuzz_endpoints.py` fuzzes the collector with Hypothesis;
- operations that end the test's own session (log out everywhere, end a session, delete the
  account): after one of them every further case would only see 401. Their bad input is
  covered by their own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from ot.config import load_settings
from tests import support
from tests.conftest import start_server, stop_server
from tests.dns_server import LoopbackDns, dns

__all__ = ["dns"]  # the fixture, used by name

EXAMPLES_PER_OPERATION = 25
ENDS_THE_SESSION = {
    ("DELETE", "/ot/v1/sessions"),
    ("DELETE", "/ot/v1/sessions/{session_id}"),
    ("POST", "/ot/v1/account/deletion"),
}
# Operations that would remove the account's own site for the cases after them: they get only
# random ids (which find no site); their own tests remove real sites.
REMOVES_THE_SITE = {("DELETE", "/ot/v1/sites/{site_id}")}
IMITATED_TAGS = {"collector", "Stats API (Plausible-compatible)"}


@dataclass
class Target:
    base_url: str
    token: str
    site_id: int


@pytest.fixture
def target(
    tmp_path: Path, databases: support.DatabaseFactory, dns: LoopbackDns
) -> Iterator[Target]:
    """A real server with one account, its site and a live session. The rate limit is off:
    the generated requests all come from one address and credential. Verifying and claiming
    sites ask a DNS server on loopback, which knows no names."""
    data_dir = tmp_path / "data"
    server_settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(support.make_site(server_settings))
    started = support.run_sync(support.logged_in(server_settings, site.account_id))
    process, base_url, _ = start_server(
        server_settings,
        tmp_path / "server.log",
        extra_env={
            "OT_API__RATE_PER_MINUTE": "0",
            "OT_ROLLUPS__INTERVAL_SECONDS": "0",
            "OT_VERIFICATION__DNS_NAMESERVERS": '["127.0.0.1"]',
            "OT_VERIFICATION__DNS_PORT": str(dns.port),
        },
    )
    try:
        yield Target(base_url, started.token, site.id or 0)
    finally:
        stop_server(process)


def test_generated_requests_never_get_a_server_error_and_answers_match_the_document(
    target: Target,
) -> None:
    schema = schemathesis.openapi.from_url(f"{target.base_url}/ot/v1/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tags = set(operation.definition.raw.get("tags", []))
        if (operation.method.upper(), operation.path) in ENDS_THE_SESSION or tags & IMITATED_TAGS:
            continue
        operations.append(operation)
    assert len(operations) >= 6, [op.label for op in operations]
    headers = {"Authorization": f"Bearer {target.token}"}
    statuses: list[tuple[str, int]] = []

    for operation in operations:
        strategy = operation.as_strategy()
        removes_the_site = (operation.method.upper(), operation.path) in REMOVES_THE_SITE
        if "{site_id}" in operation.path and not removes_the_site:
            # Random ids only ever find no site: half the cases aim at the account's own.
            own = operation.as_strategy(path_parameters={"site_id": str(target.site_id)})
            strategy = st.one_of(strategy, own)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                base_url=target.base_url,
                headers=headers,
                # Our rules go beyond what JSON Schema says (a password not among the common
                # ones, an address that is an address, a region consented to), so a request
                # the document allows may rightly be refused; refusals of requests it does
                # NOT allow are still checked (negative_data_rejection).
                excluded_checks=[positive_data_acceptance],
            )
            statuses.append((case.operation.label, response.status_code))

        check()

    # Generated requests reached every operation, and some were accepted.
    assert {label for label, _ in statuses} == {operation.label for operation in operations}
    assert any(status < 300 for _, status in statuses)
    assert ("POST /ot/v1/sites/{site_id}/erasures", 200) in statuses
