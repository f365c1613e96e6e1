"""A typed async client of our HTTP API (`ot.api`'s models), for the terminal UI and scripts. It
talks HTTP only: it never imports the server, the commands or the database."""

from ot.client.client import OtClient
from ot.client.credentials import CredentialStore, StoredCredential, config_folder
from ot.client.errors import (
    ClientError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotLoggedIn,
    Throttled,
    Unavailable,
)

__all__ = [
    "ClientError",
    "Conflict",
    "CredentialStore",
    "Forbidden",
    "Invalid",
    "NotFound",
    "NotLoggedIn",
    "OtClient",
    "StoredCredential",
    "Throttled",
    "Unavailable",
    "config_folder",
]
