"""`ot-admin db backup` and `db restore` (`ot.backups`) on SQLite and PostgreSQL: a backup is the
database and, apart, its keys, both private; restored into a new installation (other keys, an
empty database) it answers the same stats and decrypts the same customer information; both acts
are audited; what is not a backup is refused in words and nothing changes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from ot.backups import libpq_target
from ot.config import load_settings
from ot.models import Site
from tests import support
from tests.test_admin_cli import ACCOUNT_NAME, AdminDatabase, ok, refused
from tests.test_audit_admin import CHECKPOINT_DUE, signed_to_the_end
from tests.test_stats_cli import RANGE, database, shop  # noqa: F401 (fixtures)

STATS = f"stats query shop.example --metrics visitors,pageviews --dimensions visit:browser {RANGE}"


@pytest.fixture
def other_installation(
    database: AdminDatabase,  # noqa: F811 (the fixture)
    tmp_path: Path,
    databases: support.DatabaseFactory,
) -> AdminDatabase:
    """A new installation of the same kind (SQLite or PostgreSQL), keys of its own, no data."""
    data_dir = tmp_path / "elsewhere"
    if database.settings.is_embedded_database:
        url = support.run_sync(databases.sqlite(data_dir))
    else:
        url = support.run_sync(databases.postgres())
    return AdminDatabase(support.installed(load_settings(data_dir=data_dir, database_url=url)))


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_backup_restored_elsewhere_answers_the_same_stats_and_reads_the_same_customers(
    database: AdminDatabase,  # noqa: F811 (the fixture)
    shop: Site,  # noqa: F811 (the fixture)
    other_installation: AdminDatabase,
    tmp_path: Path,
) -> None:
    ok(database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    stats = ok(database.invoke(STATS))
    accounts = ok(database.invoke("accounts list"))
    assert ACCOUNT_NAME in accounts
    backup = tmp_path / "backups" / "ot.db"
    backup.parent.mkdir()

    said = ok(database.invoke(f"db backup {backup}"))
    keys = backup.with_name("ot.db.keys")
    assert f"its keys: {keys}" in said
    assert private(backup) and private(keys)
    assert ACCOUNT_NAME.encode() not in backup.read_bytes()  # ciphertexts only
    assert "encryption_keys" in json.loads(keys.read_text())["secrets"]
    [entry] = database.rows("SELECT details FROM audit_entry WHERE action = 'database.backed_up'")
    assert str(backup) in str(entry["details"])

    # Another installation, with keys of its own, becomes the backed-up one.
    assert ACCOUNT_NAME not in ok(other_installation.invoke("accounts list"))
    said = ok(other_installation.invoke(f"db restore {backup} --yes"))
    assert said.startswith(f"restored from {backup}")
    assert ok(other_installation.invoke(STATS)) == stats
    assert ok(other_installation.invoke("accounts list")) == accounts  # decrypted with its keys
    restored = other_installation.rows(
        "SELECT action FROM audit_entry WHERE action LIKE 'database.%' ORDER BY id"
    )
    # The backup holds the trail up to the copy; the restore is recorded on top of it.
    assert [row["action"] for row in restored] == ["database.restored"]
    ok(other_installation.invoke("audit verify"))


def test_a_backup_signs_the_audit_trail_when_a_checkpoint_is_due(
    database: AdminDatabase,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    ok(database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    ok(database.invoke(f"db backup {tmp_path / 'ot.db'}", **CHECKPOINT_DUE))
    [last] = database.rows("SELECT action FROM audit_entry ORDER BY id DESC LIMIT 1")
    assert last["action"] == "database.backed_up"
    assert signed_to_the_end(database)


def test_a_backup_never_overwrites_a_file(
    database: AdminDatabase,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    existing = tmp_path / "ot.db"
    existing.write_text("precious")
    line = refused(database.invoke(f"db backup {existing}"))
    assert "exists already" in line and existing.read_text() == "precious"
    assert not existing.with_name("ot.db.keys").exists()
    line = refused(database.invoke(f"db backup {tmp_path / 'missing' / 'ot.db'}"))
    assert "does not exist" in line


def test_what_is_not_a_backup_is_refused_and_the_installation_is_left_as_it_was(
    database: AdminDatabase,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    ok(database.invoke(f"accounts create '{ACCOUNT_NAME}'"))
    before = database.snapshot()
    secrets = (database.settings.data_dir / "secrets.json").read_text()
    line = refused(database.invoke(f"db restore {tmp_path / 'nothing.db'} --yes"))
    assert "does not exist" in line
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    (tmp_path / "junk.db.keys").write_text("{}")
    line = refused(database.invoke(f"db restore {junk} --yes"))
    assert "not a backup's keys file" in line
    (tmp_path / "junk.db.keys").write_text(json.dumps({"format": "opentracker-backup-keys/1"}))
    line = refused(database.invoke(f"db restore {junk} --yes"))
    assert ("not an SQLite backup" in line) or ("pg_restore could not" in line)
    assert database.snapshot() == before
    assert (database.settings.data_dir / "secrets.json").read_text() == secrets


def test_pg_dump_gets_the_password_in_its_environment_never_on_its_command_line() -> None:
    target, environment = libpq_target("postgresql+asyncpg://ot:s3cr%40t@db.internal:5433/ot")
    assert target == "postgresql://ot@db.internal:5433/ot"
    assert environment["PGPASSWORD"] == "s3cr@t"
