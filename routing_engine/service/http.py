"""The HTTP edges every route shares: refusals (4xx) in one problem shape, and JSON bodies read
within a size limit, checked for nesting on their bytes, and parsed by the contract, naming the
fields that do not fit."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from routing_engine.contract import BadRequest, ErrorResponse

Parsed = TypeVar("Parsed")
MAX_BODY_BYTES = 64 * 1024  # a call, an event, a ticket change, a sign-in: small
MAX_FILES_BODY_BYTES = 8 * 1024 * 1024  # a deployment's flow files, sent whole
MAX_JSON_DEPTH = 32  # the contract's bodies nest 3 deep; the parser recurses on each level
MAX_ID = 2**63 - 1  # what a store's INTEGER holds (SQLite's is signed 64-bit)
TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ticket's id")]
JSON_BODY = (400, 413, 415, 422)  # what reading a JSON body (`json_body`, `read_body`) refuses

_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def problem(
    status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A 4xx (or 503) answer in the one shape every refusal has: `error`, `message`, and the
    `problems` naming the fields when there are any."""
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status)


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that may refuse with these statuses, each with the
    problem body (the gate's 401, 403 and 421 are added to every route it guards: see
    `openapi.py`)."""
    return {status: {"model": ErrorResponse} for status in statuses}


def body_of(model: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body (as a route's `openapi_extra`) of a route that reads its JSON
    body itself, by `read_body` or `json_body`: the model's schema, with the models it uses
    written in place (FastAPI does not know them, so a reference to them would not resolve)."""
    schema = model if isinstance(model, dict) else model.model_json_schema(by_alias=True)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inlined(schema, schema.get("$defs", {}))}},
        }
    }


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    """`schema` with each `$ref` to one of `definitions` replaced by that definition."""
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref", "")
    if reference.startswith("#/$defs/"):
        return _inlined(definitions[reference.removeprefix("#/$defs/")], definitions)
    return {key: _inlined(value, definitions) for key, value in schema.items() if key != "$defs"}


async def invalid_parameters(_request: Request, error: RequestValidationError) -> JSONResponse:
    """A path, query or header parameter that does not fit (a ticket id beyond what the store
    holds, a limit out of range): 422 in the problem shape, naming the parameter."""
    problems = [
        {
            "field": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
            "problem": str(item["msg"]),
        }
        for item in error.errors()
    ]
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return problem(422, "bad-request", message or "the request does not fit", problems)


class Refusal(Exception):
    """Raised to refuse a request, from a route or from the work of a decision: the app's
    handler answers its problem response, and a decision counts it instead of falling back."""

    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.error = error
        self.response = problem(status, error, message, problems)


def nested_deeper(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` opens arrays and objects more than `limit` deep (or leaves
    them unclosed when it has more than `limit`), read on its bytes, before a parser that
    recurses on each level sees it. Linear: bytes operations only, no Python loop per byte."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # every small body: it has too few brackets to be that deep
    # escapes first (an escaped backslash, then an escaped quote), so every quote left opens
    # or closes a string, and every other piece of text is outside the strings
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):  # each pass takes the innermost level away
        inner = brackets.replace(b"[]", b"")
        if not inner or len(inner) == len(brackets):
            return bool(inner)
        brackets = inner
    return bool(brackets)


class _OutOfRange(ValueError):
    """A number in a body that JSON or Python cannot carry."""


def _not_finite(text: str) -> NoReturn:
    raise _OutOfRange(f"{text} is not a number JSON carries")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        _not_finite(text)
    return number


# made once: `json.loads` with these hooks would build a decoder for every body
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_not_finite)


def parse_json(raw: bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """A JSON text as Python values; a Refusal (400) naming the problem for one nested more
    than `limit` deep, not JSON, or holding a number Python or JSON cannot carry (NaN,
    Infinity, 1e999, an integer of thousands of digits)."""
    if nested_deeper(raw, limit):
        raise Refusal(
            400,
            "too-deep",
            f"the body nests arrays and objects more than {limit} deep (or leaves them open)",
        )
    try:
        # the encodings `json.loads` reads bytes in (UTF-8, else UTF-16 or UTF-32 by their BOM)
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except json.JSONDecodeError as error:
        where = f" at line {error.lineno}, column {error.colno}"
        raise Refusal(400, "malformed-json", f"the body is not valid JSON{where}") from None
    except UnicodeDecodeError:
        raise Refusal(400, "malformed-json", "the body is not UTF-8 JSON") from None
    except _OutOfRange as error:
        raise Refusal(400, "malformed-json", f"the body is not valid JSON: {error}") from None
    except ValueError:  # Python's own bound on the digits of an integer it converts
        message = "the body holds an integer of thousands of digits; no field takes one"
        raise Refusal(400, "malformed-json", message) from None


async def raw_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body as sent, up to `limit` bytes; a Refusal (413) for a longer one, before reading
    it when it declares its length, else as soon as it passes the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # refused before reading it
        raise Refusal(413, "body-too-large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a body with no length is read up to the limit only
        size += len(chunk)
        if size > limit:
            raise Refusal(413, "body-too-large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body; a Refusal for one not sent as JSON (415), over `limit` bytes
    (413), or malformed or nested too deep (400). A body over `MAX_BODY_BYTES` (flow files)
    is checked and parsed off the event loop: the calls go on meanwhile."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(
            415,
            "unsupported-media-type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    raw = await raw_body(request, limit)
    if len(raw) > MAX_BODY_BYTES:
        return await asyncio.to_thread(parse_json, raw)
    return parse_json(raw)


async def read_body(request: Request, parse: Callable[[Any], Parsed]) -> Parsed:
    """The request's JSON body, read by `parse` (a contract parser); a Refusal (4xx) for a body
    that is not JSON or does not fit, naming the fields."""
    body = await json_body(request)
    try:
        return parse(body)
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None
