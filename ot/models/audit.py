"""The tables of the audit trail: its hash-chained entries and their signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    """One security-relevant event. Append-only and hash-chained: each entry's hash covers its
    content and the previous entry's hash (see `ot.security.audit`)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str  # "account:12", "operator:alice", "grant:3", "anonymous"
    action: str  # an `ot.security.audit.AuditAction`: "login.succeeded", "key.created", ...
    account_id: int | None = Field(default=None, index=True)  # whose trail it belongs to
    # Ids and reasons only: never personal data in plaintext.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    previous_hash: str
    entry_hash: str


class AuditCheckpoint(SQLModel, table=True):
    """The audit chain's head at one moment, signed (Ed25519) by a key kept outside the database,
    so that a chain recomputed from scratch or cut short is caught (see
    `ot.security.audit_checkpoints`). Each checkpoint is also appended to a file in the data
    folder."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    entry_id: int = Field(index=True)  # the head entry covered
    entries: int  # how many entries the chain held up to and including it
    head_hash: str
    public_key: str  # which signing key made it (base64 of the raw Ed25519 public key)
    signature: str  # base64 of the Ed25519 signature of the canonical checkpoint text
