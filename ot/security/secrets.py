"""Secrets generated on first start and kept in the data folder (mode 0600), never in the database.

The file holds the encryption keys for personal fields (by key id, so keys can rotate), the key of
the blind index used to look up encrypted values, and the key that turns client-made visitor ids
into stored ones. Cookieless daily salts are not here: they must be deletable, so they live in the
database and are dropped after two days (see `ot.ingest.visitors`).

The file may live elsewhere (setting `secrets_file`, `OT_SECRETS_FILE`), e.g. on a mounted secret
volume kept out of the data folder's backups. `ot-admin keys rotate` adds keys to it and
`ot-admin keys retire` removes them (see `ot.security.key_rotation`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ot import paths
from ot.config import Settings
from ot.private_files import ensure_private_dir

T = TypeVar("T")


@dataclass(frozen=True)
class Secrets:
    encryption_keys: dict[str, bytes]  # key id -> 32-byte AES-256-GCM key
    current_key_id: str
    blind_index_key: bytes
    visitor_key: bytes
    # The file these came from: a `Cipher` reads it again to learn keys added by a rotation.
    source: Path | None = None


def load_secrets_of(settings: Settings) -> Secrets:
    """The secrets of these settings: `secrets_file` when set, else the data folder's file."""
    return load_or_create_secrets(settings.data_dir, settings.secrets_file)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def _generate() -> dict[str, object]:
    key_id = secrets.token_hex(4)
    return {
        "encryption_keys": {key_id: _b64(secrets.token_bytes(32))},
        "current_key_id": key_id,
        "blind_index_key": _b64(secrets.token_bytes(32)),
        "visitor_key": _b64(secrets.token_bytes(32)),
    }


def load_or_create_secrets(data_dir: Path, secrets_file: Path | None = None) -> Secrets:
    """Read the secrets file, creating it (and the data folder) with fresh keys the first time."""
    path = secrets_file or paths.secrets_path(data_dir)
    ensure_private_dir(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        create_secret_file(path, json.dumps(_generate(), indent=2).encode())
    return _read(path)


def create_secret_file(path: Path, raw: bytes) -> None:
    """Write a new secret file readable only by us, unless one exists already: O_EXCL makes
    exactly one of several processes starting at once write it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as file:
        file.write(raw)
        file.flush()
        os.fsync(file.fileno())


KEY_BYTES = 32


def read_secrets(path: Path) -> Secrets:
    """Read an existing secrets file (a `Cipher` calls this again after a rotation)."""
    return _read(path)


def _read(path: Path) -> Secrets:
    for _ in range(50):  # another process may be between creating and writing the file
        if path.stat().st_size:
            break
        time.sleep(0.02)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        keys = {str(key_id): _key(value) for key_id, value in data["encryption_keys"].items()}
        current = data["current_key_id"]
        if current not in keys:
            raise KeyError("current_key_id")
        return Secrets(
            encryption_keys=keys,
            current_key_id=current,
            blind_index_key=_key(data["blind_index_key"]),
            visitor_key=_key(data["visitor_key"]),
            source=path,
        )
    except Exception as error:
        # Deliberately without the file's content or the error's text: both may hold secrets.
        raise RuntimeError(f"secrets file {path} is damaged ({type(error).__name__})") from None


def _key(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("a key is not text")
    raw = _unb64(value)
    if len(raw) != KEY_BYTES:
        raise ValueError("a key has the wrong length")
    return raw


def new_key_id(existing: set[str]) -> str:
    while True:
        key_id = secrets.token_hex(4)
        if key_id not in existing:
            return key_id


def add_encryption_key(path: Path) -> str:
    """Add a fresh encryption key to the file and make it current; older keys stay readable."""

    def add(data: dict[str, Any]) -> str:
        key_id = new_key_id(set(data["encryption_keys"]))
        data["encryption_keys"][key_id] = _b64(secrets.token_bytes(KEY_BYTES))
        data["current_key_id"] = key_id
        return key_id

    return _change(path, add)


def remove_encryption_key(path: Path, key_id: str) -> None:
    """Drop a key from the file (the caller has checked that no stored value uses it)."""

    def remove(data: dict[str, Any]) -> None:
        if key_id == data["current_key_id"]:
            raise ValueError(f"key {key_id} is the current key")
        if key_id not in data["encryption_keys"]:
            raise KeyError(key_id)
        del data["encryption_keys"][key_id]

    _change(path, remove)


def _change(path: Path, change: Callable[[dict[str, Any]], T]) -> T:
    """Read, change and atomically replace the file, one changer at a time."""
    with _locked(path):
        _read(path)  # refuse to build on a damaged file
        data = json.loads(path.read_bytes().decode("utf-8"))
        result = change(data)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(json.dumps(data, indent=2).encode())
            file.flush()
            os.fsync(file.fileno())
        # Readers see the old file or the new one, never half of one.
        os.replace(temporary, path)
        return result


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
