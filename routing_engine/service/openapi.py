"""The service's OpenAPI document, true to what each route answers. A route declares its own
refusals (`http.refusals`) and, when it reads its body itself, that body (`http.body_of`);
here every route the gate guards gets the gate's refusals, derived from its permissions
(`auth.PERMISSIONS`), and a parameter that does not fit is documented in the problem shape
the app answers it in (`http.invalid_parameters`), not FastAPI's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from routing_engine.contract import ErrorResponse
from routing_engine.service.auth import required_roles

PROBLEM_REF = "#/components/schemas/ErrorResponse"
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")  # replaced by the problem shape
REASONS = {
    400: "Bad Request: the body is not JSON, or nests too deep",
    401: "Unauthorized: no key, an unknown key, or an ended session",
    403: "Forbidden: the key's role may not do this, or a session's CSRF token is missing",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type: send JSON",
    421: "Misdirected Request: a server without keys answers only requests to localhost",
    422: "Unprocessable Content: a field or parameter that does not fit, named",
    503: "Service Unavailable: the store cannot be reached just now (`store-unavailable`, with "
    "a Retry-After), or a board session cannot be checked (`sessions-unavailable`); try again",
}
# The routes that never answer 503: liveness reads no store, and a decision route answers its
# fallback decision (200, marked) when the store fails. Every other route reads the store.
NEVER_UNAVAILABLE = frozenset(
    {
        ("get", "/healthz"),
        ("post", "/v1/calls"),
        ("post", "/v1/calls/{call_id}/events"),
        ("post", "/v1/route"),
    }
)


def problem_response(status: int) -> dict[str, Any]:
    """A documented refusal: its reason and the problem body."""
    return {
        "description": REASONS.get(status, "Refused"),
        "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}},
    }


def gate_statuses(method: str, path: str) -> tuple[int, ...]:
    """What the gate (and the app) may answer for a route whatever the route does: 421 on any
    (without keys, to a request not addressed to localhost); 401 and 403 where a role is
    required; 503 where the store is read (`NEVER_UNAVAILABLE` are not)."""
    gate = (421,) if required_roles(method.upper(), path) is None else (401, 403, 421)
    return gate if (method, path) in NEVER_UNAVAILABLE else (*gate, 503)


def _documented(operation: dict[str, Any], method: str, path: str) -> None:
    responses: dict[str, Any] = operation["responses"]
    for status in gate_statuses(method, path):
        responses.setdefault(str(status), problem_response(status))
    for code, response in responses.items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref", "").rpartition("/")[2] in FASTAPI_ERRORS:
            responses[code] = problem_response(int(code))


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (made once, then kept): every status each route can answer,
    with its problem body."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            _documented(operation, method, path)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorResponse",
        ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}"),
    )
    for name in FASTAPI_ERRORS:
        schemas.pop(name, None)
    app.openapi_schema = spec
    return spec


def openapi_of(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """What `app.openapi` becomes: `document` for this app."""
    return lambda: document(app)
