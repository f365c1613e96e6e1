"""Backups of an installation, made while the server runs, and their restore.

A backup is two files, to be kept apart: the database (`FILE`) and what is needed to read it
(`FILE.keys`: the encryption keys of `secrets.json`, the audit trail's signing key and its
checkpoints), both readable by their owner alone. Whoever holds the database file alone holds
ciphertexts; the keys file is the one to guard like the data folder.

- SQLite: SQLite's online backup API copies a consistent snapshot page by page while the server
  keeps writing (WAL readers never block it).
- PostgreSQL: `pg_dump` in its custom format, a consistent snapshot by its transaction;
  `pg_restore` puts it back into the configured database.

Restoring replaces the installation's database and keys with the backup's: the server must be
stopped (a running server would keep its open database, and the restored one would be lost on
its next write). Both acts are recorded in the audit trail: the backup in the database it copies
(after the copy, so the copy does not hold its own entry), the restore in the restored database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from ot import paths
from ot.config import Settings
from ot.db import create_engine
from ot.errors import Conflict, InvalidInput, NotFound
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.audit_checkpoints import signing_key_path
from ot.security.secrets import create_secret_file

KEYS_SUFFIX = ".keys"
KEYS_FORMAT = "opentracker-backup-keys/1"
SQLITE_PAGES_PER_STEP = 1024  # pages copied between two looks at the source: the server writes
COPY_CHUNK_BYTES = 1 << 20

# What `back_up` and `restore` tell how far they are: units done (SQLite's pages, a file's bytes),
# and the total when known (`pg_dump` and `pg_restore` say nothing until they are done).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BackupReport:
    database_file: Path
    keys_file: Path
    database_sha256: str
    bytes: int


def keys_file_of(database_file: Path) -> Path:
    return database_file.with_name(database_file.name + KEYS_SUFFIX)


async def back_up(
    settings: Settings, target: Path, *, actor: Actor, progress: Progress | None = None
) -> BackupReport:
    """Write the database to `target` and its keys beside it (`target.keys`); refuses to
    overwrite either."""
    target = target.expanduser().absolute()
    keys_target = keys_file_of(target)
    for path in (target, keys_target):
        if path.exists():
            raise Conflict(f"{path} exists already: name a new file", field="file")
    if not target.parent.is_dir():
        raise NotFound(f"the folder {target.parent} does not exist", field="file")
    partial = target.with_name(f".{target.name}.partial")
    try:
        if settings.is_embedded_database:
            database = paths.sqlite_path(settings.data_dir)
            await asyncio.to_thread(_sqlite_backup, database, partial, progress)
        else:
            _told(progress, 0, None)
            await asyncio.to_thread(_pg_dump, settings.effective_database_url, partial)
            _told(progress, partial.stat().st_size, partial.stat().st_size)
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    create_secret_file(keys_target, json.dumps(_keys_of(settings), indent=2).encode())
    digest = _sha256(target)
    report = BackupReport(target, keys_target, digest, target.stat().st_size)
    await _record(
        settings,
        AuditAction.DATABASE_BACKED_UP,
        actor,
        {"file": str(target), "sha256": digest, "bytes": report.bytes},
    )
    return report


async def restore(
    settings: Settings,
    source: Path,
    keys: Path | None = None,
    *,
    actor: Actor,
    progress: Progress | None = None,
) -> None:
    """Replace the installation's database and keys with a backup's (the server stopped)."""
    source = source.expanduser().absolute()
    keys = (keys or keys_file_of(source)).expanduser().absolute()
    for path, what in ((source, "the backup"), (keys, "its keys file")):
        if not path.is_file():
            raise NotFound(f"{what} {path} does not exist", field="file")
    saved_keys = _read_keys(keys)
    if settings.is_embedded_database:
        _check_sqlite_backup(source)
        database = paths.sqlite_path(settings.data_dir)
        await asyncio.to_thread(_sqlite_restore, source, database, progress)
    else:
        _told(progress, 0, None)
        await asyncio.to_thread(_pg_restore, settings.effective_database_url, source)
        _told(progress, source.stat().st_size, source.stat().st_size)
    _put_keys(settings, saved_keys)
    await _record(
        settings,
        AuditAction.DATABASE_RESTORED,
        actor,
        {"file": str(source), "sha256": _sha256(source)},
    )


async def _record(
    settings: Settings, action: AuditAction, actor: Actor, details: dict[str, object]
) -> None:
    """An entry of its own transaction: the act it records is done by then."""
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            await audit.record(session, action, actor=actor, details=details)
            await session.commit()
    finally:
        await engine.dispose()


def _told(progress: Progress | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_backup(database: Path, target: Path, progress: Progress | None) -> None:
    if not database.exists():
        raise NotFound(f"there is no database at {database}")

    def step_done(_status: int, remaining: int, total: int) -> None:
        _told(progress, total - remaining, total)

    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy, pages=SQLITE_PAGES_PER_STEP, progress=step_done)
    finally:
        copy.close()
        source.close()


def _check_sqlite_backup(source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise InvalidInput(f"{source} is not an SQLite backup ({error})", field="file") from None
    if verdict != "ok":
        raise InvalidInput(f"{source} is damaged: {verdict}", field="file")


def _sqlite_restore(source: Path, database: Path, progress: Progress | None) -> None:
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = Path(tempfile.mkstemp(dir=database.parent, prefix=".restore-")[1])
    try:
        _copy(source, staged, progress)
        os.chmod(staged, 0o600)
        for companion in paths.SQLITE_COMPANIONS:  # the old database's journal is not ours
            Path(f"{database}{companion}").unlink(missing_ok=True)
        os.replace(staged, database)
    finally:
        staged.unlink(missing_ok=True)


def _copy(source: Path, target: Path, progress: Progress | None) -> None:
    """`shutil.copyfile`, telling the bytes copied."""
    total = source.stat().st_size
    done = 0
    _told(progress, done, total)
    with source.open("rb") as reading, target.open("wb") as writing:
        for chunk in iter(lambda: reading.read(COPY_CHUNK_BYTES), b""):
            writing.write(chunk)
            done += len(chunk)
            _told(progress, done, max(total, done))


# --- PostgreSQL -----------------------------------------------------------------------------


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """SQLAlchemy's `postgresql+asyncpg://...` as pg_dump reads it, without its password, and
    the environment that carries the password (a command line is visible to every local user
    in `ps`)."""
    parts = urlsplit(url)
    environment = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        environment["PGPASSWORD"] = unquote(parts.password)
        user = parts.username or ""
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{user}@{host}" if user else host
    return urlunsplit(("postgresql", netloc, *parts[2:])), environment


def _run(command: list[str], what: str, environment: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    except FileNotFoundError:
        raise NotFound(f"{command[0]} is not installed: it is needed to {what}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InvalidInput(f"{command[0]} could not {what}: {last}")


def _pg_dump(url: str, target: Path) -> None:
    database, environment = libpq_target(url)
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", database],
         "back up the database", environment)  # fmt: skip


def _pg_restore(url: str, source: Path) -> None:
    database, environment = libpq_target(url)
    _run(["pg_restore", "--list", str(source)], "read the backup", environment)
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
          f"--dbname={database}", str(source)], "restore the database", environment)  # fmt: skip


# --- the keys -------------------------------------------------------------------------------


def _keys_of(settings: Settings) -> dict[str, object]:
    secrets_file = settings.secrets_file or paths.secrets_path(settings.data_dir)
    signing_key = signing_key_path(settings)
    checkpoints = paths.audit_checkpoints_path(settings.data_dir)
    return {
        "format": KEYS_FORMAT,
        "secrets": json.loads(secrets_file.read_text()),
        "audit_signing_key": signing_key.read_text() if signing_key.exists() else None,
        "audit_checkpoints": checkpoints.read_text() if checkpoints.exists() else "",
    }


def _read_keys(path: Path) -> dict[str, object]:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInput(f"{path} is not a backup's keys file ({error})", field="keys") from None
    if not isinstance(saved, dict) or saved.get("format") != KEYS_FORMAT:
        raise InvalidInput(f"{path} is not a backup's keys file", field="keys")
    return saved


def _put_keys(settings: Settings, saved: dict[str, object]) -> None:
    secrets_file = settings.secrets_file or paths.secrets_path(settings.data_dir)
    _replace_private(secrets_file, json.dumps(saved["secrets"], indent=2))
    if isinstance(saved.get("audit_signing_key"), str):
        _replace_private(signing_key_path(settings), str(saved["audit_signing_key"]))
    _replace_private(
        paths.audit_checkpoints_path(settings.data_dir), str(saved.get("audit_checkpoints", ""))
    )


def _replace_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = path.with_name(f".{path.name}.restore")
    staged.unlink(missing_ok=True)
    create_secret_file(staged, text.encode())
    os.replace(staged, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as opened:
        for block in iter(lambda: opened.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
