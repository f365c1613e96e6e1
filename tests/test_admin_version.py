"""`ot-admin --version`: the installed package's version, without an installation or settings."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ot.admin.cli import app


def test_version_prints_the_package_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no installation here: --version needs none
    result = CliRunner().invoke(app, ["--version"], env={"OT_DATA_DIR": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ot-admin {version('opentracker')}\n"
    assert not (tmp_path / "none").exists(), "asking for the version made no data folder"


def test_version_is_printed_even_with_settings_that_would_be_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--version"], env={"OT_SERVER__PORT": "notaport"})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ot-admin {version('opentracker')}\n"


def test_version_is_listed_in_the_root_help() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "--version" in result.stdout
