"""Customer accounts. Registration, login and profiles come later; this is what owns sites."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.crypto import Cipher
from ot.errors import InvalidInput, NotFound
from ot.models import Account

NAME_CONTEXT = "account.name"
MAX_NAME_LENGTH = 200


async def create_account(session: AsyncSession, cipher: Cipher, name: str) -> Account:
    name = name.strip()
    if not name:
        raise InvalidInput("the account name must not be blank", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the account name is longer than {MAX_NAME_LENGTH} characters", field="name"
        )
    account = Account(
        name_encrypted=cipher.encrypt(name, context=NAME_CONTEXT), created_at=utcnow()
    )
    session.add(account)
    await session.flush()
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
