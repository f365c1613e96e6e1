"""The settings (`ot.config`): defaults that need nothing, `OT_*` variables, a TOML file, their
order of precedence, refusal of what is unknown or wrong, and docs that document it all."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from ot import paths
from ot.config import CollectorSettings, Durability, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
# The one settings table, made by scripts/settings_table.py.
SETTINGS_DOC = ROOT / "docs" / "operations.md"
# What a user reads: none may name a setting that does not exist.
USER_DOCS = [
    ROOT / "README.md",
    *(
        ROOT / "docs" / name
        for name in ("api.md", "compatibility.md", "operations.md", "privacy.md")
    ),
]
# Variables the docs may name that are not settings of the product.
NOT_SETTINGS = {"OPENTRACKER_TEST_POSTGRES_URL"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's or CI's own `OT_*` variables must not leak into what these tests see, and
    the relative default data folder must resolve inside the test's folder."""
    for name in list(os.environ):
        if name.startswith("OT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_toml(folder: Path, text: str) -> Path:
    path = folder / "opentracker.toml"
    path.write_text(text)
    return path


def test_the_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == Path("ot-data")
    assert settings.is_embedded_database
    sqlite_file = paths.sqlite_path((tmp_path / "ot-data").resolve())
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{sqlite_file}"
    assert settings.server.port == 8000
    assert settings.server.host == "127.0.0.1"


def test_environment_variables_set_top_level_and_nested_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OT_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("OT_COLLECTOR__BATCH_SIZE", "42")
    monkeypatch.setenv("OT_SERVER__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("OT_LOG__ACCESS_LOG", "false")
    monkeypatch.setenv("OT_LOG__LEVEL", "DEBUG")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.collector.batch_size == 42
    assert settings.server.trusted_proxies == ["10.0.0.0/8"]
    assert settings.log.access_log is False
    assert settings.log.level == "DEBUG"
    # Untouched neighbours keep their defaults.
    assert settings.collector.queue_size == CollectorSettings().queue_size


def test_a_toml_file_sets_sections(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        f"""
        data_dir = "{tmp_path / "toml-data"}"
        database_url = "postgresql+asyncpg://ot@db.internal/ot"

        [server]
        host = "0.0.0.0"
        port = 9000
        trusted_proxies = ["192.0.2.0/24"]

        [collector]
        batch_size = 7

        [log]
        format = "text"
        """,
    )
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "toml-data"
    assert settings.database_url == "postgresql+asyncpg://ot@db.internal/ot"
    assert not settings.is_embedded_database
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 9000
    assert settings.server.trusted_proxies == ["192.0.2.0/24"]
    assert settings.collector.batch_size == 7
    assert settings.log.format == "text"


def test_the_environment_beats_the_file_and_explicit_values_beat_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write_toml(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("OT_SERVER__PORT", "9100")
    from_env = load_settings(config)
    assert from_env.server.port == 9100
    assert from_env.server.host == "0.0.0.0", "the file still fills what the environment leaves"
    explicit = load_settings(config, server={"port": 9200})
    assert explicit.server.port == 9200
    assert explicit.server.host == "0.0.0.0"


def test_the_file_is_only_read_by_the_call_it_was_given_to(tmp_path: Path) -> None:
    load_settings(write_toml(tmp_path, "[server]\nport = 9000\n"))
    assert load_settings().server.port == 8000
    assert Settings().server.port == 8000


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.toml"):
        load_settings(tmp_path / "nowhere.toml")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        pytest.param("colour = 'blue'\n", "colour", id="top-level"),
        pytest.param("[server]\nprot = 9000\n", "server.prot", id="in-a-section"),
        pytest.param("[sever]\nport = 9000\n", "sever", id="unknown-section"),
    ],
)
def test_unknown_keys_in_the_file_are_refused(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(write_toml(tmp_path, toml))
    assert any(".".join(map(str, error["loc"])) == key for error in caught.value.errors())


def test_unknown_explicit_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        load_settings(colour="blue")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(server={"prot": 9000})


def test_unknown_nested_environment_variables_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OT_SERVER__PROT", "9000")
    with pytest.raises(ValueError, match="OT_SERVER__PROT"):
        load_settings()


def test_a_top_level_typo_in_the_environment_is_refused_with_a_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OT_SERVER_PORT", "9000")  # one underscore: not a setting
    with pytest.raises(ValueError, match=r"OT_SERVER_PORT.*double underscore"):
        load_settings()


@pytest.mark.parametrize(
    "variable",
    ["OT_SERVER__PORT=notaport", "OT_SERVER__PORT=70000", "OT_COLLECTOR__BATCH_SIZE=0"],
)
def test_invalid_values_in_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    name, value = variable.split("=")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


def test_hits_are_durable_to_a_power_cut_unless_the_process_mode_is_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().collector.durability is Durability.FULL
    monkeypatch.setenv("OT_COLLECTOR__DURABILITY", "process")
    assert load_settings().collector.durability is Durability.PROCESS


def test_an_unknown_durability_mode_stops_ot_serve_naming_the_setting_and_the_modes(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from ot.cli import app

    data_dir = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        ["serve"],
        env={"OT_COLLECTOR__DURABILITY": "paranoid", "OT_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: invalid settings: OT_COLLECTOR__DURABILITY: Input should be 'full' or 'process'\n"
    )
    assert not data_dir.exists(), "a refused start makes nothing"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ot:hunter2@db.internal/ot",
        "postgresql+psycopg://ot:hunter2@db.internal/ot",
        "sqlite:///ot.sqlite3",
        "mysql://ot:hunter2@db.internal/ot",
    ],
)
def test_a_database_url_without_an_async_driver_is_refused_with_the_fix(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(database_url=url)
    message = str(caught.value)
    assert "database_url" in message
    assert "postgresql+asyncpg://" in message
    assert "sqlite+aiosqlite://" in message


def test_a_refused_database_url_does_not_repeat_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OT_DATABASE_URL", "postgresql://ot:hunter2@db.internal/ot")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_the_async_drivers_are_accepted(tmp_path: Path) -> None:
    for url in (
        f"sqlite+aiosqlite:///{tmp_path / 'ot.sqlite3'}",
        "postgresql+asyncpg://ot:secret@db.internal:5432/ot",
    ):
        settings = load_settings(database_url=url)
        assert settings.effective_database_url == url
        assert not settings.is_embedded_database


def every_setting(
    model: type[BaseModel], prefix: str = "OT_"
) -> Iterator[tuple[str, str | None, bool]]:
    """(environment variable, description, is a section) for each field, sections walked into."""
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        yield variable, field.description, is_section
        if is_section:
            assert isinstance(annotation, type)
            yield from every_setting(annotation, variable + "__")


SETTINGS = list(every_setting(Settings))


def test_the_walk_finds_every_section() -> None:
    sections = {variable for variable, _, is_section in SETTINGS if is_section}
    assert sections == {
        "OT_SERVER",
        "OT_COLLECTOR",
        "OT_GEO",
        "OT_ROLLUPS",
        "OT_STATS",
        "OT_ACCOUNTS",
        "OT_MAIL",
        "OT_AUDIT",
        "OT_LOG",
        "OT_RIGHTS",
        "OT_API",
        "OT_VERIFICATION",
        "OT_GRANTS",
        "OT_PAYPAL",
        "OT_BILLING",
        "OT_SSH",
    }
    assert "OT_COLLECTOR__BATCH_SIZE" in {variable for variable, _, _ in SETTINGS}


@pytest.mark.parametrize(("variable", "description"), [(v, d) for v, d, _ in SETTINGS])
def test_every_setting_has_a_description(variable: str, description: str | None) -> None:
    assert description and description.strip(), f"{variable} has no docstring"


@pytest.mark.parametrize("variable", [v for v, _, is_section in SETTINGS if not is_section])
def test_every_setting_is_documented(variable: str) -> None:
    assert SETTINGS_DOC.is_file(), f"{SETTINGS_DOC} does not exist"
    assert re.search(rf"\b{variable}\b", SETTINGS_DOC.read_text()), (
        f"{variable} is not in {SETTINGS_DOC.name}"
    )


@pytest.mark.parametrize("document", USER_DOCS, ids=lambda path: path.name)
def test_the_docs_name_no_setting_that_does_not_exist(document: Path) -> None:
    assert document.is_file(), f"{document} does not exist"
    known = {variable for variable, _, is_section in SETTINGS if not is_section} | NOT_SETTINGS
    named = set(re.findall(r"\bOT_[A-Z0-9_]*[A-Z0-9]\b", document.read_text()))
    assert named - known == set()


def test_the_settings_table_is_the_one_the_script_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The docs' table is pasted from `scripts/settings_table.py`: paste it again after a change."""
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main()
    printed = capsys.readouterr().out
    assert printed in SETTINGS_DOC.read_text()
