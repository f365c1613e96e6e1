"""The tables of access-log imports: how far each log has been read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

import ot.models.sites  # noqa: F401  (the table its foreign keys point to)


class LogImport(SQLModel, table=True):
    """How far an access log has been imported into a site: the file is recognised by a hash of
    its first line (not its path, which rotation reuses), so a grown file continues where the
    last import stopped and a rotated one starts afresh (`ot.logimport.state`)."""

    __tablename__ = "log_import"
    __table_args__ = (Index("ux_log_import_site_file", "site_id", "file_identity", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id")
    file_identity: str = Field(max_length=64)
    path: str
    byte_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    lines_read: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The --include-* switches the lines before the offset were imported with ("404,static").
    switches: str | None = None
    # Occurrences of the identical lines of the last seconds read (`ot.logimport.identity`).
    line_counts: str | None = None
    # Imported before hits' ids were made of the lines: they are made of their place in the log.
    position_based_ids: bool = False
    started_at: datetime
    updated_at: datetime
