"""Customers' SSH public keys: a registered key opens its owner's `ot tui` over SSH, and nothing
else (sshd asks `ot-admin ssh authorized-keys` whose key it is; see docs/operations.md).

A key is checked the way OpenSSH reads it (`cryptography` parses the `authorized_keys` form);
weak kinds are refused: DSA, and RSA under 3072 bits. One key belongs to one account, so the
key alone says whose terminal it opens. The key and its name are what the customer gave us:
kept encrypted, shown back in the profile and in their export; the fingerprint, OpenSSH's
SHA256 form, finds a key when sshd offers one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.sessions import StartedSession, start_session
from ot.accounts.store import get_account
from ot.accounts.suspension import refuse_if_suspended
from ot.clock import utcnow
from ot.config import AccountSettings
from ot.errors import Conflict, InvalidInput, Unauthorized
from ot.models import (
    SSH_KEY_NAME,
    SSH_KEY_PUBLIC_KEY,
    AccountDeletion,
    AccountSuspension,
    SshKey,
)
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

MIN_RSA_BITS = 3072
MAX_KEYS = 20  # per account: a few per device is plenty
MAX_NAME_LENGTH = 100
MAX_KEY_LENGTH = 16_384  # an RSA 16384-bit key in base64 is about 2.8 kB
KEY_FIELD = "public_key"


@dataclass(frozen=True)
class ParsedKey:
    """A public key as OpenSSH writes it: `type base64 [comment]`."""

    key_type: str
    blob: bytes  # the key itself (the base64 part, decoded)
    comment: str

    @property
    def fingerprint(self) -> str:
        """OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the key's SHA-256."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"

    @property
    def line(self) -> str:
        """The key as `authorized_keys` holds it (without its comment)."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"


@dataclass(frozen=True)
class SshKeyView:
    """A registered key as its owner sees it."""

    id: int
    name: str
    key_type: str
    fingerprint: str
    public_key: str
    created_at: datetime
    last_used_at: datetime | None


def parse_public_key(text: str) -> ParsedKey:
    """The key in `text` (one line of `authorized_keys` or a `.pub` file), or InvalidInput
    saying what is wrong with it."""
    line = text.strip()
    if not line:
        raise InvalidInput(
            "paste your public key (the line in ~/.ssh/id_ed25519.pub)", field=KEY_FIELD
        )
    if len(line) > MAX_KEY_LENGTH or "\n" in line:
        raise InvalidInput("one public key, on one line", field=KEY_FIELD)
    if "PRIVATE KEY" in line:
        raise InvalidInput(
            "that is a private key: never share it; paste the .pub file's line instead",
            field=KEY_FIELD,
        )
    parts = line.split(maxsplit=2)
    if len(parts) < 2:
        raise InvalidInput("a public key reads 'ssh-ed25519 AAAA... comment'", field=KEY_FIELD)
    key_type, encoded = parts[0], parts[1]
    if key_type == "ssh-dss":  # told before parsing: cryptography warns that it reads DSA
        raise InvalidInput("DSA keys are too weak: use ssh-ed25519", field=KEY_FIELD)
    try:
        blob = base64.b64decode(encoded, validate=True)
        key = load_ssh_public_key(f"{key_type} {encoded}".encode())
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInput(
            f"not a public key OpenSSH can read ({key_type})", field=KEY_FIELD
        ) from None
    except Exception as error:  # cryptography's UnsupportedAlgorithm, for one
        raise InvalidInput(
            f"a {key_type} key is not supported ({error})", field=KEY_FIELD
        ) from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InvalidInput(
            f"this RSA key has {key.key_size} bits, fewer than {MIN_RSA_BITS}: use ssh-ed25519",
            field=KEY_FIELD,
        )
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidInput(f"a {key_type} key is not supported: use ssh-ed25519", field=KEY_FIELD)
    return ParsedKey(key_type, blob, parts[2].strip() if len(parts) > 2 else "")


async def add_ssh_key(
    session: AsyncSession,
    cipher: Cipher,
    account_id: int,
    public_key: str,
    name: str | None = None,
    *,
    actor: Actor,
) -> SshKeyView:
    """Register a key of the account; its name defaults to the key's comment."""
    await get_account(session, account_id)
    parsed = parse_public_key(public_key)
    shown_name = (name if name is not None else parsed.comment).strip() or parsed.key_type
    if len(shown_name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"the name is longer than {MAX_NAME_LENGTH} characters", field="name")
    count = await session.exec(
        select(func.count()).select_from(SshKey).where(col(SshKey.account_id) == account_id)
    )
    if count.one() >= MAX_KEYS:
        raise Conflict(f"an account holds at most {MAX_KEYS} SSH keys: remove one first")
    taken = await session.exec(select(SshKey).where(col(SshKey.fingerprint) == parsed.fingerprint))
    if taken.first() is not None:
        raise Conflict(
            "this key is registered already (a key opens one account's terminal)", field=KEY_FIELD
        )
    row = SshKey(
        account_id=account_id,
        fingerprint=parsed.fingerprint,
        key_type=parsed.key_type,
        public_key_encrypted=cipher.encrypt(parsed.line, context=SSH_KEY_PUBLIC_KEY.context),
        name_encrypted=cipher.encrypt(shown_name, context=SSH_KEY_NAME.context),
        created_at=utcnow(),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same key registered at the same moment elsewhere
        raise Conflict("this key is registered already", field=KEY_FIELD) from None
    await audit.record(
        session,
        AuditAction.SSH_KEY_ADDED,
        actor=actor,
        account_id=account_id,
        details={"key_id": row.id, "fingerprint": parsed.fingerprint},
    )
    return _view(cipher, row)


async def list_ssh_keys(session: AsyncSession, cipher: Cipher, account_id: int) -> list[SshKeyView]:
    rows = await session.exec(
        select(SshKey).where(col(SshKey.account_id) == account_id).order_by(col(SshKey.id))
    )
    return [_view(cipher, row) for row in rows]


async def remove_ssh_key(
    session: AsyncSession, account_id: int, key_id: int, *, actor: Actor
) -> bool:
    """Remove one of the account's keys, effective for the next SSH connection; False when the
    account has no such key."""
    row = (
        await session.exec(
            select(SshKey).where(col(SshKey.id) == key_id, col(SshKey.account_id) == account_id)
        )
    ).first()
    if row is None:
        return False
    await session.exec(delete(SshKey).where(col(SshKey.id) == key_id))
    await audit.record(
        session,
        AuditAction.SSH_KEY_REMOVED,
        actor=actor,
        account_id=account_id,
        details={"key_id": key_id, "fingerprint": row.fingerprint},
    )
    return True


async def account_of_key(session: AsyncSession, key_type: str, encoded: str) -> int | None:
    """Whose terminal the key sshd was offered opens, or None. Nothing is written: sshd asks
    for every key a client offers, before it checks the client holds the private key."""
    try:
        parsed = parse_public_key(f"{key_type} {encoded}")
    except InvalidInput:
        return None
    row = (
        await session.exec(select(SshKey).where(col(SshKey.fingerprint) == parsed.fingerprint))
    ).first()
    if row is None or row.key_type != parsed.key_type:
        return None
    if await session.get(AccountDeletion, row.account_id) is not None:
        return None  # asked to be deleted: its ways in closed at once, as its sessions did
    if await session.get(AccountSuspension, row.account_id) is not None:
        return None  # suspended: no way in at all
    return row.account_id


def _view(cipher: Cipher, row: SshKey) -> SshKeyView:
    assert row.id is not None
    return SshKeyView(
        id=row.id,
        name=cipher.decrypt(row.name_encrypted, context=SSH_KEY_NAME.context),
        key_type=row.key_type,
        fingerprint=row.fingerprint,
        public_key=cipher.decrypt(row.public_key_encrypted, context=SSH_KEY_PUBLIC_KEY.context),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


async def key_of(session: AsyncSession, key_type: str, encoded: str) -> tuple[int, str] | None:
    """The account whose terminal the key sshd was offered opens, and the key's fingerprint;
    None for a key nobody registered (sshd then refuses it)."""
    account_id = await account_of_key(session, key_type, encoded)
    if account_id is None:
        return None
    return account_id, parse_public_key(f"{key_type} {encoded}").fingerprint


async def start_ssh_session(
    session: AsyncSession, settings: AccountSettings, account_id: int, fingerprint: str
) -> StartedSession:
    """A session for the terminal UI a customer opened over SSH with the key `fingerprint`,
    checked to be still theirs (a key removed, or an account asked to be deleted, opens
    nothing). Only the host-local channel calls this: sshd has checked the key's signature."""
    row = (
        await session.exec(
            select(SshKey).where(
                col(SshKey.fingerprint) == fingerprint, col(SshKey.account_id) == account_id
            )
        )
    ).first()
    if row is None or await session.get(AccountDeletion, account_id) is not None:
        raise Unauthorized("this SSH key opens no terminal any more", field="key")
    await refuse_if_suspended(session, account_id)
    row.last_used_at = utcnow()  # the customer's Profile shows it
    session.add(row)
    started = await start_session(session, account_id, settings)
    await audit.record(
        session,
        AuditAction.LOGIN_SUCCEEDED,
        actor=Actor.account(account_id),
        account_id=account_id,
        details={"session_id": started.session.id, "via": "ssh", "key": fingerprint},
    )
    return started
