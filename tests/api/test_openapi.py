"""The OpenAPI document declares every response the pledger and staff endpoints give, errors as problem+json."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from pledgeflow.core.settings import Settings

# 429: a client whose staff keys were refused too often waits, on every endpoint that takes a key.
ON_PLEDGE = {"401", "403", "404", "429", "503"}
# An action: refused (409, 422), too large (413), or accepted with its answer still pending (202).
ACTION = {"202", "409", "413", "422"} | ON_PLEDGE
DECLARED: dict[tuple[str, str], set[str]] = {
    ("post", "/api/v1/pledges"): {"202", "409", "413", "422", "429", "503"},
    ("get", "/api/v1/pledges/{pledge_id}"): {"200", "422"} | ON_PLEDGE,
    ("put", "/api/v1/pledges/{pledge_id}/submission"): {"200", "412", "428"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/reports"): {"201"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/extension-requests"): {"201"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/withdrawal"): {"200"} | ACTION,
    ("get", "/api/v1/review/queue"): {"200", "401", "403", "422", "429", "503"},
    ("post", "/api/v1/pledges/{pledge_id}/decisions"): {"201"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/extensions"): {"201"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/extension-refusals"): {"201"} | ACTION,
    ("post", "/api/v1/pledges/{pledge_id}/closure"): {"200"} | ACTION,
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(home=tmp_path_factory.mktemp("openapi"), secret_key="openapi")
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def declared(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = openapi["paths"][path][method.lower()]["responses"]
    return responses


@pytest.mark.parametrize(("method", "path"), DECLARED)
def test_each_endpoint_declares_exactly_the_responses_it_gives(openapi: dict[str, Any], method: str, path: str) -> None:
    responses = declared(openapi, method, path)
    assert set(responses) == DECLARED[(method, path)]
    for code, response in responses.items():
        if int(code) >= 400:
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    for code in ("503", "429"):
        if code in responses:
            assert "Retry-After" in responses[code]["headers"]
    if path.endswith("{pledge_id}") or path.endswith("/submission"):
        assert "ETag" in responses["200"]["headers"]


def test_authenticated_endpoints_declare_bearer_security(openapi: dict[str, Any]) -> None:
    for method, path in DECLARED:
        security = openapi["paths"][path][method].get("security")
        assert (security is None) == (path == "/api/v1/pledges"), (method, path)


def test_no_fastapi_validation_schema_left(openapi: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(openapi)
    assert {"Problem", "FieldError"} <= set(openapi["components"]["schemas"])
