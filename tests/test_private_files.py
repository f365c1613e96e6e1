"""The data folder and everything opentracker keeps in it are readable by their owner only
(`ot.private_files`), whoever creates them: a real `ot serve`, `ot-admin`, `ot-admin db
upgrade`; and a folder found open to other users at start is tightened, or reported when it
holds files that are not ours. Modes are read from the disk."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ot import paths
from ot.config import load_settings
from tests import support, test_admin_cli
from tests.account_support import new_account
from tests.conftest import BACKENDS, _require_postgres, start_server, stop_server
from tests.test_admin_cli import AdminDatabase, ok, refused

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id

OTHERS = stat.S_IRWXG | stat.S_IRWXO


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def open_to_others(folder: Path) -> dict[str, str]:
    """Every entry under the folder (itself included) that another user could read or enter."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in [".", *folders, *files]:
            path = Path(root) / name
            if mode(path) & OTHERS:
                found[str(path.relative_to(folder))] = f"{mode(path):o}"
    return found


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a login (022): files are world-readable unless made
    otherwise, so the test shows what opentracker does, not what the test runner allows."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def ot_admin(environment: dict[str, str], *arguments: str) -> str:
    """The installed `ot-admin` command, as an operator runs it."""
    command = [sys.executable, "-c", "from ot.admin.cli import main; main()", *arguments]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fresh_data_folder_holds_only_files_their_owner_alone_can_read(
    backend: str, tmp_path: Path, databases: support.DatabaseFactory, usual_umask: None
) -> None:
    """`ot serve` (two workers: their metric files too) creates the folder, the database and
    the secrets; a registration leaves a mail in the outbox; `ot-admin` signs the audit trail
    and writes an export elsewhere."""
    data_dir = tmp_path / "data"
    database_url = ""
    if backend == "postgresql":
        _require_postgres()
        database_url = support.run_sync(databases.postgres())
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    process, base_url, environment = start_server(settings, tmp_path / "server.log", workers=2)
    try:
        request = urllib.request.Request(
            f"{base_url}/ot/v1/accounts",
            data=json.dumps(new_account()).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        ot_admin(environment, "audit", "checkpoint")
        export = tmp_path / "export.zip"
        # The one account registered (on PostgreSQL its id need not be 1: a sequence may skip).
        (account,) = json.loads(ot_admin(environment, "accounts", "list", "--json"))
        ot_admin(environment, "accounts", "export", str(account["id"]), "--out", str(export))

        made = {path.name for path in data_dir.iterdir()}
        expected = {paths.SECRETS_FILE, paths.AUDIT_SIGNING_KEY_FILE, paths.OUTBOX_DIR}
        expected |= {paths.AUDIT_CHECKPOINTS_FILE, paths.PROMETHEUS_DIR}
        if backend == "sqlite":
            expected |= {paths.SQLITE_FILE, f"{paths.SQLITE_FILE}-wal", f"{paths.SQLITE_FILE}-shm"}
        assert expected <= made, made
        assert any((data_dir / paths.OUTBOX_DIR).iterdir()), "the registration's mail"
        assert any((data_dir / paths.PROMETHEUS_DIR).iterdir()), "the workers' metric files"
        assert open_to_others(data_dir) == {}
        assert mode(data_dir) == 0o700
        assert mode(export) == 0o600
    finally:
        stop_server(process)
        if database_url:
            support.run_sync(databases.drop_postgres(database_url))


def test_ot_admin_db_upgrade_creates_a_database_its_owner_alone_can_read(
    tmp_path: Path, usual_umask: None
) -> None:
    data_dir = tmp_path / "fresh"
    admin = AdminDatabase(load_settings(data_dir=data_dir, database_url=""))
    ok(admin.invoke("db upgrade --create"))
    assert mode(data_dir) == 0o700
    assert mode(data_dir / paths.SQLITE_FILE) == 0o600
    assert open_to_others(data_dir) == {}


def _open_everything(data_dir: Path) -> None:
    """What an older version, a restore or a careless copy leaves: all readable by anyone."""
    for root, folders, files in os.walk(data_dir):
        for name in folders:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)
    os.chmod(data_dir, 0o755)


def test_a_data_folder_open_to_others_is_tightened_at_start(
    database: AdminDatabase, account_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = database.settings.data_dir
    (data_dir / paths.OUTBOX_DIR).mkdir(exist_ok=True)
    (data_dir / paths.OUTBOX_DIR / "1-mail.eml").write_text("Subject: hello\n")
    ok(database.invoke("audit checkpoint"))
    _open_everything(data_dir)
    assert open_to_others(data_dir)

    with caplog.at_level(logging.WARNING, logger="ot.private_files"):
        ok(database.invoke("sites list"))

    assert open_to_others(data_dir) == {}
    assert mode(data_dir) == 0o700 and mode(data_dir / paths.SECRETS_FILE) == 0o600
    assert any("could be read by other users (mode 755)" in line for line in caplog.messages)
    ok(database.invoke("sites list"))  # the tightened folder still works


def test_a_data_folder_holding_other_files_is_reported_and_left_as_it_is(
    database: AdminDatabase, account_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A misconfigured OT_DATA_DIR (a home folder, say) is not ours to lock down."""
    data_dir = database.settings.data_dir
    (data_dir / "holiday-photos").mkdir()
    _open_everything(data_dir)

    with caplog.at_level(logging.WARNING, logger="ot.private_files"):
        ok(database.invoke("sites list"))

    assert mode(data_dir) == 0o755 and mode(data_dir / "holiday-photos") == 0o755
    assert mode(data_dir / paths.SECRETS_FILE) == 0o600, "our own files are still tightened"
    assert any("holds files that are not opentracker's" in line for line in caplog.messages)


def test_an_export_written_over_a_readable_file_is_readable_by_its_owner_only(
    database: AdminDatabase, account_id: int, tmp_path: Path
) -> None:
    out = tmp_path / "export.zip"
    out.write_bytes(b"old")
    os.chmod(out, 0o644)
    ok(database.invoke(f"accounts export {account_id} --out {out}"))
    assert mode(out) == 0o600 and out.stat().st_size > 3


def test_a_data_folder_that_cannot_be_made_is_refused_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    admin = AdminDatabase(load_settings(data_dir=blocker / "data", database_url=""))
    line = refused(admin.invoke("db upgrade --create"))
    assert line == f"error: cannot use the data folder {blocker / 'data'}: Not a directory"
