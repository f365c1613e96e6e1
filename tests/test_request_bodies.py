"""Property: whatever JSON body a logged-in caller sends to any of our own endpoints that takes
one, the server answers below 500, and every refusal is the one error shape naming the problem.

The endpoints are found by walking the router (`ot.server.auth.declared`), so an endpoint added
later is covered without touching this file (`tests/test_account_api_bodies.py` goes deeper on
the sites, keys and team endpoints, checking that a refusal changes nothing). Bodies are
arbitrary JSON values, objects with the endpoint's own field names holding values of every type,
and the same with a field dropped.
SQLite only: the property is about the handlers' validation, not the storage.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import BaseModel

from ot.config import Settings, load_settings
from ot.server.app import create_app
from ot.server.auth import declared
from tests import support

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=300),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)


def body_routes() -> list[tuple[str, str, type[BaseModel]]]:
    app = create_app(load_settings(data_dir="/nonexistent-ot-data-for-route-listing"))
    found = []
    for route in app.router.routes():
        declaration = declared(route.handler)
        if declaration is None or declaration.body is None:
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        found.append((route.method, path, declaration.body))
    return found


BODY_ROUTES = body_routes()


def bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    names = list(model.model_fields)
    with_fields = st.fixed_dictionaries(
        {name: JSON_VALUES for name in names}, optional={"unexpected": JSON_VALUES}
    )
    dropped = (
        st.sampled_from(names).flatmap(
            lambda missing: st.fixed_dictionaries(
                {name: JSON_VALUES for name in names if name != missing}
            )
        )
        if names
        else st.just({})
    )
    return st.one_of(JSON_VALUES, with_fields, dropped)


class Caller:
    """The app on a real loopback port with its own loop, for synchronous hypothesis tests."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.settings = settings
        self.client = self.loop.run_until_complete(self._start())
        site = self.loop.run_until_complete(support.make_site(settings))
        self.account_id = site.account_id

    async def _start(self) -> TestClient:
        client = TestClient(TestServer(create_app(self.settings)))
        await client.start_server()
        return client

    def send(self, method: str, path: str, body: Any) -> tuple[int, str, Any]:
        async def exchange() -> tuple[int, str, Any]:
            # A fresh session each time: an example may well end sessions or the account.
            started = await support.logged_in(self.settings, self.account_id)
            response = await self.client.request(
                method,
                path,
                data=json.dumps(body),
                headers={**support.bearer(started.token), "Content-Type": "application/json"},
            )
            text = await response.text()
            return response.status, response.content_type, text

        return self.loop.run_until_complete(asyncio.wait_for(exchange(), timeout=30))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture
def caller(tmp_path: Any, databases: support.DatabaseFactory) -> Iterator[Caller]:
    """A server on an SQLite database of its own, with one account to log in as."""
    loop = asyncio.new_event_loop()
    try:
        url = loop.run_until_complete(databases.sqlite(tmp_path / "data"))
    finally:
        loop.close()
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=url,
        log={"access_log": False},
        api={"rate_per_minute": 0},  # every example comes from one address
        collector={"own_process": False},
    )
    caller = Caller(settings)
    yield caller
    caller.close()


def _path(path: str) -> str:
    # Object ids in paths: one that does not exist (the stranger walk covers real ones).
    return re.sub(r"\{\w+(:[^}]*)?\}", "987654", path)


@pytest.mark.parametrize(
    ("method", "path", "model"), BODY_ROUTES, ids=[f"{m} {p}" for m, p, _ in BODY_ROUTES]
)
@examples(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_body_is_answered_below_500_and_refused_in_the_error_shape(
    caller: Caller, method: str, path: str, model: type[BaseModel], data: st.DataObject
) -> None:
    body = data.draw(bodies(model), label="body")
    status, content_type, text = caller.send(method, _path(path), body)
    assert status < 500, text
    if status >= 400:
        assert content_type == "application/json", text
        error = json.loads(text)["error"]
        assert set(error) == {"code", "message", "field"} and error["message"], text


def test_the_walk_finds_the_endpoints_that_take_a_body() -> None:
    """Guards the walk itself: an empty walk would make the property above vacuous."""
    assert len(BODY_ROUTES) >= 5
    assert all(path.startswith("/ot/v1/") for _, path, _ in BODY_ROUTES)
