"""The OpenAPI document of the server (`GET /ot/v1/openapi.json`), built from the router and the
`@endpoint` declaration of each handler, so it cannot describe a route that does not exist or
miss one that does (`tests/test_openapi.py` holds it to that)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from ot import __version__
from ot.server.auth import Endpoint, RouteNeeds, declared, endpoint
from ot.server.middlewares import COLLECTOR_PATHS

H = TypeVar("H", bound=Callable[..., Any])
_MEDIA_TYPE = "__ot_media_type__"
_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable."},
                "message": {"type": "string", "description": "For people: what is wrong."},
                "field": {
                    "type": ["string", "null"],
                    "description": "The part of the request at fault, if any.",
                },
            },
        }
    },
}
ERRORS = {
    "400": "Bad input: the error names the field",
    "401": "No credentials, or unknown, expired or revoked ones",
    "403": "Credentials that do not allow this (a key without the scope, a missing CSRF token)",
    "404": "No such object, or one the caller may not know of",
    "409": "Conflicts with the current state",
    "413": "The body is too large",
    "429": "Too many requests: retry after the Retry-After header's seconds",
}
SECURITY_SCHEMES = {
    "session": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ots_... (a log-in session token)",
        "description": "A logged-in session; browsers send the ot_session cookie plus the "
        "X-CSRF-Token header instead.",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ot_... (an API key, limited to its scopes)",
    },
    "grantKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A third party's key (or share link) of a grant, read-only within it.",
    },
}


def produces(media_type: str) -> Callable[[H], H]:
    """Say that a handler answers with `media_type` rather than JSON (a zip, a script, ...)."""

    def mark(handler: H) -> H:
        setattr(handler, _MEDIA_TYPE, media_type)
        return handler

    return mark


def openapi_path(path: str) -> str:
    """A router path as OpenAPI writes it: `{name}` without any regular expression."""
    return _PARAMETER.sub(lambda match: "{" + match.group(1) + "}", path)


def router_operations(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, OpenAPI path, handler) of every route but HEAD and OPTIONS."""
    found = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path:
            found.append((route.method, openapi_path(path), route.handler))
    return found


def build_openapi(app: web.Application) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in router_operations(app):
        declaration = declared(handler)
        if declaration is None:
            continue  # refused by the authorise middleware; test_route_access fails on it
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, handler, declaration, schemas
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "opentracker",
            "version": __version__,
            "description": "Our own API under /ot/v1 (sessions, account, sites), the collector "
            "endpoints and the Plausible-compatible Stats API. Errors share one shape.",
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _operation(
    method: str, path: str, handler: Any, declaration: Endpoint, schemas: dict[str, Any]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": declaration.summary,
        "tags": [_tag(path)],
        "security": _security(declaration),
        "responses": _responses(handler, declaration, schemas),
    }
    if doc := (handler.__doc__ or "").strip():
        operation["description"] = doc
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAMETER.findall(path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if declaration.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(declaration.body, schemas)}},
        }
    return operation


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_") or "root"
    return f"{method.lower()}_{words}"


def _tag(path: str) -> str:
    if path.startswith("/ot/v1/"):
        return "opentracker API"
    if path.startswith("/api/v"):
        return "Stats API (Plausible-compatible)"
    if path in COLLECTOR_PATHS:
        return "collector"
    return "operations"


def _security(declaration: Endpoint) -> list[dict[str, list[str]]]:
    scope = declaration.scope.value if declaration.scope is not None else None
    if declaration.access is RouteNeeds.SESSION:
        return [{"session": []}]
    if declaration.access is RouteNeeds.ACCOUNT:
        return [{"session": []}, {"apiKey": [scope] if scope else []}]
    if declaration.access is RouteNeeds.STATS_API:
        schemes: list[dict[str, list[str]]] = [
            {"session": []},
            {"apiKey": [scope] if scope else []},
        ]
        if declaration.takes_grant_key:
            schemes.append({"grantKey": []})
        return schemes
    if declaration.access is RouteNeeds.GRANT:
        return [{"grantKey": []}]
    return []


def _responses(handler: Any, declaration: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": declaration.summary}
    media_type = getattr(handler, _MEDIA_TYPE, None)
    if declaration.answers is not None:
        success["content"] = {"application/json": {"schema": _schema(declaration.answers, schemas)}}
    elif media_type is not None:
        success["content"] = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    responses: dict[str, Any] = {str(declaration.status): success}
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    if media_type == "text/html":  # a page a person lands on: its refusals are pages too
        error = {"content": {"text/html": {"schema": {"type": "string"}}}}
    for status, description in ERRORS.items():
        responses[status] = {"description": description, **error}
    responses["default"] = {"description": "Any other failure, in the same shape", **error}
    return responses


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Register a model (and the models it uses) as components; returns a reference to it."""
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


@endpoint(RouteNeeds.PUBLIC, summary="This OpenAPI document")
async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of every route of this server."""
    return web.json_response(build_openapi(request.app))
