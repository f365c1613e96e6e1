"""A new site's privacy defaults are decided in one place, `ot.privacy.DEFAULT_PRIVACY`: the
table's defaults, `ot.sites.store`, the API and its OpenAPI document, and `ot-admin sites add` all
start a site from them."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from aiohttp.test_utils import TestClient
from typer.testing import CliRunner

import ot.privacy
from ot.admin.cli import app as admin_app
from ot.clock import utcnow
from ot.config import Settings
from ot.models import Site
from ot.privacy import DEFAULT_PRIVACY, SitePrivacy
from ot.sites.store import add_site, check_new_site
from tests.support import bearer, logged_in, rows
from tests.team_support import new_account

PRIVACY_FIELDS = [field.name for field in dataclasses.fields(SitePrivacy)]


def _privacy_of(values: Mapping[str, Any]) -> SitePrivacy:
    """The privacy choices among `values` (a row, an answer, defaults by name). Each field of
    `SitePrivacy` must be there, so a choice added to it is checked everywhere at once."""
    return SitePrivacy(**{name: values[name] for name in PRIVACY_FIELDS})


def _openapi_defaults(document: dict[str, Any], schema_name: str) -> dict[str, Any]:
    properties = document["components"]["schemas"][schema_name]["properties"]
    return {name: spec["default"] for name, spec in properties.items() if "default" in spec}


def _admin_site_add_defaults() -> dict[str, Any]:
    """The defaults `ot-admin sites add --help` shows and a bare `site add` uses."""
    command = typer.main.get_command(admin_app)
    assert isinstance(command, typer.core.TyperGroup)
    sites = command.commands["site"]
    assert isinstance(sites, typer.core.TyperGroup)
    return {param.name: param.default for param in sites.commands["add"].params if param.name}


def _keyword_defaults(function: Any) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


async def _stored_privacy(settings: Settings, domain: str) -> SitePrivacy:
    [row] = await rows(settings, "SELECT * FROM site WHERE domain = :d", d=domain)
    # SQLite stores booleans as 0 and 1, which equal False and True.
    return _privacy_of(row)


async def test_every_way_of_adding_a_site_starts_from_the_same_privacy_defaults(
    client: TestClient, settings: Settings
) -> None:
    # What is declared: the table, the core's keywords, the API's models, the command's options.
    assert (
        _privacy_of(Site(account_id=1, domain="model.example", created_at=utcnow()).model_dump())
        == DEFAULT_PRIVACY
    )
    assert _privacy_of(_keyword_defaults(add_site)) == DEFAULT_PRIVACY
    assert _keyword_defaults(check_new_site)["retention_days"] == DEFAULT_PRIVACY.retention_days
    document = await (await client.get("/ot/v1/openapi.json")).json()
    assert _privacy_of(_openapi_defaults(document, "SiteSettingsIn")) == DEFAULT_PRIVACY
    assert _privacy_of(_openapi_defaults(document, "NewSite")) == DEFAULT_PRIVACY
    assert _privacy_of(_admin_site_add_defaults()) == DEFAULT_PRIVACY

    # What is stored when nothing but the domain is given.
    account_id = await new_account(settings)
    started = await logged_in(settings, account_id)
    added = await client.post(
        "/ot/v1/sites", json={"domain": "api.example"}, headers=bearer(started.token)
    )
    assert added.status == 201, await added.text()
    assert _privacy_of(await added.json()) == DEFAULT_PRIVACY
    assert await _stored_privacy(settings, "api.example") == DEFAULT_PRIVACY

    environment = {"OT_DATA_DIR": str(settings.data_dir), "OT_DATABASE_URL": settings.database_url}
    command = shlex.split(f"sites add --account {account_id} cli.example")
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(CliRunner().invoke, admin_app, command, env=environment)
    assert result.exit_code == 0, result.output
    assert await _stored_privacy(settings, "cli.example") == DEFAULT_PRIVACY


def test_the_privacy_defaults_need_nothing_but_the_standard_library() -> None:
    """Every layer reads `ot.privacy` (the tables, the core, the API, later the terminal UI), so
    it imports nothing of ours and no third-party package."""
    tree = ast.parse(Path(inspect.getfile(ot.privacy)).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    standard = sys.stdlib_module_names | {"__future__"}
    assert {name for name in imported if name.split(".")[0] not in standard} == set()
