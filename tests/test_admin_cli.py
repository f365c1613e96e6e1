"""`ot-admin` through Typer's CliRunner on SQLite and PostgreSQL: what each command stores and
prints, and that bad input is refused in one line with nothing changed in the database."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from typer.testing import CliRunner, Result

import ot.models
from ot.admin.cli import app
from ot.config import Settings, load_settings
from ot.schema import UPGRADE_COMMAND, head_revision
from ot.security.secrets import load_secrets_of
from tests import support

ot.models.every_table()  # registers every table on SQLModel.metadata

ACCOUNT_NAME = "Jane Doe Consulting"


@dataclass
class AdminDatabase:
    """A database `ot-admin` is pointed at, with ways to run commands and read it back."""

    settings: Settings

    @property
    def environment(self) -> dict[str, str | None]:
        # Unset the caller's own OT_* variables so that only this database is in play.
        environment: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("OT_")
        }
        environment["OT_DATA_DIR"] = str(self.settings.data_dir)
        environment["OT_DATABASE_URL"] = self.settings.database_url
        return environment

    def invoke(self, command_line: str, **extra_environment: str | None) -> Result:
        """Run `ot-admin <command_line>` (split as a shell would) on this database; a
        variable given as None is unset."""
        return CliRunner().invoke(
            app, shlex.split(command_line), env={**self.environment, **extra_environment}
        )

    def rows(self, query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = support.run_sync(support.rows(self.settings, query))
        return found

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, to prove a refused command changed nothing."""
        return {
            table: self.rows(f"SELECT * FROM {table} ORDER BY 1")
            for table in [*sorted(SQLModel.metadata.tables), "alembic_version"]
        }

    def contains(self, plaintext: str) -> bool:
        """Whether the text is anywhere in the database: any row, or SQLite's files on disk."""
        if plaintext in repr(self.snapshot()):
            return True
        if self.settings.is_embedded_database:
            for path in self.settings.data_dir.glob("opentracker.sqlite3*"):
                if plaintext.encode() in path.read_bytes():
                    return True
        return False


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.stdout


def refused(result: Result, exit_code: int | None = None) -> str:
    """The one line of a refusal on stderr, after checking nothing else was said."""
    assert result.exit_code != 0, result.output
    assert exit_code is None or result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: ")
    return lines[0]


def _postgres_or_skip() -> str:
    url = support.postgres_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"{support.POSTGRES_URL_VARIABLE} is not set: CI must test PostgreSQL")
        pytest.skip(f"PostgreSQL tests need {support.POSTGRES_URL_VARIABLE}")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, databases: support.DatabaseFactory
) -> Iterator[AdminDatabase]:
    """A fresh, migrated database on each backend. Sync, because CliRunner runs our commands'
    `asyncio.run` in-process, which cannot happen inside a running event loop."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        database_url = support.run_sync(databases.sqlite(data_dir))
    else:
        _postgres_or_skip()
        database_url = support.run_sync(databases.postgres())
    yield AdminDatabase(
        support.installed(load_settings(data_dir=data_dir, database_url=database_url))
    )
    if database_url:
        support.run_sync(databases.drop_postgres(database_url))


@pytest.fixture
def account_id(database: AdminDatabase) -> int:
    """An account made through `ot-admin`, as an operator would before adding sites."""
    output = ok(database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    match = re.fullmatch(r"account (\d+) created\n", output)
    assert match, output
    return int(match.group(1))


@pytest.fixture
def taken_domain(database: AdminDatabase, account_id: int) -> str:
    """example.com, already added: the domain the duplicate checks collide with."""
    ok(database.invoke(f"sites add --account {account_id} example.com"))
    return "example.com"


async def _create_empty_postgres(url: str) -> str:
    name = f"ot_test_empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres(url: str, database_url: str) -> None:
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        name = make_url(database_url).database
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AdminDatabase]:
    """A database with no schema at all: what `ot-admin db upgrade` is first run on."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        yield AdminDatabase(load_settings(data_dir=data_dir))
        return
    url = _postgres_or_skip()
    database_url = support.run_sync(_create_empty_postgres(url))
    yield AdminDatabase(load_settings(data_dir=data_dir, database_url=database_url))
    support.run_sync(_drop_postgres(url, database_url))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def snippet_tags(output: str) -> dict[str, dict[str, str | None]]:
    """The attributes of the snippet's <script> and <img>, read as a browser would."""
    parser = _Tags()
    parser.feed(output)
    return dict(parser.tags)


# --- accounts ---------------------------------------------------------------------------------


def test_account_create_prints_the_id_and_stores_the_name_encrypted(
    database: AdminDatabase,
) -> None:
    output = ok(database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    [row] = database.rows("SELECT id, name_encrypted FROM account")
    assert output == f"account {row['id']} created\n"
    assert row["name_encrypted"].startswith("v1.")
    assert not database.contains(ACCOUNT_NAME)
    assert not database.contains("Jane")
    assert ok(database.invoke("accounts list")) == f"id\tname\n{row['id']}\t{ACCOUNT_NAME}\n"


def test_account_names_are_trimmed_and_listed_in_order(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create '  First B.V.  '"))
    ok(database.invoke("accounts create 'Zweite GmbH, München'"))
    header, *listed = ok(database.invoke("accounts list")).splitlines()
    assert header == "id\tname"
    assert [line.split("\t")[1] for line in listed] == ["First B.V.", "Zweite GmbH, München"]


# --- sites ------------------------------------------------------------------------------------


def test_site_add_stores_every_option_and_prints_a_matching_snippet(
    database: AdminDatabase, account_id: int
) -> None:
    output = ok(
        database.invoke(
            f"sites add --account {account_id} Shop.Example.com --timezone Europe/Amsterdam"
            " --visitor-mode cookie --ip-policy none"
            " --exclude-ip 192.0.2.7 --exclude-ip 10.0.0.0/8"
            " --exclude-path '/admin/*' --exclude-path /preview"
            " --hash-routing --no-respect-do-not-track"
        )
    )
    [site] = database.rows("SELECT * FROM site")
    assert site["account_id"] == account_id
    assert site["domain"] == "shop.example.com"
    assert site["timezone"] == "Europe/Amsterdam"
    assert site["visitor_mode"] == "cookie"
    assert site["ip_policy"] == "none"
    assert _json(site["excluded_ips"]) == ["192.0.2.7/32", "10.0.0.0/8"]
    assert _json(site["excluded_paths"]) == ["/admin/*", "/preview"]
    assert bool(site["hash_routing"]) is True
    assert bool(site["respect_do_not_track"]) is False

    assert f"site {site['id']} (shop.example.com) added" in output
    tags = snippet_tags(output)
    script, image = tags["script"], tags["img"]
    assert script["data-domain"] == "shop.example.com"
    assert script["data-visitor"] == "cookie"
    assert "data-hash" in script
    assert "data-respect-dnt" not in script
    assert "defer" in script
    assert script["src"] == "http://127.0.0.1:8000/js/ot.js"
    assert image["src"] == "http://127.0.0.1:8000/pixel.gif?d=shop.example.com"
    assert "<noscript><img " in output


def test_site_add_defaults_are_private_and_the_snippet_says_so(
    database: AdminDatabase, account_id: int
) -> None:
    output = ok(database.invoke(f"sites add --account {account_id} example.org"))
    [site] = database.rows("SELECT * FROM site")
    assert site["timezone"] == "UTC"
    assert site["visitor_mode"] == "cookieless"
    assert site["ip_policy"] == "truncated"
    assert _json(site["excluded_ips"]) == []
    assert _json(site["excluded_paths"]) == []
    assert bool(site["hash_routing"]) is False
    assert bool(site["respect_do_not_track"]) is True
    script = snippet_tags(output)["script"]
    assert script["data-domain"] == "example.org"
    assert "data-visitor" not in script, "cookieless is the tracker's default"
    assert "data-hash" not in script
    assert "data-respect-dnt" in script


def test_the_snippet_points_at_the_public_url(database: AdminDatabase, account_id: int) -> None:
    output = ok(
        database.invoke(
            f"sites add --account {account_id} example.org",
            OT_SERVER__PUBLIC_URL="https://stats.example.net/",
        )
    )
    tags = snippet_tags(output)
    assert tags["script"]["src"] == "https://stats.example.net/js/ot.js"
    assert tags["img"]["src"] == "https://stats.example.net/pixel.gif?d=example.org"


def test_site_list_prints_a_table_and_json(database: AdminDatabase, account_id: int) -> None:
    ok(database.invoke(f"sites add --account {account_id} example.org"))
    ok(
        database.invoke(
            f"sites add --account {account_id} example.net"
            " --visitor-mode cookie --ip-policy full --timezone Asia/Tokyo"
        )
    )
    table = ok(database.invoke("sites list")).splitlines()
    assert table[0].split("\t") == ["id", "account", "domain", "timezone", "visitors", "ip"]
    assert [line.split("\t")[1:] for line in table[1:]] == [
        [str(account_id), "example.org", "UTC", "cookieless", "truncated"],
        [str(account_id), "example.net", "Asia/Tokyo", "cookie", "full"],
    ]

    listed = json.loads(ok(database.invoke("sites list --json")))
    assert [site["domain"] for site in listed] == ["example.org", "example.net"]
    assert listed[1]["visitor_mode"] == "cookie"
    assert listed[1]["ip_policy"] == "full"
    assert listed[1]["respect_do_not_track"] is True
    assert listed[1]["account_id"] == account_id


def test_site_list_filters_by_account(database: AdminDatabase, account_id: int) -> None:
    ok(database.invoke(f"sites add --account {account_id} example.org"))
    other = int(ok(database.invoke("accounts create 'Other Ltd'")).split()[1])
    ok(database.invoke(f"sites add --account {other} other.example"))
    listed = json.loads(ok(database.invoke(f"sites list --account {other} --json")))
    assert [site["domain"] for site in listed] == ["other.example"]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- tokens -----------------------------------------------------------------------------------


def test_token_create_prints_the_token_once_and_stores_only_its_hash(
    database: AdminDatabase, account_id: int
) -> None:
    result = database.invoke(f"tokens create --account {account_id} --name ci")
    plaintext = ok(result).strip()
    assert re.fullmatch(r"ot_[A-Za-z0-9_-]{43}", plaintext)
    assert "cannot be shown again" in result.stderr
    [row] = database.rows("SELECT * FROM api_token")
    assert row["token_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row["account_id"] == account_id
    assert row["name"] == "ci"
    assert plaintext.startswith(row["prefix"])
    assert len(row["prefix"]) < len(plaintext) // 3
    assert not database.contains(plaintext)
    assert not database.contains(plaintext[len(row["prefix"]) :])


def test_token_list_shows_only_the_prefix(database: AdminDatabase, account_id: int) -> None:
    plaintext = ok(database.invoke(f"tokens create --account {account_id}")).strip()
    [row] = database.rows("SELECT id, prefix FROM api_token")
    listed = ok(database.invoke(f"tokens list --account {account_id}"))
    header, line = listed.splitlines()
    assert header.split("\t") == [
        "id", "prefix", "name", "scopes", "state", "created_at", "last_used_at"
    ]  # fmt: skip
    assert line.split("\t")[:5] == [
        str(row["id"]),
        f"{row['prefix']}…",
        "default",
        "stats:read",
        "active",
    ]
    assert line.split("\t")[6] == "-", "never used"
    assert plaintext not in listed
    assert plaintext[: len(row["prefix"]) + 1] not in listed


# --- the schema -------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_db_status_tells(empty_database: AdminDatabase) -> None:
    load_secrets_of(empty_database.settings)  # the keys are there, the schema is not
    if not empty_database.settings.is_embedded_database:
        before = empty_database.invoke("db status")
        assert before.exit_code == 1, before.output
        assert "current: none" in before.stdout
        assert f"expected: {head_revision()}" in before.stdout

    assert head_revision() in ok(empty_database.invoke("db upgrade --create"))
    tables = empty_database.snapshot()  # reads every table: fails if one is missing
    assert all(rows == [] for name, rows in tables.items() if name != "alembic_version")
    assert empty_database.rows("SELECT version_num FROM alembic_version") == [
        {"version_num": head_revision()}
    ]
    assert f"current: {head_revision()}" in ok(empty_database.invoke("db status"))

    ok(empty_database.invoke("db upgrade"))  # again: nothing to do, and nothing to create
    ok(empty_database.invoke("db status"))


@pytest.mark.parametrize(
    "command_line", ["accounts create Ada", "sites list", "db status", "db upgrade", "keys status"]
)
def test_without_an_installation_commands_refuse_naming_where_they_looked(
    empty_database: AdminDatabase, command_line: str
) -> None:
    """Run from another folder, or without the server's settings, ot-admin must not make a
    fresh empty installation with new keys beside the real one."""
    settings = empty_database.settings
    result = empty_database.invoke(command_line)

    line = refused(result, exit_code=2)
    assert str(settings.data_dir.resolve()) in line and "set by OT_DATA_DIR" in line
    assert re.search(r"secrets\.json (does|do) not exist", line), line
    assert "ot-admin db upgrade --create" in line
    assert not settings.data_dir.exists(), "nothing made"
    if not settings.is_embedded_database:
        tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"
        assert empty_database.rows(tables) == [{"n": 0}], "no table made"


def test_the_default_data_folder_is_named_with_the_folder_it_was_looked_for_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environment: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("OT_")
    }
    line = refused(CliRunner().invoke(app, ["sites", "list"], env=environment), exit_code=2)
    assert f"the default ./ot-data of the current folder {tmp_path}" in line
    assert not (tmp_path / "ot-data").exists()


def test_db_upgrade_create_makes_a_new_installation_that_later_commands_find(
    empty_database: AdminDatabase,
) -> None:
    ok(empty_database.invoke("db upgrade --create"))
    assert (empty_database.settings.data_dir / "secrets.json").exists()
    assert ok(empty_database.invoke(f"accounts create '{ACCOUNT_NAME}'")) == "account 1 created\n"


def test_commands_on_a_server_database_without_schema_ask_for_db_upgrade(
    empty_database: AdminDatabase,
) -> None:
    load_secrets_of(empty_database.settings)
    if empty_database.settings.is_embedded_database:
        # The embedded database is the file: without it, there is no installation.
        refused(empty_database.invoke(f"accounts create '{ACCOUNT_NAME}'"), exit_code=2)
        return
    line = refused(empty_database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    assert UPGRADE_COMMAND in line
    assert empty_database.invoke("db status").exit_code == 1, "nothing was migrated"


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command_line", "expected"),
    [
        pytest.param(
            "sites add --account 999 other.example",
            "account 999 does not exist",
            id="unknown-account",
        ),
        pytest.param(
            "sites add --account {account} example.com",
            "a site with the domain example.com already exists",
            id="duplicate-domain",
        ),
        pytest.param(
            "sites add --account {account} www.example.com",
            "a site with the domain example.com already exists",
            id="duplicate-domain-with-www",
        ),
        pytest.param(
            "sites add --account {account} EXAMPLE.com.",
            "a site with the domain example.com already exists",
            id="duplicate-domain-other-spelling",
        ),
        pytest.param(
            "sites add --account {account} https://other.example/shop",
            "is a URL: give the bare domain",
            id="url-instead-of-domain",
        ),
        pytest.param(
            "sites add --account {account} 'not a domain!'",
            "'not a domain!' is not a valid domain name",
            id="invalid-domain",
        ),
        pytest.param(
            "sites add --account {account} shop-.example",
            "is not a valid domain name",
            id="invalid-domain-label",
        ),
        pytest.param(
            "sites add --account {account} other.example --timezone Mars/Base",
            "unknown time zone 'Mars/Base'",
            id="unknown-time-zone",
        ),
        pytest.param(
            "sites add --account {account} other.example"
            " --exclude-ip 10.0.0.1 --exclude-ip 10.0.0.300",
            "'10.0.0.300' is not an IP address or network",
            id="bad-excluded-ip",
        ),
        pytest.param(
            "sites add --account {account} other.example"
            " --exclude-path /ok --exclude-path 'admin/*'",
            "excluded path 'admin/*' must start with '/'",
            id="excluded-path-without-slash",
        ),
        pytest.param("accounts create '   '", "must not be blank", id="blank-account-name"),
        pytest.param(
            "accounts create " + "x" * 201, "longer than 200 characters", id="long-account-name"
        ),
        pytest.param(
            "tokens create --account 999",
            "account 999 does not exist",
            id="token-for-unknown-account",
        ),
        pytest.param(
            "tokens create --account {account} --name ' '",
            "the token name must not be blank",
            id="blank-token-name",
        ),
        pytest.param(
            "--config no-such-opentracker.toml account create 'Other Ltd'",
            "configuration file not found: no-such-opentracker.toml",
            id="missing-config-file",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_and_changes_nothing(
    database: AdminDatabase, taken_domain: str, account_id: int, command_line: str, expected: str
) -> None:
    before = database.snapshot()
    result = database.invoke(command_line.format(account=account_id))
    assert expected in refused(result, exit_code=2)
    assert database.snapshot() == before


def test_an_unknown_visitor_mode_is_refused_and_changes_nothing(
    database: AdminDatabase, account_id: int
) -> None:
    before = database.snapshot()
    result = database.invoke(
        f"sites add --account {account_id} other.example --visitor-mode sometimes"
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'sometimes'" in result.stderr
    assert "--visitor-mode" in result.stderr
    assert database.snapshot() == before


def test_an_unknown_visitor_mode_is_stated_on_one_line(
    database: AdminDatabase, account_id: int
) -> None:
    result = database.invoke(
        f"sites add --account {account_id} other.example --visitor-mode sometimes"
    )
    [line] = [line for line in result.stderr.splitlines() if "'sometimes'" in line]
    assert "--visitor-mode" in line
    assert "'cookie'" in line
    assert "'cookieless'" in line


def test_an_invalid_setting_in_the_environment_is_refused_and_changes_nothing(
    database: AdminDatabase,
) -> None:
    before = database.snapshot()
    result = database.invoke("accounts create 'Other Ltd'", OT_SERVER__PORT="notaport")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "OT_SERVER__PORT" in result.stderr
    assert database.snapshot() == before


def test_an_invalid_setting_in_the_environment_is_stated_on_one_line(
    database: AdminDatabase,
) -> None:
    result = database.invoke("accounts create 'Other Ltd'", OT_SERVER__PORT="notaport")
    line = refused(result)
    assert "server.port" in line or "OT_SERVER__PORT" in line


@pytest.mark.parametrize("command", ["sites list", "tokens list"])
def test_listing_for_an_unknown_account_says_it_does_not_exist(
    database: AdminDatabase, command: str
) -> None:
    result = database.invoke(f"{command} --account 999")
    assert "account 999 does not exist" in refused(result, exit_code=2)
