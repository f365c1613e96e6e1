"""Object ids in paths and query strings: numbers, refused by name when malformed, and answered
as missing when too large to be one of ours."""

from __future__ import annotations

from aiohttp import web

from ot.errors import InvalidInput, NotFound

# Our ids are 32-bit on PostgreSQL: anything larger names nothing (and must not reach the driver).
MAX_ID = 2**31 - 1


def _parse(raw: str, name: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(f"{name} is a number", field=name)
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"{name.removesuffix('_id')} {value} does not exist", field=name)
    return value


def path_id(request: web.Request, name: str) -> int:
    """The id named `name` in the request's path."""
    return _parse(request.match_info[name], name)


def query_id(request: web.Request, name: str) -> int | None:
    """An optional id in the query string."""
    raw = request.query.get(name)
    return None if raw is None else _parse(raw, name)
