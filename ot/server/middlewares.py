"""Middlewares: one error shape for every failure, security headers, and CORS on the collector."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ot.errors import OtError
from ot.server.errors import domain_error_response, error_response

log = logging.getLogger(__name__)

# Paths that browsers on our customers' sites call: open to any origin, and nothing else is.
COLLECTOR_PATHS = frozenset({"/api/event", "/pixel.gif", "/matomo.php", "/piwik.php", "/js/ot.js"})

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def is_collector(request: web.Request) -> bool:
    return request.path in COLLECTOR_PATHS


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OtError as error:
        return domain_error_response(error)
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        return error_response(
            413, "body_too_large", f"the request body is larger than {limit} bytes", "body"
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        kept = {name: value for name, value in error.headers.items() if name in ("Allow",)}
        return error_response(error.status, code, error.reason, headers=kept)
    except Exception:
        # Never let a bug answer with a stack trace; the log says what happened (no request data).
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal_error", "something went wrong on our side")


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    collector = is_collector(request)
    if collector and request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
    else:
        response = await handler(request)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if collector:
        response.headers["Access-Control-Allow-Origin"] = "*"
        # Lets our tracker, on the customer's origin, honour the back-off we ask for.
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    else:
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response
