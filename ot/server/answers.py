"""The one way handlers answer JSON: a model of `ot.api` (or, where an imitated product's exact
shape is kept, a plain dict or list), with `NO_STORE` on answers no cache may keep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

# Answers that carry statistics or secrets: neither the browser nor a proxy keeps a copy.
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store"}


def json_answer(
    answer: BaseModel | dict[str, Any] | list[Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON answer. A model is written by pydantic (datetimes as ISO 8601, enums as their
    values); a dict or list by `json.dumps`, as `web.json_response` always wrote them."""
    if isinstance(answer, BaseModel):
        return web.json_response(text=answer.model_dump_json(), status=status, headers=headers)
    return web.json_response(answer, status=status, headers=headers)
