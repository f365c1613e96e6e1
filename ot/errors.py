"""Domain errors raised by the core. Only the front doors map them to HTTP answers or exit codes."""


class OtError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    retry_after: int | None = None  # seconds, for errors a caller should simply retry

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross from the processes that answer stats queries: keep every attribute
        # (pickle would call the class with the message alone, losing `field` and failing
        # for errors whose constructor needs more).
        return (_rebuilt, (type(self), self.message, self.__dict__))


def _rebuilt(kind: type[OtError], message: str, attributes: dict[str, object]) -> OtError:
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    error.__dict__.update(attributes)
    return error


class InvalidInput(OtError):
    """A request or command argument is malformed; `field` names the offending part."""

    code = "invalid_input"


class Unauthorized(OtError):
    """No credentials, or credentials we do not know (missing, malformed or revoked token)."""

    code = "unauthorized"


class Forbidden(OtError):
    """The caller is known but its credentials do not allow this (a key without the scope).
    Never used for other tenants' objects: those raise NotFound."""

    code = "forbidden"


class TooManyRequests(OtError):
    """Throttled (repeated failed logins, a rate limit): retry after `retry_after` seconds."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class PaymentRequired(OtError):
    """Refused until an invoice is paid (a dashboard locked for an overdue invoice)."""

    code = "payment_required"


class NotFound(OtError):
    """The object does not exist, or the caller may not know that it exists."""

    code = "not_found"


class Conflict(OtError):
    """The object already exists (a domain taken, a name reused)."""

    code = "conflict"


class Overloaded(OtError):
    """The collector's queue is full: the caller should retry after `retry_after` seconds."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageUnavailable(OtError):
    """The database could not take a write; nothing was acknowledged."""

    code = "storage_unavailable"
    retry_after = 2


class SchemaOutdated(OtError):
    """The database schema is not at the version this code expects."""

    code = "schema_outdated"


class QueryTooSlow(OtError):
    """A stats query ran past its time budget (`OT_STATS__QUERY_TIMEOUT_SECONDS`) and was
    stopped."""

    code = "query_timeout"
    retry_after = 30  # a busy moment passes; a query too heavy for the budget will not
