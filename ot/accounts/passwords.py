"""Passwords: hashing (argon2id through passlib's CryptContext) and the rules a new one must meet.

The one password module: accounts' passwords and share links' passwords (`ot.grants.store`) are
hashed and checked here, off the event loop (`*_in_thread`). An account password's rules are a
minimum length and "not a common password"; there are no composition rules (NIST SP 800-63B):
they push people to `Password1!`, which the list refuses anyway. A link password only has a
length (`LINK_PASSWORD_MIN_LENGTH` to `LINK_PASSWORD_MAX_LENGTH`).
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from importlib.resources import files
from itertools import pairwise

from passlib.context import CryptContext

from ot.config import AccountSettings
from ot.errors import InvalidInput

# OWASP's argon2id recommendation (Password Storage Cheat Sheet): 19 MiB, 2 iterations, one lane;
# the defaults of `AccountSettings.password_hash_memory_kib` and `password_hash_passes`. Changing
# them rehashes each password at its owner's next log-in (`verify_password`).
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

# Passwords longer than this are refused: hashing megabytes would be a denial of service.
MAX_PASSWORD_LENGTH = 1024

# A share link's password (`link_password` of a grant): chosen by the customer for a third party,
# so only its length is checked; the same bound on hashing work holds.
LINK_PASSWORD_MIN_LENGTH = 8
LINK_PASSWORD_MAX_LENGTH = 1000


@cache
def crypt_context(
    memory_kib: int = ARGON2_MEMORY_KIB,
    time_cost: int = ARGON2_TIME_COST,
    parallelism: int = ARGON2_PARALLELISM,
) -> CryptContext:
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=time_cost,
        argon2__parallelism=parallelism,
    )


def _context(settings: AccountSettings) -> CryptContext:
    return crypt_context(settings.password_hash_memory_kib, settings.password_hash_passes)


def hash_password(password: str, settings: AccountSettings) -> str:
    return _context(settings).hash(password)


def verify_password(
    password: str, stored_hash: str, settings: AccountSettings
) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash to store when the stored one was made with
    other parameters than the settings' (None when it is current)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False, None
    try:
        return _context(settings).verify_and_update(password, stored_hash)
    except ValueError:  # not a hash this context knows
        return False, None


async def hash_password_in_thread(password: str, settings: AccountSettings) -> str:
    """`hash_password` off the event loop: argon2 takes tens of milliseconds of CPU (and
    releases the GIL), which the collector must not wait behind."""
    return await asyncio.to_thread(hash_password, password, settings)


async def verify_password_in_thread(
    password: str, stored_hash: str, settings: AccountSettings
) -> tuple[bool, str | None]:
    """`verify_password` off the event loop."""
    return await asyncio.to_thread(verify_password, password, stored_hash, settings)


def password_matches(password: str, stored_hash: str) -> bool:
    """Whether the password matches, for confirmations that never replace the hash (the stored
    hash names the parameters it was made with)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(crypt_context().verify(password, stored_hash))
    except ValueError:  # not a hash this context knows
        return False


async def password_matches_in_thread(password: str, stored_hash: str) -> bool:
    """`password_matches` off the event loop."""
    return await asyncio.to_thread(password_matches, password, stored_hash)


@cache
def _dummy_hash(memory_kib: int, passes: int) -> str:
    context = crypt_context(memory_kib, passes)
    return context.hash("not the password of anyone: only here to spend the same time")


async def spend_verification_time(password: str, settings: AccountSettings) -> None:
    """Verify against a hash no password matches: an unknown e-mail then takes as long to refuse
    as a wrong password, so timing does not tell whether an address is registered."""
    dummy = await asyncio.to_thread(
        _dummy_hash, settings.password_hash_memory_kib, settings.password_hash_passes
    )
    await verify_password_in_thread(password[:MAX_PASSWORD_LENGTH], dummy, settings)


@cache
def common_passwords() -> frozenset[str]:
    """The list shipped in `ot/data/common_passwords.txt` (see its header for the source)."""
    text = files("ot").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


# Digits and punctuation that people put around a common word ("dragon2024!", "!!monkey1").
_PADDING = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def _is_sequence(text: str) -> bool:
    """Each character one after (or before) the previous: "123456789012", "zyxwvutsrqpo"."""
    steps = {
        (ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
        for a, b in pairwise(text)
    }
    return len(steps) == 1 and steps <= {1, -1, 9}


def is_common(password: str) -> bool:
    """On the list, on it once the digits and symbols around it are taken off, a run of
    consecutive characters, or one short run repeated ("abcabcabcabc", "passwordpassword")."""
    lowered = password.lower().strip()
    common = common_passwords()
    if lowered in common or _is_sequence(lowered):
        return True
    core = _PADDING.sub("", lowered)
    if core in common:  # a common word padded with digits and symbols
        return True
    for unit in range(1, len(lowered) // 2 + 1):
        if len(lowered) % unit == 0 and lowered[:unit] * (len(lowered) // unit) == lowered:
            return unit < 4 or lowered[:unit] in common
    return False


def check_new_password(password: str, settings: AccountSettings, *, email: str = "") -> None:
    """Refuse a password that is too short, too long, common, or the account's own e-mail."""
    if len(password) < settings.password_min_length:
        raise InvalidInput(
            f"the password must have at least {settings.password_min_length} characters",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must have at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    if is_common(password):
        raise InvalidInput(
            "this password is one of the most common ones: choose another (a few unrelated "
            "words make a good one)",
            field="password",
        )
    if email and email.strip().lower() in password.lower():
        raise InvalidInput("the password must not contain the e-mail address", field="password")
