"""Erasing one visitor's hits on the customer's request (their visitor asked them to).

A visitor is named by the id stored with their hits (as the export shows it), by the tracker's
first-party id on cookie sites, or by IP address. IPs are kept only as each site's IP policy
says, encrypted with a random nonce: matching one decrypts the site's stored IPs in batches.
Where only the /24 (/48) network was kept, an IP matches every hit of that network, and the
answer says how many matched that way; where no IP was kept, nothing can match, and the answer
says so. Every visit a matched hit belongs to is erased whole, and the rollup days that counted
them are marked for rolling again, so the figures stop including the visitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Table, delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.errors import InvalidInput
from ot.ips import canonical_ip, truncate_ip
from ot.models import Site, VisitorOrdinal
from ot.privacy import IpPolicy, VisitorMode
from ot.rights.retention import HIT, PENDING, VISIT, local_days
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher
from ot.sites.usage import add_deleted_pageviews

ORDINAL: Table = VisitorOrdinal.__table__  # type: ignore[attr-defined]
_SCAN_BATCH = 2000
# Where a column keeps its encryption declaration, when the model declares one
# (`ot.models.columns`).
ENCRYPTED_INFO = "ot_encrypted"
LEGACY_IP_CONTEXT = "hit.ip"


def ip_contexts(site_id: int) -> list[str]:
    """The contexts a site's stored IPs may be encrypted under: the one the `hit.ip_encrypted`
    column declares (bound to the site) and the former ones, or the plain "hit.ip"."""
    declared = HIT.c.ip_encrypted.info.get(ENCRYPTED_INFO)
    if declared is None:
        return [LEGACY_IP_CONTEXT]
    return [declared.context_for({"site_id": site_id}), *declared.former_contexts]


def stored_ip(cipher: Cipher, sealed: str, site_id: int) -> str:
    """What a hit kept of its visitor's IP, decrypted."""
    for context in ip_contexts(site_id):
        try:
            return cipher.decrypt(sealed, context=context)
        except ValueError:
            continue
    raise ValueError(f"a stored IP of site {site_id} does not decrypt")


@dataclass
class ErasureReport:
    """Counts only: this is what the customer sees and what the audit trail keeps."""

    hits: int = 0
    visits: int = 0
    days_to_roll_again: int = 0
    matched_by_network: int = 0  # hits whose kept IP was only the network of the one asked for
    notes: list[str] = field(default_factory=list)


async def visit_ids_of_ip(
    engine: AsyncEngine, cipher: Cipher, site_id: int, ip: str
) -> tuple[set[int], int, int]:
    """The visits with a hit from `ip`: (visit ids, hits matched exactly, hits matched by
    network). Reads the site's stored IPs in batches: bounded memory on any table."""
    try:
        exact = canonical_ip(ip)
    except ValueError as error:
        raise InvalidInput(str(error), field="ip") from None
    network = truncate_ip(exact)
    visits: set[int] = set()
    by_address = by_network = 0
    last_id = 0
    while True:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa_select(HIT.c.id, HIT.c.visit_id, HIT.c.ip_encrypted)
                    .where(
                        HIT.c.site_id == site_id,
                        HIT.c.id > last_id,
                        HIT.c.ip_encrypted.is_not(None),
                    )
                    .order_by(HIT.c.id)
                    .limit(_SCAN_BATCH)
                )
            ).all()
        if not rows:
            return visits, by_address, by_network
        for hit_id, visit_id, sealed in rows:
            last_id = hit_id
            kept = stored_ip(cipher, sealed, site_id)
            if kept == exact:
                by_address += 1
                visits.add(visit_id)
            elif kept == network:
                by_network += 1
                visits.add(visit_id)


async def erase_visitor(
    engine: AsyncEngine,
    cipher: Cipher,
    site: Site,
    *,
    visitor_ids: set[int] | None = None,
    ip: str | None = None,
    actor: Actor,
    by_client_id: bool = False,
) -> ErasureReport:
    """Erase the visits (and their hits) of the named visitor ids, or of the visits with a hit
    from `ip`. Audited with counts only: never the visitor id or IP asked for."""
    assert site.id is not None
    if (visitor_ids is None) == (ip is None):
        raise InvalidInput("name the visitor by visitor_id, client_id or ip", field="body")
    report = ErasureReport()
    ip_visits: set[int] = set()
    if ip is not None:
        ip_visits, by_address, by_network = await visit_ids_of_ip(engine, cipher, site.id, ip)
        report.matched_by_network = by_network
        if by_network:
            report.notes.append(
                "this site kept only the network of some IPs (/24 for IPv4, /48 for IPv6): "
                f"{by_network} hits of other addresses in the same network were erased too"
            )
        if not by_address and not by_network:
            report.notes.append(_why_no_ip_matched(site))
    if ip_visits or visitor_ids:
        await _erase_visits(engine, site, ip_visits, visitor_ids or set(), report)
    if by_client_id and not report.hits and site.visitor_mode is VisitorMode.COOKIELESS:
        report.notes.append(
            "no hit matched: this site is cookieless, so trackers' ids were never used; "
            "name the visitor by visitor_id or ip instead"
        )
    async with AsyncSession(engine) as session:
        await audit.record(
            session,
            AuditAction.SITE_VISITOR_ERASED,
            actor=actor,
            account_id=site.account_id,
            details={
                "site_id": site.id,
                "by": "ip" if ip is not None else "visitor_id",
                "hits": report.hits,
                "visits": report.visits,
            },
        )
        await session.commit()
    return report


def _why_no_ip_matched(site: Site) -> str:
    if site.ip_policy is IpPolicy.NONE:
        return (
            "no hit matched: this site keeps no IP addresses (IP policy 'none'), so hits "
            "cannot be found by IP; name the visitor by visitor_id instead"
        )
    return "no hit of this site was stored with this IP address"


async def _erase_visits(
    engine: AsyncEngine, site: Site, visit_ids: set[int], visitor_ids: set[int],
    report: ErasureReport,
) -> None:  # fmt: skip
    """Delete the visits (those named, and every visit of the visitors named) with all their
    hits in one transaction, forget the visitors' rollup ordinals, and mark the days they were
    counted in as pending."""
    assert site.id is not None
    async with engine.begin() as connection:
        for chunk in _chunks(sorted(visitor_ids)):
            for table in (VISIT, HIT):
                column = table.c.id if table is VISIT else table.c.visit_id
                found = await connection.execute(
                    sa_select(column)
                    .where(table.c.site_id == site.id, table.c.visitor_id.in_(chunk))
                    .distinct()
                )
                visit_ids.update(row[0] for row in found)
        moments: list[datetime] = []
        for chunk in _chunks(sorted(visit_ids)):
            visits = (
                await connection.execute(
                    sa_select(VISIT.c.visitor_id, VISIT.c.started_at).where(
                        VISIT.c.site_id == site.id, VISIT.c.id.in_(chunk)
                    )
                )
            ).all()
            hits = (
                await connection.execute(
                    sa_select(HIT.c.visitor_id, HIT.c.timestamp).where(
                        HIT.c.site_id == site.id, HIT.c.visit_id.in_(chunk)
                    )
                )
            ).all()
            visitor_ids.update(row[0] for row in [*visits, *hits])
            moments += [row[1] for row in [*visits, *hits]]
            erased = (HIT.c.site_id == site.id) & HIT.c.visit_id.in_(chunk)
            await add_deleted_pageviews(connection, erased)  # still billed for their month
            result = await connection.execute(delete(HIT).where(erased))
            report.hits += result.rowcount
            result = await connection.execute(
                delete(VISIT).where(VISIT.c.site_id == site.id, VISIT.c.id.in_(chunk))
            )
            report.visits += result.rowcount
        for chunk in _chunks(sorted(visitor_ids)):
            remaining = await connection.execute(
                sa_select(VISIT.c.visitor_id)
                .where(VISIT.c.site_id == site.id, VISIT.c.visitor_id.in_(chunk))
                .distinct()
            )
            gone = set(chunk) - {row[0] for row in remaining}
            if gone:
                await connection.execute(
                    delete(ORDINAL).where(
                        ORDINAL.c.site_id == site.id, ORDINAL.c.visitor_id.in_(sorted(gone))
                    )
                )
        days = local_days(moments, site.timezone)
        await _mark_pending(connection, site.id, days)
        report.days_to_roll_again = len(days)


async def _mark_pending(connection: AsyncConnection, site_id: int, days: set[date]) -> None:
    if not days:
        return
    rows = [{"site_id": site_id, "day": day} for day in sorted(days)]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    await connection.execute(dialect.insert(PENDING).on_conflict_do_nothing(), rows)


def _chunks(values: list[int], size: int = 500) -> list[list[int]]:
    return [values[start : start + size] for start in range(0, len(values), size)]
