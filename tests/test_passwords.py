"""Passwords: argon2id with OWASP's parameters, a minimum length, the common-password list, and
no composition rules."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st

from ot.accounts.passwords import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    check_new_password,
    common_passwords,
    crypt_context,
    hash_password,
    is_common,
    password_matches,
    verify_password,
)
from ot.config import AccountSettings
from ot.errors import InvalidInput

SETTINGS = AccountSettings()


def test_passwords_are_hashed_with_argon2id_and_owasps_parameters() -> None:
    stored = hash_password("correct horse battery staple", SETTINGS)  # the defaults
    assert stored.startswith("$argon2id$")
    assert f"m={ARGON2_MEMORY_KIB},t={ARGON2_TIME_COST},p={ARGON2_PARALLELISM}" in stored
    assert (ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM) == (19 * 1024, 2, 1)
    assert (SETTINGS.password_hash_memory_kib, SETTINGS.password_hash_passes) == (19 * 1024, 2)
    assert "correct horse" not in stored


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password("correct horse battery staple", SETTINGS) != hash_password(
        "correct horse battery staple", SETTINGS
    )


def test_a_password_verifies_only_against_its_own_hash() -> None:
    stored = hash_password("correct horse battery staple", SETTINGS)
    assert verify_password("correct horse battery staple", stored, SETTINGS) == (True, None)
    assert verify_password("correct horse battery stapler", stored, SETTINGS) == (False, None)
    assert verify_password("anything", "not a hash", SETTINGS) == (False, None)
    assert password_matches("correct horse battery staple", stored)
    assert not password_matches("correct horse battery stapler", stored)
    assert not password_matches("anything", "not a hash")


def test_a_hash_made_with_older_parameters_is_replaced_on_verification() -> None:
    weaker = crypt_context(memory_kib=8 * 1024, time_cost=1).hash("correct horse battery staple")
    matches, new_hash = verify_password("correct horse battery staple", weaker, SETTINGS)
    assert matches
    assert new_hash is not None and f"m={ARGON2_MEMORY_KIB}," in new_hash


def test_the_hash_parameters_are_settings() -> None:
    cheaper = AccountSettings(password_hash_memory_kib=64, password_hash_passes=1)
    stored = hash_password("correct horse battery staple", cheaper)
    assert "m=64,t=1,p=1" in stored
    assert verify_password("correct horse battery staple", stored, cheaper) == (True, None)
    assert password_matches("correct horse battery staple", stored)


def test_a_short_password_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_new_password("a" * 5 + "bcdefx", SETTINGS)
    assert refused.value.field == "password"
    assert "12" in refused.value.message


def test_the_minimum_length_is_a_setting() -> None:
    check_new_password("plum tree 7", AccountSettings(password_min_length=10))
    with pytest.raises(InvalidInput):
        check_new_password("plum tree 7", SETTINGS)


def test_a_huge_password_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_new_password("x7 " * 1000, SETTINGS)


@pytest.mark.parametrize(
    "password",
    [
        "123456789012",
        "qwertyuiop12",
        "1qaz2wsx3edc",
        "password1234",
        "Password1234!",
        "DRAGON2024!!",
        "!!!football!!!",
        "abcabcabcabc",
        "zzzzzzzzzzzzzzzz",
        "passwordpassword",
        "zyxwvutsrqponm",
    ],
)
def test_common_passwords_are_refused(password: str) -> None:
    assert is_common(password)
    with pytest.raises(InvalidInput) as refused:
        check_new_password(password, SETTINGS)
    assert "common" in refused.value.message


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "alllowercaseletters",  # no composition rules: no digit, capital or symbol needed
        "8471923847192",
        "tr0ub4dor&3 sunrise",
    ],
)
def test_long_uncommon_passwords_are_accepted_without_composition_rules(password: str) -> None:
    check_new_password(password, SETTINGS)


def test_a_password_containing_the_email_address_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_new_password("ada@example.com!", SETTINGS, email="Ada@Example.com")


def test_the_common_password_list_ships_with_the_project() -> None:
    listed = common_passwords()
    assert 5000 < len(listed) < 10000
    assert {"123456", "password", "qwerty", "1qaz2wsx3edc"} <= listed


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(st.text(max_size=60))
def test_any_new_password_is_accepted_or_refused_naming_the_password(password: str) -> None:
    try:
        check_new_password(password, SETTINGS)
    except InvalidInput as refusal:
        assert refusal.field == "password"
    else:
        assert len(password) >= SETTINGS.password_min_length


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(
    st.sampled_from(sorted(word for word in common_passwords() if word.isalpha())),
    st.text(alphabet="0123456789!?#.", max_size=6),
    st.text(alphabet="0123456789!?#.", max_size=6),
)
def test_a_common_password_padded_with_digits_and_symbols_is_still_common(
    word: str, before: str, after: str
) -> None:
    assert is_common(before + word.upper() + after)
