"""Exporting everything we hold about an account: one zip with `account.json` (the account's
fields decrypted, its sites and their settings, goals, API keys and sessions without any hash,
memberships, the deletion request, its audit trail) and `hits/site-<id>.csv` per site.

Hits are read in batches by id and written straight into the zip, so an export of any size
needs little memory. The zip goes to a file object the caller provides (a temporary file the
server then sends, or the operator's `--out` file).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.ssh_keys import list_ssh_keys
from ot.accounts.store import get_account
from ot.billing.invoices import list_invoices, rendering_of
from ot.clock import as_utc, utcnow
from ot.csv_cells import spreadsheet_safe_row
from ot.models import (
    INVOICE_PAYER_EMAIL,
    INVOICE_PAYER_ID,
    Account,
    AccountDeletion,
    ApiToken,
    AuditEntry,
    Goal,
    LoginSession,
    Membership,
    Site,
    Subscription,
)
from ot.rights.erasure import ENCRYPTED_INFO, stored_ip
from ot.rights.retention import HIT
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher

FORMAT = "opentracker-export/1"
HIT_BATCH = 5000
ACCOUNT: Table = Account.__table__  # type: ignore[attr-defined]

# Every `<field>_encrypted` column of Account is exported decrypted as `<field>`, under the
# context its column declares (`ot.security.crypto`), else "account.<field>", else the one given
# here (one line per field encrypted otherwise: its column name and its context).
CONTEXT_OF: dict[str, str] = {}
# Columns never exported, even hashed: they prove nothing to the customer and help an attacker
# (password hashes, blind indexes of e-mail addresses, second-factor secrets).
SECRET_PARTS = ("hash", "_index", "secret", "password", "totp", "recovery")


def _is_secret(name: str) -> bool:
    return any(part in name for part in SECRET_PARTS)


def _plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def account_fields(account: Account, cipher: Cipher) -> dict[str, Any]:
    """Every field of the account row, personal ones decrypted, secrets left out."""
    fields: dict[str, Any] = {}
    for column in ACCOUNT.columns:
        value = getattr(account, column.name)
        if _is_secret(column.name):
            continue
        if column.name.endswith("_encrypted"):
            name = column.name.removesuffix("_encrypted")
            declared = column.info.get(ENCRYPTED_INFO)
            if declared is not None:
                context = declared.context_for(account.model_dump())
            else:
                context = CONTEXT_OF.get(column.name, f"account.{name}")
            fields[name] = cipher.decrypt(value, context=context) if value else value
        else:
            fields[column.name] = _plain(value)
    return fields


def _row(model: SQLModel, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        name: _plain(value)
        for name, value in model.model_dump().items()
        if name not in leave_out and not _is_secret(name)
    }


Section = Callable[[AsyncSession, Account, Cipher], Awaitable[Any]]


async def _sites(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    sites = (await session.exec(select(Site).where(Site.account_id == account.id))).all()
    listed = []
    for site in sites:
        goals = (await session.exec(select(Goal).where(Goal.site_id == site.id))).all()
        listed.append(
            {**_row(site), "goals": [_row(goal) for goal in goals], "hits_file": _hits_file(site)}
        )
    return listed


async def _api_keys(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    keys = await session.exec(select(ApiToken).where(ApiToken.account_id == account.id))
    return [_row(key) for key in keys]


async def _ssh_keys(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    assert account.id is not None
    keys = await list_ssh_keys(session, cipher, account.id)
    return [{name: _plain(value) for name, value in asdict(key).items()} for key in keys]


async def _sessions(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    rows = await session.exec(select(LoginSession).where(LoginSession.account_id == account.id))
    return [_row(row) for row in rows]


async def _memberships(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    rows = await session.exec(
        select(Membership).where(
            or_(Membership.account_id == account.id, Membership.member_account_id == account.id)
        )
    )
    return [_row(row) for row in rows]


async def _deletion(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    request = await session.get(AccountDeletion, account.id)
    return None if request is None else _row(request)


async def _audit_entries(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    rows = await session.exec(
        select(AuditEntry).where(AuditEntry.account_id == account.id).order_by(col(AuditEntry.id))
    )
    return [_row(row) for row in rows]


async def _billing(session: AsyncSession, account: Account, cipher: Cipher) -> Any:
    """The plan, and every invoice as a record and as the text the customer received, with
    what PayPal told us of the payer."""
    assert account.id is not None
    subscription = await session.get(Subscription, account.id)
    invoices = []
    for invoice in await list_invoices(session, account_id=account.id):
        record = _row(invoice, leave_out=("rendering_encrypted",))
        for name, context in (("payer_id", INVOICE_PAYER_ID), ("payer_email", INVOICE_PAYER_EMAIL)):
            sealed = record.pop(f"{name}_encrypted", None)
            record[name] = cipher.decrypt(sealed, context=context.context) if sealed else None
        record["rendering"] = rendering_of(invoice, cipher)
        invoices.append(record)
    return {
        "plan": subscription.plan if subscription else None,
        "locked_at": _plain(subscription.locked_at) if subscription else None,
        "invoices": invoices,
    }


# The sections of account.json after "account". Another kind of data the account holds needs
# one function and one line here.
SECTIONS: dict[str, Section] = {
    "sites": _sites,
    "api_keys": _api_keys,
    "ssh_keys": _ssh_keys,
    "sessions": _sessions,
    "memberships": _memberships,
    "deletion": _deletion,
    "audit_entries": _audit_entries,
    "billing": _billing,
}


def _hits_file(site: Site) -> str:
    return f"hits/site-{site.id}.csv"


# The columns of a hits CSV: every column of `hit`, the encrypted IP replaced by what was kept.
HIT_COLUMNS = [column.name for column in HIT.columns if column.name != "ip_encrypted"] + ["ip"]


async def write_export(
    engine: AsyncEngine,
    cipher: Cipher,
    account_id: int,
    out: IO[bytes],
    *,
    actor: Actor,
    writer: AsyncEngine | None = None,
) -> dict[str, int]:
    """Write the account's export as a zip to `out`, and keep it in the trail with its counts;
    returns the counts (sites, hits). Read on `engine`; the entry is written on `writer` (on
    SQLite, the server's engine that takes the write lock first), else on `engine`."""
    async with AsyncSession(engine) as session:
        account = await get_account(session, account_id)
        document: dict[str, Any] = {
            "format": FORMAT,
            "exported_at": utcnow().isoformat(),
            "account": account_fields(account, cipher),
        }
        for name, section in SECTIONS.items():
            document[name] = await section(session, account, cipher)
        sites = list((await session.exec(select(Site).where(Site.account_id == account_id))).all())
    hits = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("account.json", json.dumps(document, indent=2, ensure_ascii=False))
        for site in sites:
            with archive.open(_hits_file(site), "w") as raw:
                hits += await _write_hits(engine, cipher, site, raw)
    counts = {"sites": len(sites), "hits": hits}
    async with AsyncSession(writer or engine) as session:
        await audit.record(
            session,
            AuditAction.ACCOUNT_EXPORTED,
            actor=actor,
            account_id=account_id,
            details=counts,
        )
        await session.commit()
    return counts


async def _write_hits(engine: AsyncEngine, cipher: Cipher, site: Site, raw: IO[bytes]) -> int:
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(HIT_COLUMNS)
    written = 0
    last_id = 0
    while True:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa_select(HIT)
                    .where(HIT.c.site_id == site.id, HIT.c.id > last_id)
                    .order_by(HIT.c.id)
                    .limit(HIT_BATCH)
                )
            ).all()
        if not rows:
            break
        for row in rows:
            values = row._mapping
            last_id = values["id"]
            sealed = values["ip_encrypted"]
            ip = stored_ip(cipher, sealed, site.id or 0) if sealed else ""
            cells = [csv_value(values[name]) for name in HIT_COLUMNS if name != "ip"] + [ip]
            writer.writerow(spreadsheet_safe_row(cells))
        written += len(rows)
    text.flush()
    text.detach()
    return written


def csv_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return value  # a number (revenue): kept a number, never escaped as text
    return _plain(value)
