"""The errors `OtClient` raises, one per way a call can fail that a caller may handle
differently: log in again, give up, fix a field, wait, try later. All are `ClientError`s."""

from __future__ import annotations


class ClientError(Exception):
    """A call the server refused or could not answer. `status` is the HTTP status (0 when no
    answer came), `code` our error code when the server sent one."""

    def __init__(self, message: str, *, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class NotLoggedIn(ClientError):
    """401: no credentials, or ones the server does not know (wrong password, an expired or
    ended session, a revoked key). Log in again."""


class Forbidden(ClientError):
    """403: the credentials are known but do not allow this (a key without the scope, a role
    that may only read)."""


class NotFound(ClientError):
    """404: no such object, or one the caller may not know of (another account's site)."""


class Conflict(ClientError):
    """409: the change conflicts with what exists (a domain another site holds)."""


class Invalid(ClientError):
    """400 or 422: a part of the request is wrong; `field` names it when the server did."""

    def __init__(
        self, field: str | None, message: str, *, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Throttled(ClientError):
    """429: too many requests (or failed log-ins); try again after `retry_after` seconds."""

    def __init__(
        self, message: str, *, retry_after: int | None, status: int = 429, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class Unavailable(ClientError):
    """The server could not answer: a 5xx, a refused connection or a timeout. Try again later
    (after `retry_after` seconds when the server said)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        status: int = 0,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after
