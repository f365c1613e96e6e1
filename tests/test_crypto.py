"""Encryption of personal fields (`ot.security.crypto`): authenticated, bound to where a value is
stored, readable across key rotation, and a blind index to look values up by equality."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot import paths
from ot.models.columns import Encrypted
from ot.security import crypto
from ot.security.crypto import Cipher, DecryptionError
from ot.security.secrets import Secrets, add_encryption_key, load_or_create_secrets


def make_secrets(keys: dict[str, bytes] | None = None, current: str | None = None) -> Secrets:
    """Secrets built by hand, so a test can choose key ids and rotate keys."""
    keys = keys or {"k1": secrets.token_bytes(32)}
    return Secrets(
        encryption_keys=keys,
        current_key_id=current or next(iter(keys)),
        blind_index_key=secrets.token_bytes(32),
        visitor_key=secrets.token_bytes(32),
    )


@pytest.fixture
def cipher() -> Cipher:
    """A cipher on fresh random keys: no test depends on the keys of another."""
    return Cipher(make_secrets())


def test_encrypted_text_decrypts_to_the_original(cipher: Cipher) -> None:
    ciphertext = cipher.encrypt("Jane Doe", context="account.name")
    assert cipher.decrypt(ciphertext, context="account.name") == "Jane Doe"


@given(st.text(), st.text(max_size=40))
def test_any_text_survives_a_round_trip(plaintext: str, context: str) -> None:
    cipher = Cipher(make_secrets({"k1": bytes(range(32))}))
    assert cipher.decrypt(cipher.encrypt(plaintext, context=context), context=context) == plaintext


def test_the_ciphertext_does_not_contain_the_plaintext(cipher: Cipher) -> None:
    plaintext = "jane.doe@example.com"
    ciphertext = cipher.encrypt(plaintext)
    assert plaintext not in ciphertext
    assert base64.urlsafe_b64encode(plaintext.encode()).decode().rstrip("=") not in ciphertext


def test_the_ciphertext_names_its_version_and_key(cipher: Cipher) -> None:
    assert cipher.encrypt("x").startswith("v1.k1.")


def test_a_ciphertext_from_another_context_is_refused(cipher: Cipher) -> None:
    ciphertext = cipher.encrypt("Jane Doe", context="account.name")
    with pytest.raises(ValueError):
        cipher.decrypt(ciphertext, context="hit.ip")
    with pytest.raises(ValueError):
        cipher.decrypt(ciphertext)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: c[:-2] + ("AA" if c[-2:] != "AA" else "BB"), id="last-bytes"),
        pytest.param(lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:], id="nonce"),
        pytest.param(lambda c: c[:-4], id="truncated"),
        pytest.param(lambda c: c.replace("v1.", "v2.", 1), id="version"),
        pytest.param(lambda c: c.replace(".k1.", ".k9.", 1), id="unknown-key-id"),
        pytest.param(lambda c: "v1.k1.", id="empty-payload"),
        pytest.param(lambda c: "v1.k1.!!!not-base64", id="not-base64"),
        pytest.param(lambda c: "garbage", id="garbage"),
        pytest.param(lambda c: "", id="empty"),
    ],
)
def test_a_tampered_ciphertext_is_refused_with_value_error(tamper: object, cipher: Cipher) -> None:
    ciphertext = cipher.encrypt("Jane Doe", context="account.name")
    damaged = tamper(ciphertext)  # type: ignore[operator]
    assert damaged != ciphertext
    with pytest.raises(ValueError) as caught:
        cipher.decrypt(damaged, context="account.name")
    assert "Jane Doe" not in str(caught.value)


def test_a_ciphertext_made_with_other_keys_is_refused() -> None:
    theirs = Cipher(make_secrets({"k1": secrets.token_bytes(32)}))
    ours = Cipher(make_secrets({"k1": secrets.token_bytes(32)}))
    with pytest.raises(ValueError):
        ours.decrypt(theirs.encrypt("Jane Doe"))


def test_the_same_text_encrypts_differently_each_time(cipher: Cipher) -> None:
    ciphertexts = {cipher.encrypt("Jane Doe", context="account.name") for _ in range(50)}
    assert len(ciphertexts) == 50


def test_values_encrypted_under_an_old_key_still_decrypt_after_rotation() -> None:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    before = Cipher(make_secrets({"old": old_key}, current="old"))
    stored = before.encrypt("Jane Doe", context="account.name")

    after = Cipher(make_secrets({"old": old_key, "new": new_key}, current="new"))
    assert after.decrypt(stored, context="account.name") == "Jane Doe"
    fresh = after.encrypt("John Roe", context="account.name")
    assert fresh.startswith("v1.new.")
    assert after.decrypt(fresh, context="account.name") == "John Roe"
    # The old cipher never learnt the new key.
    with pytest.raises(ValueError):
        before.decrypt(fresh, context="account.name")


def test_the_blind_index_is_deterministic_per_key() -> None:
    shared = make_secrets()
    assert Cipher(shared).blind_index("jane@example.com") == Cipher(shared).blind_index(
        "jane@example.com"
    )


def test_the_blind_index_differs_across_keys_and_values() -> None:
    one, other = Cipher(make_secrets()), Cipher(make_secrets())
    assert one.blind_index("jane@example.com") != other.blind_index("jane@example.com")
    assert one.blind_index("jane@example.com") != one.blind_index("john@example.com")


def test_the_blind_index_does_not_depend_on_the_encryption_key() -> None:
    """Rotating the encryption key must not invalidate every stored lookup hash."""
    old = make_secrets({"old": secrets.token_bytes(32)})
    rotated = Secrets(
        encryption_keys={**old.encryption_keys, "new": secrets.token_bytes(32)},
        current_key_id="new",
        blind_index_key=old.blind_index_key,
        visitor_key=old.visitor_key,
    )
    assert Cipher(old).blind_index("jane@example.com") == Cipher(rotated).blind_index(
        "jane@example.com"
    )


def test_the_blind_index_does_not_reveal_the_value(cipher: Cipher) -> None:
    index = cipher.blind_index("jane@example.com")
    assert "jane" not in index
    assert len(index) == 64  # a hex SHA-256 HMAC


def test_a_refused_value_says_what_went_wrong_without_the_value(cipher: Cipher) -> None:
    stored = cipher.encrypt("Jane Doe", context="account.name|id=1")
    with pytest.raises(DecryptionError, match=r"account\.name: it was altered, or it belongs to"):
        cipher.decrypt(stored, context="account.name|id=2")
    with pytest.raises(DecryptionError, match="not an encrypted value"):
        cipher.decrypt("Jane Doe", context="account.name")
    with pytest.raises(DecryptionError, match="key we do not hold"):
        cipher.decrypt(stored.replace(".k1.", ".k9.", 1), context="account.name|id=1")


def test_a_column_bound_to_its_row_has_a_context_per_row() -> None:
    bound = Encrypted("account.email", bound_to=("id",))
    assert bound.context_for({"id": 3, "other": "ignored"}) == "account.email|id=3"
    assert Encrypted("account.name").context_for() == "account.name"
    with pytest.raises(TypeError):
        bound.context_for()


def test_a_cipher_learns_keys_added_to_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = Cipher(load_or_create_secrets(tmp_path))
    old_value = running.encrypt("Jane Doe")
    new_key = add_encryption_key(paths.secrets_path(tmp_path))
    rotated = Cipher(load_or_create_secrets(tmp_path))
    new_value = rotated.encrypt("Jane Doe")
    assert new_value.startswith(f"v1.{new_key}.")
    assert running.decrypt(new_value) == "Jane Doe", "an unknown key id makes it read the file"
    assert rotated.decrypt(old_value) == "Jane Doe", "old keys stay readable"
    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 0.0)
    assert running.encrypt("x").startswith(f"v1.{new_key}.")


def test_a_cipher_made_from_secrets_in_memory_never_reads_a_file() -> None:
    cipher = Cipher(make_secrets())
    with pytest.raises(DecryptionError):
        cipher.decrypt("v1.other.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
