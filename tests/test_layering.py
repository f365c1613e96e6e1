"""The architecture: core rules in `ot`, grouped by noun in layers, thin front doors that never
import one another, a framework-free HTTP contract (`ot.api`) and a client that talks only HTTP
(`ot.client`). The contracts themselves are checked by `lint-imports` in CI; this keeps their lists
complete, so a new module cannot dodge them."""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path
from typing import Any

import ot

FRONT_DOORS = {"ot.server", "ot.tui", "ot.admin", "ot.cli", "ot.__main__"}
HTTP_SIDE = {"ot.api", "ot.client"}  # the contract and its client: above no core layer
NOT_CODE = {"ot.migrations"}  # Alembic's scripts, loaded by Alembic itself


def contract(name_starts: str) -> dict[str, Any]:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    every = pyproject["tool"]["importlinter"]["contracts"]
    [found] = [c for c in every if c["name"].startswith(name_starts)]
    return found


def core_modules() -> set[str]:
    top_level = {f"ot.{info.name}" for info in pkgutil.iter_modules(ot.__path__)}
    return top_level - FRONT_DOORS - HTTP_SIDE - NOT_CODE


def test_every_core_module_is_forbidden_to_import_frameworks_and_front_doors() -> None:
    core = contract("The core imports no web")
    assert core_modules() - set(core["source_modules"]) == set(), "add new core modules"
    assert {"aiohttp", "textual", "typer", "ot.api", "ot.client"} <= set(core["forbidden_modules"])


def test_every_core_module_sits_in_exactly_one_layer() -> None:
    layers: list[str] = contract("The core in layers")["layers"]
    placed = [name for layer in layers for name in re.split(r"\s*[|:]\s*", layer)]
    placed = [name.strip("()") for name in placed]
    assert sorted(placed) == sorted(set(placed)), "a module is in two layers"
    assert core_modules() - set(placed) == set(), "put new core modules in a layer"


def test_front_doors_are_independent_layers_above_the_core() -> None:
    layers = contract("Front doors")
    assert layers["layers"] == ["ot.cli", "ot.server | ot.tui | ot.admin"]


def test_the_terminal_ui_and_the_client_never_reach_the_database() -> None:
    for source, name in (("ot.tui", "The terminal UI"), ("ot.client", "The client talks HTTP")):
        forbidden = set(contract(name)["forbidden_modules"])
        assert {"ot.server", "ot.models", "ot.db", "sqlmodel", "sqlalchemy"} <= forbidden, source
    assert {"aiohttp", "sqlmodel", "ot.models"} <= set(
        contract("The HTTP contract")["forbidden_modules"]
    )
