"""The table of operators: the people who run the service from a shell on the host, each named by
their OS login and appointed to roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from ot.models.columns import enum_column


class OperatorRole(StrEnum):
    """What an operator may do with `ot-admin`. Roles do not include one another: an admin
    manages operators and the installation, but approves no disclosure unless also `legal`."""

    ADMIN = "admin"
    BILLING = "billing"
    LEGAL = "legal"


class OperatorAppointment(SQLModel, table=True):
    """One OS login appointed to one role: by whom and when, and when and by whom it ended.
    Rows are never deleted, so the table is also the history of who held which role when (a
    disclosure approved in 2026 can be checked against the approver's role then)."""

    __tablename__ = "operator_appointment"
    # A login holds a role at most once at a time; ended appointments stay beside a new one.
    __table_args__ = (
        Index(
            "ux_operator_appointment_current",
            "login",
            "role",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=32)  # the OS user name (`ot.security.operators.LOGIN`)
    role: OperatorRole = Field(sa_column=enum_column(OperatorRole))
    appointed_by: str = Field(max_length=32)  # a login; the first admin's is root's or sudo's
    appointed_at: datetime
    ended_by: str | None = Field(default=None, max_length=32)
    ended_at: datetime | None = None
