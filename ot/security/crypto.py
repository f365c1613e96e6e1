"""Authenticated encryption of personal fields, and the blind index to look them up.

Ciphertexts carry the id of the key that made them ("v1.<key id>.<nonce+ciphertext>") so that
keys can be rotated while old values stay readable. Each value is bound to where it is stored by
the context given to AES-GCM as associated data: a value altered, or copied to another column or
(for columns bound to their row) another row, fails to decrypt.

Every encrypted column declares itself with `Encrypted(...).column_info()` on its model field
(`ot.models.columns.Encrypted`), so that key rotation and the plaintext checks find it without a
list to keep up to date (`ot.security.key_rotation.encrypted_columns`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ot.security.secrets import Secrets, read_secrets

VERSION = "v1"
# How often a cipher looks at its secrets file for a key made current by `ot-admin keys rotate`.
RELOAD_SECONDS = 2.0


class DecryptionError(ValueError):
    """A stored value does not decrypt: altered, moved, or made with a key we do not hold."""


class Cipher:
    """Encrypts and decrypts text fields with the keys of one `Secrets`.

    When the secrets came from a file, the cipher reads the file again when it meets a key id it
    does not know, and every few seconds when encrypting: a server keeps working while
    `ot-admin keys rotate` adds a key and re-encrypts under it.
    """

    def __init__(self, secrets: Secrets) -> None:
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._stamp = self._file_stamp(secrets)
        self._use(secrets)

    def _use(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._keys = {key_id: AESGCM(key) for key_id, key in secrets.encryption_keys.items()}
        self._current = secrets.current_key_id
        self._blind_key = secrets.blind_index_key

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt; `context` (e.g. "account.name") binds the value to where it is stored."""
        self._reload(force=False)
        key_id = self._current
        nonce = os.urandom(12)
        sealed = self._keys[key_id].encrypt(nonce, plaintext.encode(), context.encode())
        token = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{key_id}.{token}"

    def decrypt(self, ciphertext: str, *, context: str = "") -> str:
        try:
            version, key_id, token = ciphertext.split(".", 2)
            if version != VERSION:
                raise ValueError(version)
            if key_id not in self._keys:
                self._reload(force=True)
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plaintext = self._keys[key_id].decrypt(raw[:12], raw[12:], context.encode())
        except KeyError:
            raise DecryptionError(
                f"cannot decrypt a stored {_name(context)}: it was made with a key we do not hold"
            ) from None
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt a stored {_name(context)}: it was altered, or it belongs to "
                "another field or row"
            ) from None
        except ValueError:
            raise DecryptionError(
                f"cannot decrypt a stored {_name(context)}: it is not an encrypted value"
            ) from None
        return plaintext.decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash to find an encrypted value by equality without decrypting everything."""
        return hmac.new(self._blind_key, value.encode(), hashlib.sha256).hexdigest()

    def _reload(self, *, force: bool) -> None:
        source = self._secrets.source
        if source is None or (not force and time.monotonic() - self._checked_at < RELOAD_SECONDS):
            return
        with self._lock:
            self._checked_at = time.monotonic()
            stamp = self._file_stamp(self._secrets)
            if stamp == self._stamp:
                return
            fresh = read_secrets(source)
            if fresh.blind_index_key != self._blind_key:
                # Lookups by blind index would silently stop matching: keep what we have.
                raise RuntimeError(f"the blind index key in {source} changed")
            self._stamp = stamp
            self._use(fresh)

    @staticmethod
    def _file_stamp(secrets: Secrets) -> tuple[int, int, int] | None:
        if secrets.source is None:
            return None
        try:
            found = os.stat(secrets.source)
        except OSError:
            return None
        return (found.st_ino, found.st_mtime_ns, found.st_size)


def _name(context: str) -> str:
    """The field a context names, for error messages ("account.name|id=3" -> "account.name")."""
    return context.split("|", 1)[0] or "value"
