"""The customer's own rights: the account's deletion (after a grace period) and the erasure of
one visitor's hits from a site. (The export answers a zip, described by no model.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from ot.api.common import Model
from ot.ips import canonical_ip

# Visitor ids are signed 64-bit integers (see ot.ingest.visitors).
_INT64 = 2**63


class DeletionRequest(Model):
    """Asking for the account's deletion."""

    confirm: Literal[True] = Field(description="Must be true: the account and all its data go.")
    password: str = Field(
        min_length=1, max_length=1024, description="The account's password, entered again."
    )


class DeletionStatus(Model):
    scheduled: bool = Field(description="Whether the account's deletion is scheduled.")
    requested_at: datetime | None = Field(default=None, description="When it was asked for.")
    purge_after: datetime | None = Field(
        default=None, description="When the account's data will be purged."
    )


def _one_identifier(schema: dict[str, Any]) -> None:
    """The document says what the handler enforces: exactly one identifier, an IP that is an
    address, and no nulls."""
    properties = schema["properties"]
    properties["visitor_id"] = {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1}
    properties["client_id"] = {"type": "string", "minLength": 1, "maxLength": 200}
    properties["ip"] = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    schema["oneOf"] = [{"required": [name]} for name in ("visitor_id", "client_id", "ip")]


class ErasureRequest(Model):
    """Name the visitor in exactly one way."""

    model_config = ConfigDict(json_schema_extra=_one_identifier)

    visitor_id: int | None = Field(
        default=None, ge=-_INT64, lt=_INT64, description="The visitor id an export shows."
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The tracker's first-party id (cookie sites).",
    )
    ip: str | None = Field(default=None, min_length=1, max_length=100, description="An IP address.")

    @field_validator("ip")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        return None if value is None else canonical_ip(value)


class ErasureDone(Model):
    hits: int = Field(description="Hits erased.")
    visits: int = Field(description="Visits erased or changed.")
    days_to_roll_again: int = Field(description="Days whose rollups are rolled again.")
    matched_by_network: int = Field(
        description="Hits whose kept IP was only the network of the one asked for."
    )
    notes: list[str] = Field(description="Anything the customer should know, for people.")
