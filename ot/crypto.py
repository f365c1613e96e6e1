"""Authenticated encryption of personal fields, and the blind index to look them up.

Ciphertexts carry the id of the key that made them ("v1.<key id>.<nonce+ciphertext>") so that
keys can be rotated while old values stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ot.secrets import Secrets

_VERSION = "v1"


class Cipher:
    """Encrypts and decrypts text fields with the keys of one `Secrets`."""

    def __init__(self, secrets: Secrets) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in secrets.encryption_keys.items()}
        self._current = secrets.current_key_id
        self._blind_key = secrets.blind_index_key

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt; `context` (e.g. "account.name") binds the value to where it is stored."""
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        token = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self._current}.{token}"

    def decrypt(self, ciphertext: str, *, context: str = "") -> str:
        try:
            version, key_id, token = ciphertext.split(".", 2)
            if version != _VERSION:
                raise ValueError(version)
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plaintext = self._keys[key_id].decrypt(raw[:12], raw[12:], context.encode())
        except (ValueError, KeyError, InvalidTag) as error:
            raise ValueError(f"cannot decrypt a stored value ({type(error).__name__})") from None
        return plaintext.decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash to find an encrypted value by equality without decrypting everything."""
        return hmac.new(self._blind_key, value.encode(), hashlib.sha256).hexdigest()
