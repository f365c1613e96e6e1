"""`/ot/v1/keys`: the caller's API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ot.api.common import Model, Strict

# Kept equal to `ot.accounts.api_keys.MAX_NAME_LENGTH` and to `ot.accounts.permissions.Scope`
# (the contract imports no core noun; tests/test_client.py checks they agree).
MAX_KEY_NAME_LENGTH = 100
SCOPES = (
    "stats:read",
    "sites:read",
    "sites:write",
    "team:read",
    "team:write",
    "grants:read",
    "grants:write",
    "account:read",
    "account:write",
)


class NewKey(Strict):
    name: str = Field(
        min_length=1, max_length=MAX_KEY_NAME_LENGTH, description="What the key is for."
    )
    scopes: list[str] = Field(
        min_length=1,
        max_length=len(SCOPES),
        description="What the key may do: " + ", ".join(SCOPES) + ".",
    )


class KeyOut(Model):
    id: int = Field(description="The key's id, for revoking it.")
    name: str = Field(description="What the key is for.")
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str] = Field(description="What the key may do.")
    created_at: datetime = Field(description="When it was made.")
    last_used_at: datetime | None = Field(description="When it was last used (to the minute).")
    revoked_at: datetime | None = Field(description="When it was revoked, if it was.")


class CreatedKey(KeyOut):
    key: str = Field(description="The key itself: in this answer only, never again.")


class KeyList(Model):
    keys: list[KeyOut] = Field(description="The account's keys, revoked ones included.")


class Revoked(Model):
    revoked: int = Field(description="How many keys were revoked.")
