"""Middlewares: one error shape for every failure, security headers, CORS on the collector only,
and the body size and rate limits of our own API."""

from __future__ import annotations

import functools
import hashlib
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ot.clock import Clock
from ot.config import ApiSettings
from ot.errors import OtError, StorageUnavailable
from ot.ips import ip_in_networks
from ot.ratelimit import TokenBuckets
from ot.server.app_keys import SETTINGS, STORAGE_HEALTH, TRUSTED_PROXIES
from ot.server.auth import presented_credential
from ot.server.bodies import (
    body_was_unreadable,
    finish_compressed_body,
    unreadable_body,
)
from ot.server.clients import client_ip_of
from ot.server.errors import domain_error_response, error_response, internal_error_response
from ot.storage import storage_problem

log = logging.getLogger(__name__)

# Paths that browsers on our customers' sites call: open to any origin, and nothing else is.
COLLECTOR_PATHS = frozenset({"/api/event", "/pixel.gif", "/matomo.php", "/piwik.php", "/js/ot.js"})

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    # Nothing we serve needs a device feature: deny them all to anything framed or injected.
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), "
        "payment=(), usb=(), interest-cohort=()"
    ),
}
API_PREFIX = "/ot/v1/"


def is_collector(request: web.Request) -> bool:
    return request.path in COLLECTOR_PATHS


@web.middleware
async def collector_shortcut(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The collector's endpoints take no credential, no body of our API and none of its rate
    limits: their requests skip the middlewares that exist for those, and get the CORS headers
    and our error shape alone (the middlewares they skipped cost a tenth of a hit on the busy
    event loop). Each is declared `RouteNeeds.COLLECTOR` (tests/test_route_access.py)."""
    if request.path not in COLLECTOR_PATHS:
        return await handler(request)
    return await headers(request, functools.partial(errors, handler=request.match_info.handler))


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OtError as error:
        return domain_error_response(error)
    except web.RequestPayloadError as error:  # a handler that read the body itself
        return domain_error_response(unreadable_body(request, error))
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
    except Exception as error:
        known = known_failure(request, error)
        if known is None:
            return internal_error_response()
        return domain_error_response(known)


def known_failure(request: web.Request, error: Exception) -> OtError | None:
    """The error a failure is answered as: a domain error as it is, failing storage as
    StorageUnavailable; None for a bug, which is logged (answered 500 without a stack trace)."""
    if isinstance(error, OtError):
        return error
    problem = storage_problem(error)
    if problem is not None:
        # Not a bug: the disk or the database refuses. Logged in words, once in a while.
        request.app[STORAGE_HEALTH].failed(problem)
        return StorageUnavailable("the database cannot serve this request now; retry later")
    # The log says what happened (no request data).
    log.exception("unhandled error", extra={"path": request.path})
    return None


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
    if collector:
        response.headers["Access-Control-Allow-Origin"] = "*"
        # Lets our tracker, on the customer's origin, honour the back-off we ask for.
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    else:
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


async def finish_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer just before it is sent (streamed ones too): security headers, no caching
    of our API's answers, HSTS over HTTPS, and safe flags on every cookie."""
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    https = served_over_https(request)
    max_age = request.app[SETTINGS].api.hsts_max_age_seconds
    if https and max_age:
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={max_age}; includeSubDomains"
        )
    if await finish_compressed_body(request) or body_was_unreadable(request):
        response.force_close()
        response.headers["Connection"] = "close"  # already computed from keep-alive: say it
    if request.path.startswith(API_PREFIX):
        response.headers["Cache-Control"] = "no-store"
        response.headers.popall("Access-Control-Allow-Origin", None)
    # Set-Cookie headers are already written when this runs: the flags are added to them.
    cookies = response.headers.getall("Set-Cookie", [])
    if cookies:
        del response.headers["Set-Cookie"]
        for cookie in cookies:
            response.headers.add("Set-Cookie", safe_cookie(cookie, https=https))


def safe_cookie(cookie: str, *, https: bool) -> str:
    """A Set-Cookie value that scripts cannot read, that is never sent cross-site, and that is
    never sent in clear over HTTPS: whatever the handler set, these flags win."""
    parts = [part.strip() for part in cookie.split(";") if part.strip()]
    names = [part.split("=")[0].lower() for part in parts]
    kept = [part for part, name in zip(parts, names, strict=True) if name not in _COOKIE_FLAGS]
    kept += ["HttpOnly", "SameSite=Strict"]
    if https or "secure" in names:  # a handler's own Secure stays, even over plain HTTP
        kept.append("Secure")
    return "; ".join(kept)


_COOKIE_FLAGS = ("httponly", "samesite", "secure")


def served_over_https(request: web.Request) -> bool:
    """HTTPS to us directly, or to a trusted reverse proxy that says so (X-Forwarded-Proto)."""
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    if proto != "https":
        return False
    return ip_in_networks(request.remote or "", request.app[TRUSTED_PROXIES])


def api_limits(settings: ApiSettings, clock: Clock) -> Middleware:
    """Our own API's body size limit (stricter than the collector's) and rate limits: one
    token bucket per client IP and one per credential sent (each key or session on its own),
    refilled as `clock` says time passes."""
    per_ip = TokenBuckets(settings.rate_per_minute, settings.rate_burst)
    per_credential = TokenBuckets(settings.rate_per_minute, settings.rate_burst)
    limit = settings.max_body_bytes

    @web.middleware
    async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        now = clock.monotonic()
        wait = per_ip.take(client_ip_of(request), now)
        credential = presented_credential(request)
        if wait is None and credential:
            digest = hashlib.sha256(credential.encode()).hexdigest()
            wait = per_credential.take(digest, now)
        if wait is not None:
            return error_response(
                429,
                "too_many_requests",
                f"too many requests: retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        try:
            return await handler(request.clone(client_max_size=limit))
        except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the limit
            return _too_large(limit)

    return limits


def _too_large(limit: int) -> web.Response:
    return error_response(
        413, "body_too_large", f"the request body is larger than {limit} bytes", "body"
    )
