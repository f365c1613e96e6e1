"""The optional second factor: a TOTP authenticator app (RFC 6238, through pyotp) and one-time
recovery codes for when the app is lost.

Enrolment stores the secret (encrypted) but enables nothing until a code from the app confirms
it; confirming returns the recovery codes, shown that once and stored only as hashes. Each TOTP
code works once (the last time step used is kept), each recovery code once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import TOTP_SECRET_CONTEXT, account_email
from ot.clock import utcnow
from ot.errors import Conflict, InvalidInput
from ot.models import Account, RecoveryCode
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

ISSUER = "opentracker"
RECOVERY_CODE_COUNT = 10
# Codes from one step before or after now are accepted too: clocks drift and people type slowly.
ACCEPTED_STEP_DRIFT = 1


@dataclass(frozen=True)
class Enrolment:
    """What the customer copies into the authenticator app."""

    secret: str
    provisioning_uri: str


def _totp(cipher: Cipher, account: Account) -> pyotp.TOTP:
    assert account.totp_secret_encrypted is not None
    return pyotp.TOTP(cipher.decrypt(account.totp_secret_encrypted, context=TOTP_SECRET_CONTEXT))


def begin_enrolment(cipher: Cipher, account: Account) -> Enrolment:
    """A new secret for the account, waiting for `confirm_enrolment`."""
    if account.totp_enabled_at is not None:
        raise Conflict("the second factor is already on: turn it off first", field="second_factor")
    secret = pyotp.random_base32()
    account.totp_secret_encrypted = cipher.encrypt(secret, context=TOTP_SECRET_CONTEXT)
    account.totp_last_step = None
    label = account_email(account, cipher) or f"account {account.id}"
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def _normalise_code(code: str) -> str:
    return "".join(code.split())


def check_totp(cipher: Cipher, account: Account, code: str) -> bool:
    """Whether the code is the app's for now (or one step around it) and was not used before;
    a matching code is used up."""
    code = _normalise_code(code)
    if account.totp_secret_encrypted is None or not code.isdigit() or len(code) != 6:
        return False
    totp = _totp(cipher, account)
    now_step = totp.timecode(utcnow())
    for step in range(now_step - ACCEPTED_STEP_DRIFT, now_step + ACCEPTED_STEP_DRIFT + 1):
        if account.totp_last_step is not None and step <= account.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            account.totp_last_step = step
            return True
    return False


def _recovery_digest(code: str) -> str:
    # 80 random bits: a plain hash cannot be searched backwards.
    normalised = "".join(character for character in code.lower() if character.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def _replace_recovery_codes(session: AsyncSession, account_id: int) -> list[str]:
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.account_id) == account_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    now = utcnow()
    for code in codes:
        session.add(
            RecoveryCode(account_id=account_id, code_hash=_recovery_digest(code), created_at=now)
        )
    await session.flush()
    return codes


async def confirm_enrolment(
    session: AsyncSession, cipher: Cipher, account: Account, code: str, *, actor: Actor
) -> list[str]:
    """Turn the second factor on with a first code from the app; returns the recovery codes."""
    assert account.id is not None
    if account.totp_enabled_at is not None:
        raise Conflict("the second factor is already on", field="second_factor")
    if account.totp_secret_encrypted is None:
        raise InvalidInput("start the enrolment first", field="second_factor")
    if not check_totp(cipher, account, code):
        raise InvalidInput(
            "the code is not right: check the app's clock and try again", field="code"
        )
    account.totp_enabled_at = utcnow()
    session.add(account)
    codes = await _replace_recovery_codes(session, account.id)
    await audit.record(
        session, AuditAction.SECOND_FACTOR_ENABLED, actor=actor, account_id=account.id
    )
    return codes


async def use_recovery_code(session: AsyncSession, account: Account, code: str) -> bool:
    """Spend one of the account's unused recovery codes; False when it is not one."""
    if len(code) > 64:
        return False
    row = (
        await session.exec(
            select(RecoveryCode).where(
                RecoveryCode.account_id == account.id,
                RecoveryCode.code_hash == _recovery_digest(code),
                col(RecoveryCode.used_at).is_(None),
            )
        )
    ).first()
    if row is None:
        return False
    row.used_at = utcnow()
    session.add(row)
    await session.flush()
    return True


def ensure_on(account: Account) -> None:
    if account.totp_enabled_at is None:
        raise Conflict("the second factor is not on", field="second_factor")


async def disable(session: AsyncSession, account: Account, *, actor: Actor) -> None:
    """Turn the second factor off. Only once the owner proved itself with the password and a
    code (`ot.accounts.profile.turn_off_second_factor`)."""
    assert account.id is not None
    ensure_on(account)
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    session.add(account)
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.account_id) == account.id))
    await audit.record(
        session, AuditAction.SECOND_FACTOR_DISABLED, actor=actor, account_id=account.id
    )
    await session.flush()
