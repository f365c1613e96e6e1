"""A third party's read through a grant: admitted within the grant's hourly limit, kept inside
the grant, answered from cells when the grant hides small counts (`ot.grants.cells`), and
logged for the customer (`grant_read`, with the whole query, encrypted) and audited, whether
answered or refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.permissions import Scope, reachable_site
from ot.config import Settings
from ot.errors import InvalidInput, NotFound, OtError
from ot.grants.cells import answer_in_cells
from ot.grants.fit import CLIPPED_WARNING, check_names, clip_to_window
from ot.grants.quota import admit
from ot.grants.store import live_grant, principal_of_grant
from ot.models import GRANT_READ_QUERY, Grant, GrantRead, Site
from ot.security import audit
from ot.security.audit import Actor, AuditAction
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from ot.sites.store import normalise_domain
from ot.stats.engine import QueryResult, run_query
from ot.stats.query import Query, conditions, parse_query
from ot.stats.render import v2_response

SITE_MISSING = "the site does not exist"
UNFINISHED = "unfinished: the read ended before an answer"


@dataclass(frozen=True)
class SmallCounts:
    """How the answer hid small counts: cells of `cells` under `threshold` visitors count
    nowhere."""

    threshold: int
    cells: tuple[str, ...]

    def as_meta(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "cells": list(self.cells)}


@dataclass(frozen=True)
class SharedAnswer:
    site: Site
    result: QueryResult
    small_counts: SmallCounts | None
    cells_hidden: int = 0  # for the customer's log only


def shared_response(answer: SharedAnswer) -> dict[str, Any]:
    """Plausible's v2 answer, saying how small counts were hidden."""
    response = v2_response(answer.result, answer.site.domain)
    if answer.small_counts is not None:
        response["meta"]["small_counts"] = answer.small_counts.as_meta()
    return response


def query_text(read: GrantRead, cipher: Cipher) -> dict[str, Any] | None:
    """The whole query of a read, as the third party sent it."""
    if read.query_encrypted is None:
        return None
    context = GRANT_READ_QUERY.context_for({"grant_id": read.grant_id})
    body: dict[str, Any] = json.loads(cipher.decrypt(read.query_encrypted, context=context))
    return body


async def _granted_site(session: AsyncSession, grant: Grant, site_ref: object) -> Site:
    """The site a query names by domain, if the grant covers it; any other exactly as missing."""
    missing = NotFound(SITE_MISSING, field="site_id")
    if not isinstance(site_ref, str):
        raise missing
    try:
        domain = normalise_domain(site_ref)
    except InvalidInput:
        raise missing from None
    site = (await session.exec(select(Site).where(Site.domain == domain))).first()
    if site is None or site.id is None:
        raise missing
    try:
        return await reachable_site(session, principal_of_grant(grant), site.id, Scope.STATS_READ)
    except NotFound:
        raise missing from None


async def read_through_grant(
    engine: AsyncEngine,
    cipher: Cipher,
    grant_id: int,
    via: str,
    body: dict[str, Any],
    *,
    now: datetime,
    reads_per_hour: int,
) -> SharedAnswer:
    """Answer a v2 query body through a grant, within its limits; log and audit the read,
    answered or refused. A read over the grant's hourly limit is refused before anything else
    and logged nowhere (nothing was read)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        grant = await live_grant(session, grant_id)
        await session.commit()  # admitting begins by writing (see `ot.grants.quota`)
        context = GRANT_READ_QUERY.context_for({"grant_id": grant_id})
        read = GrantRead(
            grant_id=grant_id,
            at=now,
            via=via,
            outcome="refused",
            reason=UNFINISHED,
            query_encrypted=cipher.encrypt(json.dumps(body, ensure_ascii=False), context=context),
        )
        await admit(session, read, now=now, reads_per_hour=reads_per_hour)
        shape: dict[str, Any] = {}
        try:
            site = await _granted_site(session, grant, body.get("site_id"))
            shape["site_id"] = site.id
            query = parse_query(body)
            shape["metrics"] = list(query.metrics)
            shape["dimensions"] = list(query.dimensions)
            shape["filtered_dimensions"] = sorted({c.dimension for c in conditions(query.filters)})
            check_names(grant, query)
            answer = await _answer(engine, grant, site, query, now)
        except OtError as error:
            shape["reason"] = f"{error.code}: {error.field or 'query'}"
            await _log(session, grant, read, shape)
            raise
        shape.update(
            outcome="answered",
            reason="",
            first_day=answer.result.time_range.first_day,
            last_day=answer.result.time_range.last_day,
            rows_returned=len(answer.result.rows),
            rows_hidden=answer.cells_hidden,
        )
        await _log(session, grant, read, shape)
        return answer


# The cipher of a query process (`ot.stats.processes`), made once from the settings it serves.
_process_cipher: Cipher | None = None


async def read_through_grant_in_query_process(
    engine: AsyncEngine,
    settings: Settings,
    grant_id: int,
    via: str,
    body: dict[str, Any],
    *,
    now: datetime,
) -> SharedAnswer:
    """`read_through_grant` as a query process runs it: keys never cross the pipe, the process
    reads them from the settings' secrets once (the cipher follows key rotation by itself)."""
    global _process_cipher
    if _process_cipher is None:
        _process_cipher = Cipher(load_secrets_of(settings))
    return await read_through_grant(
        engine, _process_cipher, grant_id, via, body,
        now=now, reads_per_hour=settings.grants.reads_per_hour,
    )  # fmt: skip


async def _answer(
    engine: AsyncEngine, grant: Grant, site: Site, query: Query, now: datetime
) -> SharedAnswer:
    async with engine.connect() as connection:
        if grant.min_visitors:
            cells = await answer_in_cells(connection, grant, site, query, now=now)
            small_counts = SmallCounts(grant.min_visitors, cells.shape.names)
            return SharedAnswer(site, cells.result, small_counts, cells.cells_hidden)
        query, clipped = await clip_to_window(connection, grant, site, query, now=now)
        result = await run_query(connection, site, query, now=now)
    if clipped:
        result.warnings.append(CLIPPED_WARNING)
    return SharedAnswer(site, result, None)


async def _log(session: AsyncSession, grant: Grant, read: GrantRead, shape: dict[str, Any]) -> None:
    """Complete the read's entry in the customer's log and the audit trail, in one
    transaction."""
    # End the transaction that read the site first: on SQLite a transaction that has read
    # cannot take the write lock once another connection (the collector) committed meanwhile,
    # while one that begins by writing waits its turn.
    await session.commit()
    assert read.id is not None
    await session.exec(update(GrantRead).where(col(GrantRead.id) == read.id).values(**shape))
    await audit.record(
        session,
        AuditAction.GRANT_READ,
        actor=Actor.grant(grant.id),
        account_id=grant.account_id,
        details={
            "grant_id": grant.id,
            "read_id": read.id,
            "site_id": shape.get("site_id"),
            "outcome": shape.get("outcome", "refused"),
        },
    )
    await session.commit()
