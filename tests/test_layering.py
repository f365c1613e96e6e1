"""The architecture: core rules in `ot`, thin front doors that never import one another. The
contracts themselves are checked by `lint-imports` in CI; this keeps their lists complete."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import ot

FRONT_DOORS = {"ot.server", "ot.tui", "ot.admin", "ot.cli", "ot.__main__"}
NOT_CODE = {"ot.migrations"}  # Alembic's scripts, loaded by Alembic itself


def contracts() -> list[dict[str, object]]:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    return pyproject["tool"]["importlinter"]["contracts"]  # type: ignore[no-any-return]


def test_every_core_module_is_forbidden_to_import_frameworks_and_front_doors() -> None:
    [core] = [c for c in contracts() if c["type"] == "forbidden"]
    listed = set(core["source_modules"])  # type: ignore[arg-type]
    modules = {f"ot.{info.name}" for info in pkgutil.iter_modules(ot.__path__)}
    unlisted = modules - FRONT_DOORS - NOT_CODE - listed
    assert unlisted == set(), "add new core modules to the contract"
    assert {"aiohttp", "textual", "typer"} <= set(core["forbidden_modules"])  # type: ignore[arg-type]


def test_front_doors_are_independent_layers_above_the_core() -> None:
    [layers] = [c for c in contracts() if c["type"] == "layers"]
    assert layers["layers"] == ["ot.cli", "ot.server | ot.tui | ot.admin"]
