"""The OpenAPI document (`GET /ot/v1/openapi.json`) stays true: every route of the server is in
it with its method, every operation in it is a route, and what each handler declares (access,
scope, body, answer) is what it says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ot.config import load_settings
from ot.server.app import create_app
from ot.server.auth import RouteNeeds, declared
from ot.server.openapi import build_openapi, router_operations

APP = create_app(load_settings(data_dir="/nonexistent-ot-data-for-route-listing"))
DOCUMENT = build_openapi(APP)
ROUTES = router_operations(APP)


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
    }


def test_every_route_of_the_server_is_documented_with_its_method() -> None:
    assert {(method, path) for method, path, _ in ROUTES} <= _documented()


def test_every_documented_operation_is_a_route_of_the_server() -> None:
    assert _documented() <= {(method, path) for method, path, _ in ROUTES}


async def test_the_document_is_served_to_anyone(client: TestClient) -> None:
    response = await client.get("/ot/v1/openapi.json")

    assert response.status == 200
    served = await response.json()
    assert served["openapi"] == "3.1.0"
    assert served["paths"].keys() == DOCUMENT["paths"].keys()


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_every_reference_resolves() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for reference in _references(DOCUMENT):
        assert reference.startswith("#/components/schemas/")
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


def test_errors_share_one_documented_shape() -> None:
    error = DOCUMENT["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "field"]
    for path, operations in DOCUMENT["paths"].items():
        for operation in operations.values():
            for status in ("400", "401", "404", "429", "default"):
                content = operation["responses"][status]["content"]
                if path in PAGES:
                    assert list(content) == ["text/html"]
                    continue
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


# Pages a person's browser lands on (PayPal sends the payer back): their refusals are pages.
PAGES = {"/billing/paypal/return", "/billing/paypal/cancel"}


@pytest.mark.parametrize(
    ("method", "path", "handler"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_each_operation_says_what_its_handler_declares(
    method: str, path: str, handler: Any
) -> None:
    declaration = declared(handler)
    assert declaration is not None
    operation = DOCUMENT["paths"][path][method.lower()]
    assert operation["summary"] == declaration.summary
    schemes = {name for requirement in operation["security"] for name in requirement}
    if declaration.access is RouteNeeds.SESSION:
        assert operation["security"] == [{"session": []}]
    elif declaration.access in (RouteNeeds.ACCOUNT, RouteNeeds.STATS_API):
        assert declaration.scope is not None
        assert {"apiKey": [declaration.scope.value]} in operation["security"]
        grant_key = {"grantKey"} if declaration.takes_grant_key else set()
        assert schemes == {"session", "apiKey"} | grant_key
    elif declaration.access in (RouteNeeds.PUBLIC, RouteNeeds.COLLECTOR):
        assert operation["security"] == []
    success = operation["responses"][str(declaration.status)]
    if declaration.answers is not None:
        reference = success["content"]["application/json"]["schema"]["$ref"]
        assert reference.endswith("/" + declaration.answers.__name__)
    if declaration.body is not None:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/" + declaration.body.__name__)
    else:
        assert "requestBody" not in operation
    parameters = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    assert parameters == {part[1:-1] for part in path.split("/") if part.startswith("{")}


def test_a_body_model_is_documented_as_its_json_schema() -> None:
    erasure = DOCUMENT["components"]["schemas"]["ErasureRequest"]
    assert set(erasure["properties"]) == {"visitor_id", "client_id", "ip"}
    assert json.dumps(erasure)  # plain JSON throughout


def test_operation_ids_are_unique() -> None:
    ids = [
        operation["operationId"]
        for operations in DOCUMENT["paths"].values()
        for operation in operations.values()
    ]
    assert len(ids) == len(set(ids))
