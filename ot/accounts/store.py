"""Customer accounts: what owns sites, and the helpers every account module shares (the
encryption context of each personal field, e-mail normalisation and lookup by blind index).
Registration is in `ot.accounts.registration`, log-in in `ot.accounts.login`, the profile in
`ot.accounts.profile`."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.passwords import password_matches_in_thread
from ot.clock import utcnow
from ot.config import AccountSettings
from ot.errors import InvalidInput, NotFound
from ot.models import (
    ACCOUNT_ADDRESS,
    ACCOUNT_COMPANY,
    ACCOUNT_EMAIL,
    ACCOUNT_NAME,
    ACCOUNT_PHONE,
    ACCOUNT_TOTP_SECRET,
    Account,
    Consent,
)
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

NAME_CONTEXT = ACCOUNT_NAME.context
EMAIL_CONTEXT = ACCOUNT_EMAIL.context
COMPANY_CONTEXT = ACCOUNT_COMPANY.context
ADDRESS_CONTEXT = ACCOUNT_ADDRESS.context
PHONE_CONTEXT = ACCOUNT_PHONE.context
TOTP_SECRET_CONTEXT = ACCOUNT_TOTP_SECRET.context
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254

# Where a request sends its personal fields: the field name and the encryption context of each.
CONTACT_CONTEXTS = {
    "company": COMPANY_CONTEXT,
    "address": ADDRESS_CONTEXT,
    "phone": PHONE_CONTEXT,
}
# The longest contact detail accepted, per field.
CONTACT_LIMITS = {"company": 200, "address": 500, "phone": 40}
REGIONS = ("nl", "us")


async def create_account(
    session: AsyncSession, cipher: Cipher, name: str, *, actor: Actor
) -> Account:
    """An account made by an operator (customers register through `ot.accounts.registration`)."""
    name = check_name(name)
    account = Account(
        name_encrypted=cipher.encrypt(name, context=NAME_CONTEXT), created_at=utcnow()
    )
    session.add(account)
    await session.flush()
    await audit.record(session, AuditAction.ACCOUNT_CREATED, actor=actor, account_id=account.id)
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist", field="account")
    return account


async def list_accounts(session: AsyncSession) -> list[Account]:
    return list((await session.exec(select(Account).order_by(Account.id))).all())  # type: ignore[arg-type]


def account_name(account: Account, cipher: Cipher) -> str:
    return cipher.decrypt(account.name_encrypted, context=NAME_CONTEXT)


def normalise_email(email: str) -> str:
    """The form addresses are compared in: trimmed and lower-cased."""
    return email.strip().lower()


def check_email(email: str, *, field: str = "email") -> str:
    """The normalised address, or InvalidInput when it cannot be one."""
    normalised = normalise_email(email)
    local, at, domain = normalised.rpartition("@")
    if len(normalised) > MAX_EMAIL_LENGTH or not at or not local or "." not in domain:
        raise InvalidInput("this is not an e-mail address", field=field)
    if any(character.isspace() for character in normalised):
        raise InvalidInput("an e-mail address has no spaces", field=field)
    return normalised


def email_index(cipher: Cipher, email: str) -> str:
    """The blind index an address is looked up by (never the address itself)."""
    return cipher.blind_index(normalise_email(email))


async def find_account_by_email(
    session: AsyncSession, cipher: Cipher, email: str
) -> Account | None:
    index = email_index(cipher, email)
    return (await session.exec(select(Account).where(Account.email_index == index))).first()


def account_email(account: Account, cipher: Cipher) -> str | None:
    if account.email_encrypted is None:
        return None
    return cipher.decrypt(account.email_encrypted, context=EMAIL_CONTEXT)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("the account name must not be blank", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the account name is longer than {MAX_NAME_LENGTH} characters", field="name"
        )
    return name


def check_contact(field: str, value: str) -> str:
    """A contact detail trimmed, within its length limit (empty means none)."""
    value = value.strip()
    if len(value) > CONTACT_LIMITS[field]:
        raise InvalidInput(
            f"{field} is longer than {CONTACT_LIMITS[field]} characters", field=field
        )
    return value


def check_region(region: str) -> str:
    if region not in REGIONS:
        raise InvalidInput("the data region is 'nl' or 'us'", field="region")
    return region


async def record_consent(
    session: AsyncSession, account_id: int, region: str, settings: AccountSettings
) -> Consent:
    """Keep the customer's express consent to hosting and transfer in `region` (a new row each
    time: earlier consents stay on record)."""
    consent = Consent(
        account_id=account_id,
        region=region,
        statement_version=settings.consent_statement_version,
        given_at=utcnow(),
    )
    session.add(consent)
    await session.flush()
    return consent


async def password_confirms(session: AsyncSession, account_id: int, password: str) -> bool:
    """Whether `password` is the account's: asked again before acts that cannot be undone.
    An account without a password (made by an operator) never confirms."""
    account = await get_account(session, account_id)
    if account.password_hash is None:
        return False
    return await password_matches_in_thread(password, account.password_hash)
