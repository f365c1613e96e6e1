"""Hashing of share-link passwords (argon2id through passlib).

Kept here until the project has one password module for accounts and links alike; the
parameters follow OWASP's argon2id guidance (19 MiB, 2 passes, 1 lane)."""

from __future__ import annotations

from passlib.context import CryptContext

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)

MIN_LENGTH = 8
MAX_LENGTH = 1000  # hashing megabytes of "password" would be a cheap way to burn our CPU


def hash_password(password: str) -> str:
    return _context.hash(password)


def password_matches(password: str, password_hash: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    return bool(_context.verify(password, password_hash))
