"""What the tables' columns share: the `Encrypted` marker of an encrypted column, and enums
stored as text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Enum

# Where a model column keeps its `Encrypted` declaration (SQLAlchemy's `Column.info`).
ENCRYPTED_INFO = "ot_encrypted"


@dataclass(frozen=True)
class Encrypted:
    """How the values of one column are encrypted: the context they are bound to and, for a
    column bound to its row, the row's columns that are part of that context."""

    context: str
    bound_to: tuple[str, ...] = ()
    # Contexts values were once written with: `ot-admin keys rotate` still reads those and
    # writes them anew with the context of today.
    former_contexts: tuple[str, ...] = ()

    def context_for(self, row: Mapping[str, Any] | None = None) -> str:
        """The context of the value stored in `row` (only the `bound_to` columns are read)."""
        if not self.bound_to:
            return self.context
        if row is None:
            raise TypeError(f"{self.context} is bound to {', '.join(self.bound_to)}")
        return self.context + "".join(f"|{name}={row[name]}" for name in self.bound_to)

    def column_info(self) -> dict[str, Any]:
        """For `Field(sa_column_kwargs=...)`: marks the column as encrypted this way."""
        return {"info": {ENCRYPTED_INFO: self}}


def enum_column(enum: type[StrEnum]) -> Column[Any]:
    """Store an enum by its value as plain text: readable in SQL and free of PostgreSQL enum
    types that every new member would have to migrate."""
    return Column(
        Enum(enum, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        nullable=False,
    )
