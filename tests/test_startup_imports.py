"""The command-line tools start fast because they import only what the command run needs
(issue 11, item 6; timed by scripts/bench/startup.py). Timing is not reliable on a shared
machine, so these tests pin the cause instead: importing `ot.admin.cli` or `ot.cli`, and
printing `ot-admin --help`, must not import the heavy modules, and the lazy listing must not
hide or misdescribe a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer.main
from typer._click import Context
from typer.core import TyperGroup
from typer.testing import CliRunner

from ot.admin.cli import COMMANDS, app
from ot.admin.lazy import LazyCommands
from ot.schema import alembic_head_revision, head_revision

# Each costs from tens to hundreds of milliseconds to import; none is needed to print --help.
HEAVY_MODULES = [
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "aiohttp",
    "passlib",
    "argon2",
    "cryptography",
    "ua_parser",
    "geoip2fast",
    "maxminddb",
    "pydantic",
    "pydantic_settings",
    "rich",
    "ot.models",
    "ot.config",
    "ot.db",
    "ot.schema",
    "ot.storage",
    "ot.admin.context",
    "ot.ingest.useragent",
    "ot.ingest.geo",
    "ot.logimport.importer",
    "ot.stats.engine",
    "ot.server",
    "ot.security.audit",
]


def modules_after(
    code: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> set[str]:
    """The modules a fresh interpreter holds after running `code`, which must succeed (exit
    with 0 or not at all; its output is discarded)."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    script = (
        "import io, json, sys\n"
        "real_stdout, sys.stdout = sys.stdout, io.StringIO()\n"
        "status = 0\n"
        f"try:\n{body}"
        "except SystemExit as exit:\n"
        "    status = exit.code or 0\n"
        "real_stdout.write(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == 0, done.stderr
    return set(answer["modules"])


def heavy_among(modules: set[str]) -> list[str]:
    return [
        heavy
        for heavy in HEAVY_MODULES
        if any(module == heavy or module.startswith(heavy + ".") for module in modules)
    ]


def test_importing_the_admin_cli_imports_nothing_heavy() -> None:
    assert heavy_among(modules_after("import ot.admin.cli")) == []


def test_admin_help_imports_nothing_heavy() -> None:
    modules = modules_after(
        "import sys\nfrom ot.admin.cli import main\nsys.argv = ['ot-admin', '--help']\nmain()"
    )
    assert heavy_among(modules) == []
    admin_modules = {module for module in modules if module.startswith("ot.admin.")}
    assert admin_modules == {"ot.admin.cli", "ot.admin.lazy"}


def test_importing_the_customer_cli_and_its_help_import_nothing_heavy() -> None:
    assert heavy_among(modules_after("import ot.cli")) == []
    modules = modules_after(
        "import sys\nfrom ot.cli import main\nsys.argv = ['ot', '--help']\nmain()"
    )
    assert heavy_among(modules) == []


def test_admin_help_lists_every_command_with_its_own_help() -> None:
    """The lazy listing names every command of the real groups, in the same words."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    context = Context(group)
    listed = group.list_commands(context)
    assert listed == [command.name for command in COMMANDS]
    assert listed == [
        "import-log", "erase", "db", "accounts", "sites", "tokens", "goals", "stats", "rollups",
        "audit", "keys", "retention", "billing", "disclosure", "operators", "ssh",
    ]  # fmt: skip
    for command in COMMANDS:
        loaded = command.load()
        fresh = typer.main.get_command(app)  # lists from the lazy entries: nothing loaded yet
        assert isinstance(fresh, TyperGroup) and isinstance(fresh.commands, LazyCommands)
        for limit in (20, 45, 1000):
            listed_help = fresh.commands.short_help(command.name, limit)
            assert listed_help == loaded.get_short_help_str(limit), command.name


def test_admin_help_output_names_every_group() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands_section = result.output.split("Commands:", 1)[1]
    for command in COMMANDS:
        assert f"\n  {command.name} " in commands_section


def test_the_schema_check_reads_the_head_revision_as_alembic_does() -> None:
    """Every command checks the schema with `head_revision`, which reads the migration files'
    revision lines instead of importing Alembic: it must name Alembic's head."""
    assert head_revision() == alembic_head_revision()


def test_a_simple_command_imports_only_what_it_needs(tmp_path: Path) -> None:
    """`ot-admin sites list` needs the settings and its own tables, not the other tables (hits,
    grants, rollups), Alembic (the schema check reads the revision itself), the log importer,
    the stats engine or the server."""
    env = dict(os.environ, OT_DATA_DIR=str(tmp_path / "ot-data"))
    run_admin = "import sys\nfrom ot.admin.cli import main\nsys.argv = {argv!r}\nmain()"
    modules_after(run_admin.format(argv=["ot-admin", "db", "upgrade", "--create"]), env, tmp_path)

    modules = modules_after(run_admin.format(argv=["ot-admin", "sites", "list"]), env, tmp_path)

    assert "ot.models" in modules  # it did read the database
    needed_elsewhere = [
        "alembic", "aiohttp", "ua_parser", "geoip2fast", "maxminddb", "ot.ingest.useragent",
        "ot.ingest.geo", "ot.logimport.importer", "ot.stats.engine", "ot.server",
        "ot.models.hits", "ot.models.grants", "ot.models.rollups",
    ]  # fmt: skip
    assert [module for module in needed_elsewhere if module in modules] == []


def test_code_that_needs_every_table_finds_every_table_in_a_fresh_process() -> None:
    """`ot.models` imports a table's module only when it is asked for. Removing a site or an
    account walks every table, so it must see the hit, grant and rollup tables even in a process
    (an `ot-admin` command) that never imported them."""
    script = (
        "import json\n"
        "from ot.sites.store import _columns_naming_a_site\n"
        "from ot.security.key_rotation import encrypted_columns\n"
        "print(json.dumps({'site': [f'{c.table.name}.{c.name}' for c in _columns_naming_a_site()],"
        " 'encrypted': [c.name for c in encrypted_columns()]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {"hit.site_id", "visit.site_id", "rollup_day.site_id", "log_import.site_id"} <= set(
        found["site"]
    )
    assert {"hit.ip_encrypted", "access_grant.grantee_encrypted"} <= set(found["encrypted"])
