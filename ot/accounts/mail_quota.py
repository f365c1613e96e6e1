"""A cap on the mails that anyone can make us send to an address of their choice (registration
links and notices, new-address links, team invitations): past
`accounts.mails_per_address_per_day` in 24 hours nothing more is sent to that address, while the
answer to whoever asked stays the same, so a mailbox cannot be flooded through us and the cap
tells nobody anything about the address.

Notices about an account's own security (a changed password or address, throttled log-ins) are
never counted nor held back: a flood must not be able to silence them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import normalise_email
from ot.clock import utcnow
from ot.config import AccountSettings
from ot.mailer import Mail
from ot.models import MailQuota
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

PERIOD = timedelta(hours=24)


def _key(cipher: Cipher, address: str) -> str:
    return cipher.blind_index("mail:" + normalise_email(address))


async def take(
    session: AsyncSession,
    cipher: Cipher,
    address: str,
    settings: AccountSettings,
    now: datetime | None = None,
) -> bool:
    """Count one mail to `address`; False (nothing counted) when its share of the period is
    used up. Atomic per address, so parallel requests cannot all slip under the cap."""
    now = now or utcnow()
    key = _key(cipher, address)
    # Periods that are over are forgotten here, so the table holds little beyond the last day.
    await session.exec(delete(MailQuota).where(col(MailQuota.period_started_at) <= now - PERIOD))
    connection = await session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    await session.exec(
        insert(MailQuota)
        .values(key=key, period_started_at=now, mails=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    counted = await session.exec(
        update(MailQuota)
        .where(col(MailQuota.key) == key, col(MailQuota.mails) < settings.mails_per_address_per_day)
        .values(mails=col(MailQuota.mails) + 1)
    )
    return bool(counted.rowcount)


async def queue(
    session: AsyncSession,
    cipher: Cipher,
    mails: list[Mail],
    mail: Mail,
    settings: AccountSettings,
    *,
    kind: str,
    actor: Actor,
    account_id: int | None,
) -> bool:
    """Queue `mail` unless its address has had its share; a mail held back is audited (its kind
    only, never the address) for the account it concerns."""
    if await take(session, cipher, mail.to, settings):
        mails.append(mail)
        return True
    await audit.record(
        session,
        AuditAction.MAIL_HELD_BACK,
        actor=actor,
        account_id=account_id,
        details={"kind": kind},
    )
    return False
