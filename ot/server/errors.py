"""The one error shape of our HTTP answers: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

from aiohttp import web

from ot.billing.gateway import GatewayRefused, GatewayUnavailable
from ot.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OtError,
    Overloaded,
    PaymentRequired,
    QueryTooSlow,
    SchemaOutdated,
    StorageUnavailable,
    TooManyRequests,
    Unauthorized,
)

_STATUS: dict[type[OtError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    PaymentRequired: 402,
    GatewayRefused: 402,  # PayPal said no to a payment or refund: no retry will help
    GatewayUnavailable: 503,  # with Retry-After: the same request is safe to repeat
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooManyRequests: 429,
    Overloaded: 503,
    QueryTooSlow: 503,
    StorageUnavailable: 503,
    SchemaOutdated: 503,
}


# What a failure we did not foresee says: nothing of its cause reaches the caller (it is logged).
INTERNAL_ERROR = "something went wrong on our side"


def internal_error_response() -> web.Response:
    return error_response(500, "internal_error", INTERNAL_ERROR)


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "field": field}},
        status=status,
        headers=headers,
    )


def status_of(error: OtError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def domain_error_response(error: OtError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return error_response(status_of(error), error.code, error.message, error.field, headers=headers)
