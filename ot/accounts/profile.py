"""The customer's profile: read everything they gave us, correct it, and read back every change.

The log-in credentials are apart from the rest: a new e-mail address or password needs a
logged-in session to prove itself again (`ot.accounts.login.confirm_identity`: the current password
and, when on, the second factor), so an API key or a session found open cannot take the account
over. A new address takes effect only once a link mailed to it is used; a new password ends the
account's other sessions. Each change leaves a `ProfileChange` with who made it, when, which
fields, and the old values encrypted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import mail_quota
from ot.accounts.email_verification import Purpose, issue_verification, verification_link
from ot.accounts.login import Proof, confirm_identity
from ot.accounts.passwords import check_new_password, hash_password_in_thread
from ot.accounts.second_factor import confirm_enrolment, disable, ensure_on
from ot.accounts.sessions import revoke_all_sessions
from ot.accounts.store import (
    CONTACT_CONTEXTS,
    EMAIL_CONTEXT,
    NAME_CONTEXT,
    account_email,
    check_contact,
    check_email,
    check_name,
    check_region,
    email_index,
    find_account_by_email,
    record_consent,
)
from ot.clock import SYSTEM_CLOCK, Clock, utcnow
from ot.config import AccountSettings
from ot.errors import Conflict, InvalidInput
from ot.mailer import Mail
from ot.models import PROFILE_OLD_VALUES, Account, Consent, EmailVerification, ProfileChange
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

OLD_VALUES_CONTEXT = PROFILE_OLD_VALUES.context


@dataclass(frozen=True)
class ConsentRecord:
    region: str
    statement_version: str
    given_at: datetime


@dataclass(frozen=True)
class Profile:
    """Everything the customer gave us, decrypted."""

    id: int
    name: str
    email: str | None
    email_verified: bool
    pending_email: str | None
    company: str
    address: str
    phone: str
    region: str | None
    second_factor: bool
    created_at: datetime
    consents: list[ConsentRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileUpdate:
    """The fields to change; None leaves a field as it is. A new region needs `consent`. The
    e-mail address and the password are not among them (`request_email_change`,
    `change_password`)."""

    name: str | None = None
    company: str | None = None
    address: str | None = None
    phone: str | None = None
    region: str | None = None
    consent: bool | None = None


@dataclass(frozen=True)
class Change:
    """One entry of the history the customer reads."""

    at: datetime
    actor: str  # as the trail names it: `Actor.name`
    fields: list[str]
    old_values: dict[str, str | None]


async def _pending_email(session: AsyncSession, cipher: Cipher, account_id: int) -> str | None:
    row = (
        await session.exec(
            select(EmailVerification)
            .where(
                EmailVerification.account_id == account_id,
                EmailVerification.purpose == Purpose.EMAIL_CHANGE.value,
                col(EmailVerification.used_at).is_(None),
                col(EmailVerification.expires_at) > utcnow(),
            )
            .order_by(col(EmailVerification.id).desc())
        )
    ).first()
    if row is None or row.email_encrypted is None:
        return None
    return cipher.decrypt(row.email_encrypted, context=EMAIL_CONTEXT)


def _contact(account: Account, cipher: Cipher, name: str) -> str:
    value: str | None = getattr(account, f"{name}_encrypted")
    return "" if value is None else cipher.decrypt(value, context=CONTACT_CONTEXTS[name])


async def profile_of(session: AsyncSession, cipher: Cipher, account: Account) -> Profile:
    assert account.id is not None
    consents = await session.exec(
        select(Consent).where(Consent.account_id == account.id).order_by(col(Consent.id))
    )
    return Profile(
        id=account.id,
        name=cipher.decrypt(account.name_encrypted, context=NAME_CONTEXT),
        email=account_email(account, cipher),
        email_verified=account.email_verified_at is not None,
        pending_email=await _pending_email(session, cipher, account.id),
        company=_contact(account, cipher, "company"),
        address=_contact(account, cipher, "address"),
        phone=_contact(account, cipher, "phone"),
        region=account.region,
        second_factor=account.totp_enabled_at is not None,
        created_at=account.created_at,
        consents=[ConsentRecord(c.region, c.statement_version, c.given_at) for c in consents],
    )


async def record_change(
    session: AsyncSession,
    cipher: Cipher,
    account_id: int,
    actor: Actor,
    old_values: dict[str, str | None],
) -> ProfileChange:
    """Keep one change in the history: the fields, and their old values encrypted together."""
    change = ProfileChange(
        account_id=account_id,
        at=utcnow(),
        actor=actor.name,
        fields=sorted(old_values),
        old_values_encrypted=cipher.encrypt(
            json.dumps(old_values, sort_keys=True), context=OLD_VALUES_CONTEXT
        ),
    )
    session.add(change)
    await session.flush()
    return change


async def history_of(
    session: AsyncSession, cipher: Cipher, account_id: int, *, limit: int = 200
) -> list[Change]:
    """The account's profile changes, newest first."""
    rows = await session.exec(
        select(ProfileChange)
        .where(ProfileChange.account_id == account_id)
        .order_by(col(ProfileChange.id).desc())
        .limit(limit)
    )
    return [
        Change(
            at=row.at,
            actor=row.actor,
            fields=list(row.fields),
            old_values=json.loads(
                cipher.decrypt(row.old_values_encrypted, context=OLD_VALUES_CONTEXT)
            )
            if row.old_values_encrypted
            else {},
        )
        for row in rows
    ]


async def update_profile(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    update: ProfileUpdate,
    settings: AccountSettings,
    *,
    actor: Actor,
) -> list[str]:
    """Apply the changes; returns the fields changed now."""
    assert account.id is not None
    # Everything is checked before anything changes: a refusal leaves the account as it was.
    name = check_name(update.name) if update.name is not None else None
    contacts = {
        contact: check_contact(contact, value)
        for contact in CONTACT_CONTEXTS
        if (value := getattr(update, contact)) is not None
    }
    region = None
    if update.region is not None and update.region != account.region:
        region = check_region(update.region)
        if update.consent is not True:
            raise InvalidInput(
                "moving your data to another region needs your express consent to hosting and "
                "transfer there",
                field="consent",
            )

    old_values: dict[str, str | None] = {}
    if name is not None:
        old_name = cipher.decrypt(account.name_encrypted, context=NAME_CONTEXT)
        if name != old_name:
            old_values["name"] = old_name
            account.name_encrypted = cipher.encrypt(name, context=NAME_CONTEXT)
    for contact, value in contacts.items():
        old_value = _contact(account, cipher, contact)
        if value != old_value:
            old_values[contact] = old_value or None
            encrypted = cipher.encrypt(value, context=CONTACT_CONTEXTS[contact]) if value else None
            setattr(account, f"{contact}_encrypted", encrypted)
    if region is not None:
        old_values["region"] = account.region
        account.region = region
        await record_consent(session, account.id, region, settings)
    if old_values:
        session.add(account)
        await record_change(session, cipher, account.id, actor, old_values)
        await audit.record(
            session,
            AuditAction.PROFILE_CHANGED,
            actor=actor,
            account_id=account.id,
            details={"fields": sorted(old_values)},
        )
    await session.flush()
    return sorted(old_values)


async def request_email_change(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    new_email: str,
    proof: Proof,
    ip: str,
    settings: AccountSettings,
    *,
    actor: Actor,
    link_base: str,
    mails: list[Mail],
    clock: Clock = SYSTEM_CLOCK,
) -> bool:
    """Once `proof` shows it is the account's owner, mail a link to the new address (or, when
    another account has it, a notice that says so to that address only). False when the
    address is already the account's. Runs in a transaction begun by `ot.db.start_writing`."""
    assert account.id is not None
    email = check_email(new_email)
    await confirm_identity(
        session,
        cipher,
        account,
        proof,
        ip,
        settings,
        refused_action=AuditAction.EMAIL_CHANGE_REFUSED,
        actor=actor,
        mails=mails,
        clock=clock,
    )
    if account.email_index == email_index(cipher, email):
        return False
    # A pending change is recorded even for an address another account holds, so the profile
    # looks alike either way; only the mailbox owner learns which it was.
    token = await issue_verification(
        session,
        account.id,
        Purpose.EMAIL_CHANGE,
        settings,
        email_encrypted=cipher.encrypt(email, context=EMAIL_CONTEXT),
    )
    await audit.record(
        session, AuditAction.EMAIL_CHANGE_REQUESTED, actor=actor, account_id=account.id
    )
    owner = await find_account_by_email(session, cipher, email)
    if owner is not None:
        mail = Mail(
            to=email,
            subject="Your address was entered in another opentracker account",
            text=(
                "Someone asked to move another opentracker account to this address. It "
                "already belongs to your account, so nothing was changed.\n\n"
                "We never ask for your password or other personal details by e-mail.\n"
            ),
        )
    else:
        mail = Mail(
            to=email,
            subject="Confirm your new opentracker address",
            text=(
                "To make this the address of your opentracker account, open this link:\n\n"
                f"{verification_link(link_base, token)}\n\n"
                f"The link works once and expires in {settings.verification_link_hours} "
                "hours. Until then your account keeps its old address.\n\n"
                "We never ask for your password or other personal details by e-mail.\n"
            ),
        )
    # Any address can be entered here, so mails to it are capped like registrations'.
    await mail_quota.queue(
        session,
        cipher,
        mails,
        mail,
        settings,
        kind="address_notice" if owner is not None else "new_address_link",
        actor=actor,
        account_id=account.id,
    )
    await session.flush()
    return True


async def apply_email_change(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    verification: EmailVerification,
    *,
    mails: list[Mail],
) -> None:
    """The new address was proven: it replaces the old one (which is told so)."""
    assert account.id is not None and verification.email_encrypted is not None
    new_email = cipher.decrypt(verification.email_encrypted, context=EMAIL_CONTEXT)
    if await find_account_by_email(session, cipher, new_email) is not None:
        raise Conflict("this address now belongs to another account", field="token")
    old_email = account_email(account, cipher)
    account.email_encrypted = verification.email_encrypted
    account.email_index = email_index(cipher, new_email)
    account.email_verified_at = utcnow()
    session.add(account)
    actor = Actor.account(account.id)
    await record_change(session, cipher, account.id, actor, {"email": old_email})
    await audit.record(
        session,
        AuditAction.EMAIL_CHANGED,
        actor=actor,
        account_id=account.id,
        details={"verification_id": verification.id},
    )
    await session.flush()
    if old_email:
        mails.append(
            Mail(
                to=old_email,
                subject="Your opentracker address was changed",
                text=(
                    "The address of your opentracker account was changed to a new one, which "
                    "was confirmed through a link sent to it. This address no longer receives "
                    "mail about the account.\n\n"
                    "If you did not do this, contact us through the website right away.\n"
                ),
            )
        )


async def change_password(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    proof: Proof,
    new_password: str,
    ip: str,
    settings: AccountSettings,
    *,
    actor: Actor,
    keep_session_id: int | None,
    mails: list[Mail],
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Set a new password once `proof` shows it is the account's owner; ends every other
    session of the account and returns how many ended. Runs in a transaction begun by
    `ot.db.start_writing`."""
    assert account.id is not None
    # A refused new password must not spend the proof's one-time code.
    check_new_password(new_password, settings, email=account_email(account, cipher) or "")
    await confirm_identity(
        session,
        cipher,
        account,
        proof,
        ip,
        settings,
        refused_action=AuditAction.PASSWORD_CHANGE_REFUSED,
        actor=actor,
        mails=mails,
        clock=clock,
    )
    account.password_hash = await hash_password_in_thread(new_password, settings)
    session.add(account)
    ended = await revoke_all_sessions(session, account.id, except_session_id=keep_session_id)
    await record_change(session, cipher, account.id, actor, {"password": None})
    await audit.record(
        session,
        AuditAction.PASSWORD_CHANGED,
        actor=actor,
        account_id=account.id,
        details={"other_sessions_ended": ended},
    )
    email = account_email(account, cipher)
    if email:
        mails.append(
            Mail(
                to=email,
                subject="Your opentracker password was changed",
                text=(
                    "The password of your opentracker account was changed, and every other "
                    "session was logged out.\n\n"
                    "If you did not do this, contact us through the website right away.\n"
                ),
            )
        )
    await session.flush()
    return ended


async def turn_on_second_factor(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    password: str,
    code: str,
    ip: str,
    settings: AccountSettings,
    *,
    actor: Actor,
    mails: list[Mail],
    clock: Clock = SYSTEM_CLOCK,
) -> list[str]:
    """Turn the second factor on with the first `code` from the app, once the current password
    shows it is the account's owner; answers the recovery codes. Whoever found a session open
    must not tie the account to an app of theirs: its owner could no longer log in. Runs in a
    transaction begun by `ot.db.start_writing`."""
    if account.totp_enabled_at is not None:
        raise Conflict("the second factor is already on", field="second_factor")
    await confirm_identity(
        session,
        cipher,
        account,
        Proof(password),
        ip,
        settings,
        refused_action=AuditAction.SECOND_FACTOR_ENABLE_REFUSED,
        actor=actor,
        mails=mails,
        field="password",
        clock=clock,
    )
    codes = await confirm_enrolment(session, cipher, account, code, actor=actor)
    email = account_email(account, cipher)
    if email:
        mails.append(
            Mail(
                to=email,
                subject="Your opentracker account now asks for a second factor",
                text=(
                    "Logging in to your opentracker account now asks for a code from an "
                    "authenticator app as well as the password.\n\n"
                    "If you did not do this, contact us through the website right away.\n"
                ),
            )
        )
    return codes


async def turn_off_second_factor(
    session: AsyncSession,
    cipher: Cipher,
    account: Account,
    proof: Proof,
    ip: str,
    settings: AccountSettings,
    *,
    actor: Actor,
    mails: list[Mail],
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Turn the second factor off once `proof` (the password and a code from the app or a
    recovery code) shows it is the account's owner. Runs in a transaction begun by
    `ot.db.start_writing`."""
    ensure_on(account)
    await confirm_identity(
        session,
        cipher,
        account,
        proof,
        ip,
        settings,
        refused_action=AuditAction.SECOND_FACTOR_DISABLE_REFUSED,
        actor=actor,
        mails=mails,
        field="code",
        clock=clock,
    )
    await disable(session, account, actor=actor)
