"""Secrets generated on first start and kept in the data folder (mode 0600), never in the database.

The file holds the encryption keys for personal fields (by key id, so keys can rotate), the key of
the blind index used to look up encrypted values, and the key that turns client-made visitor ids
into stored ones. Cookieless daily salts are not here: they must be deletable, so they live in the
database and are dropped after two days (see `ot.visitors`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ot import paths


@dataclass(frozen=True)
class Secrets:
    encryption_keys: dict[str, bytes]  # key id -> 32-byte AES-256-GCM key
    current_key_id: str
    blind_index_key: bytes
    visitor_key: bytes


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


def load_or_create_secrets(data_dir: Path) -> Secrets:
    """Read the secrets file, creating it (and the data folder) with fresh keys the first time."""
    path = paths.secrets_path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        raw = json.dumps(_generate(), indent=2).encode()
        try:
            # O_EXCL: when several workers start at once exactly one writes the file.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(raw)
                file.flush()
                os.fsync(file.fileno())
    return _read(path)


KEY_BYTES = 32


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
