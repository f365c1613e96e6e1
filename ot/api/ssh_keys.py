"""`/ot/v1/ssh-keys`: the SSH public keys that open the caller's terminal UI over SSH."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ot.api.common import Model, Strict

# Kept equal to `ot.accounts.ssh_keys` (the contract imports no core noun).
MAX_SSH_KEY_NAME_LENGTH = 100
MAX_SSH_KEY_LENGTH = 16_384


class NewSshKey(Strict):
    public_key: str = Field(
        max_length=MAX_SSH_KEY_LENGTH,  # an empty one is told what to paste (ot.accounts)
        description="The public key as OpenSSH writes it: the line of ~/.ssh/id_ed25519.pub.",
    )
    name: str | None = Field(
        default=None,
        max_length=MAX_SSH_KEY_NAME_LENGTH,
        description="What the key is (a laptop, say); the key's own comment when left out.",
    )


class SshKeyOut(Model):
    id: int = Field(description="The key's id, for removing it.")
    name: str = Field(description="What the key is.")
    key_type: str = Field(description="The kind of key: ssh-ed25519, ecdsa-sha2-nistp256, ...")
    fingerprint: str = Field(description="OpenSSH's fingerprint (SHA256:...), as ssh-keygen -l.")
    public_key: str = Field(description="The key itself, without its comment.")
    created_at: datetime = Field(description="When it was added.")
    last_used_at: datetime | None = Field(description="When it last opened the terminal UI.")


class SshKeyList(Model):
    keys: list[SshKeyOut] = Field(description="The account's SSH keys.")


class SshKeyRemoved(Model):
    removed: int = Field(description="How many keys were removed.")
