"""How far each log has been imported: read before an import starts, and moved forward in the
same transaction as each batch of hits, so a crash never loses or repeats lines. A log's position
is recorded with its first batch: an import that stores nothing of a log records none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.logimport.sources import identity_of
from ot.models import LogImport, Site
from ot.security import audit
from ot.security.audit import Actor, AuditAction

TABLE = LogImport.__table__  # type: ignore[attr-defined]


@dataclass
class ImportPosition:
    """Where the import of one log stands."""

    site_id: int
    identity: str  # see ot.logimport.sources.file_identity
    path: str
    byte_offset: int = 0  # bytes of complete lines imported, in the uncompressed log
    lines_read: int = 0
    # What the lines before the offset were imported with (see ImportOptions.switches).
    switches: str = ""
    line_counts: str | None = None  # ot.logimport.identity.LineCounts at the offset

    def restart(self) -> None:
        """Back to the log's start."""
        self.byte_offset = self.lines_read = 0
        self.line_counts = None


def read(connection: Connection, *, site_id: int, identity: str, path: str) -> ImportPosition:
    """The position of a log; its start when none is recorded."""
    row = connection.execute(
        select(
            TABLE.c.byte_offset, TABLE.c.lines_read, TABLE.c.switches, TABLE.c.line_counts
        ).where(TABLE.c.site_id == site_id, TABLE.c.file_identity == identity)
    ).one_or_none()
    position = ImportPosition(site_id, identity, path)
    if row is not None:
        position.byte_offset, position.lines_read = row.byte_offset, row.lines_read
        # None: recorded before switches were, and the defaults were all there was for most.
        position.switches = row.switches or ""
        position.line_counts = row.line_counts
    return position


def save(connection: Connection, position: ImportPosition, now: datetime) -> None:
    """Record a position. Two imports of one log at once share its row: their lines are stored
    once either way (see ot.logimport.identity)."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {
        "path": position.path,
        "byte_offset": position.byte_offset,
        "lines_read": position.lines_read,
        "switches": position.switches,
        "line_counts": position.line_counts,
        "updated_at": now,
    }
    statement = dialect_insert(TABLE).values(
        site_id=position.site_id,
        file_identity=position.identity,
        started_at=now,
        position_based_ids=False,
        **values,
    )
    connection.execute(
        statement.on_conflict_do_update(index_elements=["site_id", "file_identity"], set_=values)
    )


def forget(connection: Connection, *, site_id: int, identity: str, now: datetime) -> int | None:
    """Forget how far a log was imported, so that it is read again from its start. Answers the
    lines that had been read (None: nothing was recorded). The row itself stays: it may say that
    the log's hits have ids of an earlier version (see `has_position_based_ids`)."""
    row = connection.execute(
        select(TABLE.c.id, TABLE.c.lines_read, TABLE.c.byte_offset).where(
            TABLE.c.site_id == site_id, TABLE.c.file_identity == identity
        )
    ).one_or_none()
    if row is None or row.byte_offset == 0:
        return None
    connection.execute(
        update(TABLE)
        .where(TABLE.c.id == row.id)
        .values(byte_offset=0, lines_read=0, line_counts=None, updated_at=now)
    )
    return int(row.lines_read)


async def forget_positions(
    session: AsyncSession, site: Site, names: list[str], *, actor: Actor
) -> list[tuple[str, int | None]]:
    """Forget how far each of these logs was imported (`forget`), in the caller's transaction;
    answers each name with the lines that had been read. Every file is read before anything is
    forgotten: a missing one changes nothing."""
    site_id = site.id
    assert site_id is not None
    identities = [(name, identity_of(site_id, name)) for name in names]
    forgotten: list[tuple[str, int | None]] = []
    for name, identity in identities:
        lines_read = None
        if identity is not None:
            lines_read = await session.run_sync(_forget_in, site_id, identity)
        forgotten.append((name, lines_read))
    count = sum(lines is not None for _, lines in forgotten)
    if count:
        await audit.record(
            session,
            AuditAction.LOG_POSITION_FORGOTTEN,
            actor=actor,
            account_id=site.account_id,
            details={"site_id": site_id, "forgotten": count},
        )
    return forgotten


def _forget_in(sync: Session, site_id: int, identity: str) -> int | None:
    return forget(sync.connection(), site_id=site_id, identity=identity, now=utcnow())


def has_position_based_ids(connection: Connection, site_id: int) -> bool:
    """Whether logs were imported into the site before line ids were made of the lines: those
    hits' ids are made of their place in their log (see ot.logimport.legacy)."""
    return bool(
        connection.execute(
            select(exists().where(TABLE.c.site_id == site_id, TABLE.c.position_based_ids.is_(True)))
        ).scalar()
    )
