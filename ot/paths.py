"""Where opentracker keeps its files inside the data folder: one place to look them up."""

from pathlib import Path

SQLITE_FILE = "opentracker.sqlite3"
SECRETS_FILE = "secrets.json"
PROMETHEUS_DIR = "prometheus"
AUDIT_SIGNING_KEY_FILE = "audit-signing.key"
AUDIT_CHECKPOINTS_FILE = "audit-checkpoints.jsonl"
OUTBOX_DIR = "outbox"  # `ot.mailer`'s outbox
ROLLUPS_LOCK_FILE = "rollups.lock"  # `ot.rollups.schedule`'s lock
# What SQLite keeps beside the database file while it works.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# Every name opentracker gives an entry of the data folder (see `ot.private_files`).
OWN_NAMES = (
    SQLITE_FILE,
    SECRETS_FILE,
    PROMETHEUS_DIR,
    AUDIT_SIGNING_KEY_FILE,
    AUDIT_CHECKPOINTS_FILE,
    OUTBOX_DIR,
    ROLLUPS_LOCK_FILE,
)


def sqlite_path(data_dir: Path) -> Path:
    return data_dir / SQLITE_FILE


def secrets_path(data_dir: Path) -> Path:
    return data_dir / SECRETS_FILE


def prometheus_dir(data_dir: Path) -> Path:
    """Shared metric files when several worker processes serve one port."""
    return data_dir / PROMETHEUS_DIR


def audit_signing_key_path(data_dir: Path) -> Path:
    return data_dir / AUDIT_SIGNING_KEY_FILE


def audit_checkpoints_path(data_dir: Path) -> Path:
    """Signed checkpoints of the audit trail, also kept here, outside the database."""
    return data_dir / AUDIT_CHECKPOINTS_FILE
