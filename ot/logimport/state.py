"""How far each log has been imported: read before an import starts, and moved forward in the
same transaction as each batch of hits, so a crash never loses or repeats lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ot.models import LogImport

TABLE = LogImport.__table__  # type: ignore[attr-defined]


@dataclass
class ImportPosition:
    """Where the import of one log stands."""

    id: int
    byte_offset: int  # bytes of complete lines imported, in the uncompressed log
    lines_read: int


def start_or_resume(
    connection: Connection, *, site_id: int, identity: str, path: str, now: datetime
) -> ImportPosition:
    row = connection.execute(
        select(TABLE.c.id, TABLE.c.byte_offset, TABLE.c.lines_read).where(
            TABLE.c.site_id == site_id, TABLE.c.file_identity == identity
        )
    ).first()
    if row is not None:
        connection.execute(update(TABLE).where(TABLE.c.id == row.id).values(path=path))
        return ImportPosition(row.id, row.byte_offset, row.lines_read)
    new_id = connection.execute(
        insert(TABLE)
        .values(
            site_id=site_id,
            file_identity=identity,
            path=path,
            byte_offset=0,
            lines_read=0,
            started_at=now,
            updated_at=now,
        )
        .returning(TABLE.c.id)
    ).scalar_one()
    return ImportPosition(new_id, 0, 0)


def restart(connection: Connection, position: ImportPosition, now: datetime) -> None:
    """Forget how far a log was imported (it was truncated and written anew)."""
    position.byte_offset = position.lines_read = 0
    save(connection, position, now)


def save(connection: Connection, position: ImportPosition, now: datetime) -> None:
    connection.execute(
        update(TABLE)
        .where(TABLE.c.id == position.id)
        .values(byte_offset=position.byte_offset, lines_read=position.lines_read, updated_at=now)
    )
