"""The HTTP edges every route shares: refusals (4xx) in one problem shape, and JSON bodies read
within a size limit and parsed by the contract, naming the fields that do not fit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse

from routing_engine.contract import BadRequest

Parsed = TypeVar("Parsed")
MAX_BODY_BYTES = 64 * 1024


def problem(
    status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A 4xx (or 503) answer in the one shape every refusal has: `error`, `message`, and the
    `problems` naming the fields when there are any."""
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status)


class Refusal(Exception):
    """Raised to refuse a request, from a route or from the work of a decision: the app's
    handler answers its problem response, and a decision counts it instead of falling back."""

    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.error = error
        self.response = problem(status, error, message, problems)


async def json_body(request: Request) -> Any:
    """The request's JSON body; a Refusal for one not sent as JSON (415), too large (413) or
    malformed (400)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(
            415,
            "unsupported-media-type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before reading it
        raise Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a body with no length is read up to the limit only
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = (
            f" at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise Refusal(400, "malformed-json", f"the body is not valid JSON{where}") from None


async def read_body(request: Request, parse: Callable[[Any], Parsed]) -> Parsed:
    """The request's JSON body, read by `parse` (a contract parser); a Refusal (4xx) for a body
    that is not JSON or does not fit, naming the fields."""
    body = await json_body(request)
    try:
        return parse(body)
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None
