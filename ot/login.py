"""Log-in: e-mail and password (and the second factor where it is on) for a new session.

Refusals never tell whether an address is registered: an unknown address gets the same message
as a wrong password and, through a dummy hash, takes as long. Failures are throttled per address
and per IP (`ot.throttle`); when an account starts being throttled its owner is told by mail.
Every attempt is in the audit trail (ids and reasons only).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ot import audit, throttle
from ot.accounts import account_email, find_account_by_email, normalise_email
from ot.clock import utcnow
from ot.config import AccountSettings
from ot.crypto import Cipher
from ot.errors import Forbidden, TooManyRequests, Unauthorized
from ot.mailer import Mail
from ot.models import Account
from ot.passwords import MAX_PASSWORD_LENGTH, spend_verification_time, verify_password_in_thread
from ot.second_factor import check_totp, use_recovery_code
from ot.sessions import StartedSession, start_session

WRONG_CREDENTIALS = "the e-mail address or the password is not right"
ANONYMOUS = "anonymous"


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
) -> StartedSession:
    """A new session for the account, or a refusal after its failure is counted and audited.
    Commits once itself (see below); the caller commits the rest, also when this raises."""
    now = utcnow()
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
    await throttle.lock(session, keys, utcnow())
    wait = early_wait or await throttle.wait_seconds(session, keys, utcnow())
    if wait:
        await audit.record(
            session,
            "login.throttled",
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
        await _failed(session, cipher, account, keys, settings, reason, mails)
        raise Unauthorized(WRONG_CREDENTIALS, field="password")
    assert account is not None
    assert account.id is not None
    if account.email_verified_at is None:
        await audit.record(
            session,
            "login.refused",
            actor=ANONYMOUS,
            account_id=account.id,
            details={"reason": "email_not_verified"},
        )
        raise Forbidden(
            "confirm your e-mail address first: open the link we sent to it", field="email"
        )

    used_recovery_code = False
    if account.totp_enabled_at is not None:
        if not credentials.totp_code and not credentials.recovery_code:
            raise Unauthorized(
                "enter the code from your authenticator app (or a recovery code)",
                field="totp_code",
            )
        if credentials.recovery_code:
            used_recovery_code = await use_recovery_code(
                session, account, credentials.recovery_code
            )
            passed = used_recovery_code
        else:
            passed = check_totp(cipher, account, credentials.totp_code or "")
        if not passed:
            await _failed(session, cipher, account, keys, settings, "wrong_second_factor", mails)
            field = "recovery_code" if credentials.recovery_code else "totp_code"
            raise Unauthorized("the code is not right", field=field)
        if used_recovery_code:
            await audit.record(
                session,
                "second_factor.recovery_code_used",
                actor=f"account:{account.id}",
                account_id=account.id,
            )

    if new_hash is not None:
        account.password_hash = new_hash  # hashed again with the current parameters
    session.add(account)
    await throttle.forget(session, keys[0], keys[1])
    started = await start_session(session, account.id, settings)
    await audit.record(
        session,
        "login.succeeded",
        actor=f"account:{account.id}",
        account_id=account.id,
        details={
            "session_id": started.session.id,
            "second_factor": account.totp_enabled_at is not None,
            "rehashed": new_hash is not None,
        },
    )
    return started


async def _failed(
    session: AsyncSession,
    cipher: Cipher,
    account: Account | None,
    keys: list[str],
    settings: AccountSettings,
    reason: str,
    mails: list[Mail],
) -> None:
    now = utcnow()
    account_id = account.id if account is not None else None
    started_throttling = await throttle.record_failure(
        session, keys[0], settings.login_failures_before_delay, settings, now
    )
    await throttle.record_failure(
        session, keys[1], settings.login_ip_failures_before_delay, settings, now
    )
    await audit.record(
        session,
        "login.failed",
        actor=ANONYMOUS,
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
