"""`ot tui --web`: the same app in a browser, for customers who would rather click a link.

textual-serve answers the page and, for each browser that opens it, runs `python -m ot tui
--server URL --forget-login` in a process of its own, whose screen the page draws with xterm.js.

Each browser session logs in on its own, and keeps its log-in in that process's memory only
(`MemoryCredentials`): never in the config folder of the user running `ot tui --web`, or
whoever opened the page would act as that user, and one browser's log-in would be the next
one's. The process ends the session on the server when it exits (the tab closed, or the app
quit), so nothing is left behind that another browser could pick up. For the same reason no API
key reaches the processes: `OPENTRACKER_API_KEY` is taken out of their environment.
"""

from __future__ import annotations

import os
import shlex
import sys

from ot.client.credentials import CredentialStore, StoredCredential, server_key

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TITLE = "opentracker"


class MemoryCredentials(CredentialStore):
    """A credential store kept in memory for one run: nothing is read from or written to disk."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[str, StoredCredential] = {}

    def load(self, base_url: str) -> StoredCredential | None:
        return self._kept.get(server_key(base_url))

    def save(self, base_url: str, credential: StoredCredential) -> None:
        self._kept[server_key(base_url)] = credential

    def delete(self, base_url: str) -> None:
        self._kept.pop(server_key(base_url), None)


def session_command(server: str) -> str:
    """What textual-serve runs for each browser: this Python's `ot tui`, logging in afresh."""
    return shlex.join([sys.executable, "-m", "ot", "tui", "--server", server, "--forget-login"])


def serve_in_browser(
    server: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    public_url: str | None = None,
) -> None:
    """Serve the app at http://host:port/ until Ctrl-C or SIGTERM. The page tells browsers
    where to connect its terminal: `public_url`, else http://host:port."""
    # Imported here: the terminal's `ot tui` needs no web server.
    from textual_serve.server import Server

    # textual-serve hands its own environment to every browser's process.
    os.environ.pop("OPENTRACKER_API_KEY", None)
    Server(
        session_command(server), host=host, port=port, title=TITLE, public_url=public_url
    ).serve()
