"""How far each log has been imported: read before an import starts, and moved forward in the
same transaction as each batch of hits, so a crash never loses or repeats lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
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
    """The position of a log, recorded as new (at its start) the first time it is imported. Two
    imports of one log at once share the row: their lines are stored once either way."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        dialect_insert(TABLE)
        .values(
            site_id=site_id,
            file_identity=identity,
            path=path,
            byte_offset=0,
            lines_read=0,
            started_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["site_id", "file_identity"])
    )
    row = connection.execute(
        select(TABLE.c.id, TABLE.c.byte_offset, TABLE.c.lines_read).where(
            TABLE.c.site_id == site_id, TABLE.c.file_identity == identity
        )
    ).one()
    connection.execute(update(TABLE).where(TABLE.c.id == row.id).values(path=path))
    return ImportPosition(row.id, row.byte_offset, row.lines_read)


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
