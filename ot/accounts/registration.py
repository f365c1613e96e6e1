"""Registration: a new account with its e-mail, password, contact details, data region and the
customer's express consent to hosting there; then the address is proven by a one-time link.

Registering answers alike whether the address is new or taken, so nobody can find out who is a
customer: for a taken address its owner gets a notice by mail instead of a link. Anyone can
register with any address, so these mails are capped per address (`ot.accounts.mail_quota`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import mail_quota
from ot.accounts.email_verification import (
    Purpose,
    consume_verification,
    issue_verification,
    verification_link,
)
from ot.accounts.passwords import check_new_password, hash_password_in_thread
from ot.accounts.profile import apply_email_change
from ot.accounts.store import (
    CONTACT_CONTEXTS,
    EMAIL_CONTEXT,
    NAME_CONTEXT,
    check_contact,
    check_email,
    check_name,
    check_region,
    email_index,
    find_account_by_email,
    record_consent,
)
from ot.clock import utcnow
from ot.config import AccountSettings
from ot.errors import InvalidInput
from ot.mailer import Mail
from ot.models import Account
from ot.security import audit
from ot.security.audit import ANONYMOUS, Actor, AuditAction
from ot.security.crypto import Cipher


@dataclass(frozen=True)
class Registration:
    """What a customer gives us to register."""

    name: str
    email: str
    password: str
    region: str
    consent: bool
    company: str = ""
    address: str = ""
    phone: str = ""


def check_consent(consent: bool) -> None:
    if consent is not True:
        raise InvalidInput(
            "we can only host your data with your express consent to hosting and transfer "
            "in the region you chose",
            field="consent",
        )


async def register(
    session: AsyncSession,
    cipher: Cipher,
    registration: Registration,
    settings: AccountSettings,
    *,
    link_base: str,
    mails: list[Mail],
) -> Account | None:
    """Create the account (unverified) and queue the verification mail; for a taken address
    queue a notice to its owner instead and return None."""
    name = check_name(registration.name)
    email = check_email(registration.email)
    check_new_password(registration.password, settings, email=email)
    contacts = {
        field: check_contact(field, getattr(registration, field)) for field in CONTACT_CONTEXTS
    }
    region = check_region(registration.region)
    check_consent(registration.consent)
    # Hashed before looking the address up, so a taken address answers as slowly as a new one.
    password_hash = await hash_password_in_thread(registration.password, settings)
    existing = await find_account_by_email(session, cipher, email)
    if existing is not None:
        await audit.record(
            session,
            AuditAction.ACCOUNT_REGISTRATION_FOR_TAKEN_EMAIL,
            actor=ANONYMOUS,
            account_id=existing.id,
        )
        await mail_quota.queue(
            session,
            cipher,
            mails,
            taken_address_notice(email),
            settings,
            kind="taken_address_notice",
            actor=ANONYMOUS,
            account_id=existing.id,
        )
        return None
    account = Account(
        name_encrypted=cipher.encrypt(name, context=NAME_CONTEXT),
        email_encrypted=cipher.encrypt(email, context=EMAIL_CONTEXT),
        email_index=email_index(cipher, email),
        region=region,
        password_hash=password_hash,
        created_at=utcnow(),
    )
    for field, value in contacts.items():
        if value:
            setattr(
                account,
                f"{field}_encrypted",
                cipher.encrypt(value, context=CONTACT_CONTEXTS[field]),
            )
    session.add(account)
    await session.flush()
    assert account.id is not None
    consent = await record_consent(session, account.id, region, settings)
    token = await issue_verification(session, account.id, Purpose.REGISTRATION, settings)
    await audit.record(
        session,
        AuditAction.ACCOUNT_REGISTERED,
        actor=Actor.account(account.id),
        account_id=account.id,
        details={
            "region": region,
            "consent_id": consent.id,
            "statement_version": consent.statement_version,
        },
    )
    await mail_quota.queue(
        session,
        cipher,
        mails,
        verification_mail(email, verification_link(link_base, token), settings),
        settings,
        kind="registration_link",
        actor=Actor.account(account.id),
        account_id=account.id,
    )
    return account


async def confirm_email(
    session: AsyncSession, cipher: Cipher, token: str, *, mails: list[Mail]
) -> Account:
    """Use a verification link: the registration's address is proven, or a new address takes
    the old one's place."""
    verification = await consume_verification(session, token)
    account = await session.get(Account, verification.account_id)
    assert account is not None
    if verification.purpose == Purpose.EMAIL_CHANGE:
        await apply_email_change(session, cipher, account, verification, mails=mails)
        return account
    if account.email_verified_at is None:
        account.email_verified_at = utcnow()
        session.add(account)
        await audit.record(
            session,
            AuditAction.ACCOUNT_VERIFIED,
            actor=Actor.account(account.id),
            account_id=account.id,
            details={"verification_id": verification.id},
        )
        await session.flush()
    return account


def verification_mail(to: str, link: str, settings: AccountSettings) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your opentracker account",
        text=(
            "Welcome to opentracker.\n\n"
            "To confirm this address and activate your account, open this link:\n\n"
            f"{link}\n\n"
            f"The link works once and expires in {settings.verification_link_hours} hours.\n"
            "If you did not register, ignore this message: without confirmation nobody can "
            "log in with this address.\n\n"
            "We never ask for your password or other personal details by e-mail.\n"
        ),
    )


def taken_address_notice(to: str) -> Mail:
    return Mail(
        to=to,
        subject="Someone tried to register with your address",
        text=(
            "Someone (perhaps you) tried to register a new opentracker account with this "
            "address, which already has an account. No new account was made and yours is "
            "unchanged.\n\n"
            "If it was you, simply log in. If not, you need not do anything.\n\n"
            "We never ask for your password or other personal details by e-mail.\n"
        ),
    )
