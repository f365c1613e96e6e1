"""The credentials the client keeps between runs: one entry per server base URL in
`credentials.json` of the user's config folder (`$XDG_CONFIG_HOME/opentracker`, else
`~/.config/opentracker`), readable by the user alone."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FILE_NAME = "credentials.json"
CredentialKind = Literal["session", "api_key"]


def config_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the client keeps its files, by the XDG base directory rules."""
    base = environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "opentracker"


def server_key(base_url: str) -> str:
    """One spelling per server: `https://ot.example/` and `https://ot.example` are the same."""
    return base_url.rstrip("/")


@dataclass(frozen=True)
class StoredCredential:
    kind: CredentialKind
    token: str  # the session token (`ots_...`) or the API key (`ot_...`)


class CredentialStore:
    """The credentials file. It holds secrets: created with mode 0600 (never world-readable,
    not even for a moment before a chmod) in a folder of mode 0700, and replaced whole so that
    a crash leaves the old file or the new one, never half of one."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else config_folder()
        self.path = self.folder / FILE_NAME

    def load(self, base_url: str) -> StoredCredential | None:
        entry = self._entries().get(server_key(base_url))
        if not isinstance(entry, dict):
            return None
        kind, token = entry.get("kind"), entry.get("token")
        if kind not in ("session", "api_key") or not isinstance(token, str) or not token:
            return None
        return StoredCredential(kind, token)

    def save(self, base_url: str, credential: StoredCredential) -> None:
        entries = self._entries()
        entries[server_key(base_url)] = {"kind": credential.kind, "token": credential.token}
        self._write(entries)

    def delete(self, base_url: str) -> None:
        entries = self._entries()
        if entries.pop(server_key(base_url), None) is None:
            return
        if entries:
            self._write(entries)
        else:
            self.path.unlink(missing_ok=True)

    def _entries(self) -> dict[str, object]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or damaged: as if none were kept (logging in rewrites it)
        return loaded if isinstance(loaded, dict) else {}

    def _write(self, entries: dict[str, object]) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(entries, file, indent=2, sort_keys=True)
            file.write("\n")
        os.replace(temporary, self.path)
