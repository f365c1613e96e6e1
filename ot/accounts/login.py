"""Log-in: e-mail and password (and the second factor where it is on) for a new session; and
proving it is you again (`confirm_identity`) before changing how an account logs in.

Refusals never tell whether an address is registered, nor, with the second factor on, whether
the password was right: an unknown address, a wrong password and a right password without the
right code all get the same answer, and an unknown address, through a dummy hash, takes as long.
Failures are throttled per address and per IP (`ot.accounts.login_throttle`), re-authentications
with log-ins; when an account starts being throttled its owner is told by mail. Every attempt is in
the audit trail (ids and reasons only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import login_throttle as throttle
from ot.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    password_matches_in_thread,
    spend_verification_time,
    verify_password_in_thread,
)
from ot.accounts.second_factor import check_totp, use_recovery_code
from ot.accounts.sessions import StartedSession, start_session
from ot.accounts.store import account_email, find_account_by_email, normalise_email
from ot.accounts.suspension import refuse_if_suspended
from ot.clock import SYSTEM_CLOCK, Clock
from ot.config import AccountSettings
from ot.errors import Forbidden, TooManyRequests, Unauthorized
from ot.mailer import Mail
from ot.models import Account, AccountSuspension
from ot.security import audit
from ot.security.audit import ANONYMOUS, Actor, AuditAction
from ot.security.crypto import Cipher

# One answer for every wrong log-in, so that none tells more than another: which part was wrong
# would tell a guesser that the password was right, or that the account has a second factor.
WRONG_CREDENTIALS = (
    "the e-mail address, the password or the code is not right (with the second factor on, "
    "send the code from your authenticator app, or a recovery code, with the password)"
)


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    totp_code: str | None = None
    recovery_code: str | None = None


async def log_in(
    session: AsyncSession,
    cipher: Cipher,
    credentials: Credentials,
    ip: str,
    settings: AccountSettings,
    *,
    mails: list[Mail],
    clock: Clock = SYSTEM_CLOCK,
) -> StartedSession:
    """A new session for the account, or a refusal after its failure is counted and audited.
    Commits once itself (see below); the caller commits the rest, also when this raises.
    Throttling reads the time from `clock`."""
    now = clock.now()
    email = normalise_email(credentials.email)
    keys = [throttle.email_key(cipher, email), throttle.ip_key(cipher, ip)]
    account = await find_account_by_email(session, cipher, email) if email else None
    account_id = account.id if account is not None else None
    # A cheap refusal first, without spending a verification; checked again under the lock.
    early_wait = await throttle.wait_seconds(session, keys, now)
    password = credentials.password
    known = account is not None and account.password_hash is not None
    matches, new_hash = False, None
    if not early_wait:
        if not known or len(password) > MAX_PASSWORD_LENGTH:
            await spend_verification_time(password, settings)
        else:
            assert account is not None and account.password_hash is not None
            matches, new_hash = await verify_password_in_thread(
                password, account.password_hash, settings
            )

    # End the read-only part before writing: on SQLite a transaction that has read cannot wait
    # for the write lock (another writer's commit makes it fail at once), one that starts by
    # writing can. Everything below runs under the lock of this address's and IP's counts.
    await session.commit()
    now = clock.now()
    await throttle.lock(session, keys, now)
    wait = early_wait or await throttle.wait_seconds(session, keys, now)
    if wait:
        await audit.record(
            session,
            AuditAction.LOGIN_THROTTLED,
            actor=ANONYMOUS,
            account_id=account_id,
            details={"retry_after": wait},
        )
        raise TooManyRequests(
            f"too many failed log-ins: try again in {wait} seconds", retry_after=wait
        )
    if account_id is not None:
        account = await session.get(Account, account_id, populate_existing=True)
    if not matches:
        reason = "wrong_password" if known else "unknown_account"
        await _failed(session, cipher, account, keys, settings, reason, mails, now)
        raise Unauthorized(WRONG_CREDENTIALS, field="password")
    assert account is not None
    assert account.id is not None
    # The second factor before anything else that would tell the password was right.
    if account.totp_enabled_at is not None:
        code = credentials.recovery_code or credentials.totp_code
        passed = await second_factor_passes(session, cipher, account, code)
        if not passed:
            reason = "wrong_second_factor" if code else "missing_second_factor"
            await _failed(session, cipher, account, keys, settings, reason, mails, now)
            raise Unauthorized(WRONG_CREDENTIALS, field="password")
    if account.email_verified_at is None:
        await audit.record(
            session,
            AuditAction.LOGIN_REFUSED,
            actor=ANONYMOUS,
            account_id=account.id,
            details={"reason": "email_not_verified"},
        )
        raise Forbidden(
            "confirm your e-mail address first: open the link we sent to it", field="email"
        )
    if await session.get(AccountSuspension, account.id) is not None:
        await audit.record(
            session,
            AuditAction.LOGIN_REFUSED,
            actor=ANONYMOUS,
            account_id=account.id,
            details={"reason": "account_suspended"},
        )
        await refuse_if_suspended(session, account.id)

    if new_hash is not None:
        account.password_hash = new_hash  # hashed again with the current parameters
    session.add(account)
    await throttle.forget(session, keys[0], keys[1])
    started = await start_session(session, account.id, settings)
    await audit.record(
        session,
        AuditAction.LOGIN_SUCCEEDED,
        actor=Actor.account(account.id),
        account_id=account.id,
        details={
            "session_id": started.session.id,
            "second_factor": account.totp_enabled_at is not None,
            "rehashed": new_hash is not None,
        },
    )
    return started


async def second_factor_passes(
    session: AsyncSession, cipher: Cipher, account: Account, code: str | None
) -> bool:
    """Whether `code` is the app's code for now (used up) or an unused recovery code (spent and
    audited)."""
    assert account.id is not None
    if not code:
        return False
    if check_totp(cipher, account, code):
        return True
    if not await use_recovery_code(session, account, code):
        return False
    await audit.record(
        session,
        AuditAction.SECOND_FACTOR_RECOVERY_CODE_USED,
        actor=Actor.account(account.id),
        account_id=account.id,
    )
    return True


@dataclass(frozen=True)
class Proof:
    """What a logged-in customer gives again before changing how the account logs in: the
    current password and, with the second factor on, a code from the app or a recovery code."""

    password: str
    code: str | None = None


async def confirm_identity(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    proof: Proof,
    ip: str,
    settings: AccountSettings,
    *,
    refused_action: AuditAction,
    actor: Actor,
    mails: list[Mail],
    field: str = "current_password",
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Refuse unless `proof` holds the account's current password and, when the second factor is
    on, a right code. A session alone is not enough to change how an account logs in: whoever
    found a session open must not lock its owner out.

    Wrong proofs count as failed log-ins of the account's address and of the IP, so guesses
    made here and at log-in share one budget, and are throttled alike (429). Each refusal is
    audited as `refused_action` with its reason. The caller's transaction began with
    `ot.db.start_writing`; it must commit refusals too."""
    assert account.id is not None
    email = account_email(account, cipher)
    address_key = throttle.email_key(cipher, email) if email else f"account:{account.id}"
    keys = [address_key, throttle.ip_key(cipher, ip)]
    now = clock.now()
    await throttle.lock(session, keys, now)
    second_factor = account.totp_enabled_at is not None

    async def refuse(reason: str) -> None:
        await audit.record(
            session, refused_action, actor=actor, account_id=account.id, details={"reason": reason}
        )

    wait = await throttle.wait_seconds(session, keys, now)
    if wait:
        await refuse("throttled")
        raise TooManyRequests(
            f"too many wrong passwords or codes: try again in {wait} seconds", retry_after=wait
        )
    if second_factor and not proof.code:
        # Said before the password is checked, so it tells nothing about the password; the
        # caller, logged in, knows the second factor is on anyway.
        await refuse("missing_second_factor")
        raise Forbidden(
            "the second factor is on: send a code from your authenticator app (or a recovery "
            "code) with the password",
            field="code",
        )
    password_right = (
        account.password_hash is not None
        and len(proof.password) <= MAX_PASSWORD_LENGTH
        and await password_matches_in_thread(proof.password, account.password_hash)
    )
    # The code is tried only with the right password, so a wrong guess never spends one.
    code_right = not second_factor or (
        password_right and await second_factor_passes(session, cipher, account, proof.code)
    )
    if not (password_right and code_right):
        reason = "wrong_password" if not password_right else "wrong_second_factor"
        await _failed(
            session,
            cipher,
            account,
            keys,
            settings,
            reason,
            mails,
            now,
            action=refused_action,
            actor=actor,
        )
        raise Forbidden(
            "the password or the code is not right"
            if second_factor
            else "the current password is not right",
            field=field,
        )
    await throttle.forget(session, keys[0], keys[1])
    session.add(account)
    await session.flush()


async def _failed(
    session: AsyncSession,
    cipher: Cipher,
    account: Account | None,
    keys: list[str],
    settings: AccountSettings,
    reason: str,
    mails: list[Mail],
    now: datetime,
    *,
    action: AuditAction = AuditAction.LOGIN_FAILED,
    actor: Actor = ANONYMOUS,
) -> None:
    account_id = account.id if account is not None else None
    started_throttling = await throttle.record_failure(
        session, keys[0], settings.login_failures_before_delay, settings, now
    )
    await throttle.record_failure(
        session, keys[1], settings.login_ip_failures_before_delay, settings, now
    )
    await audit.record(
        session,
        action,
        actor=actor,
        account_id=account_id,
        details={"reason": reason},
    )
    email = account_email(account, cipher) if account is not None else None
    if started_throttling and email and account is not None and account.email_verified_at:
        mails.append(throttle_notice(email))


def throttle_notice(to: str) -> Mail:
    return Mail(
        to=to,
        subject="Repeated failed log-ins to your opentracker account",
        text=(
            "Someone tried several times to log in to your opentracker account with a wrong "
            "password or code. We now slow further attempts down.\n\n"
            "If it was you, wait a moment and try again. If not, your account is safe as long "
            "as your password is: consider changing it and turning on the second factor.\n\n"
            "We never ask for your password or other personal details by e-mail.\n"
        ),
    )
