"""The call routes telephony systems ask "what now?" on: a new call's first decision, each
event's next one (the per-call path, kept lean), and a call's state and decisions as stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from routing_engine.contract import (
    DecisionResponse,
    ErrorResponse,
    EventRequest,
    NewCallRequest,
    parse_event,
    parse_new_call,
)
from routing_engine.service.deps import ServiceDep, service_of
from routing_engine.service.fallbacks import Asked, arrival
from routing_engine.service.http import problem, read_body

router = APIRouter(tags=["calls"])

DOCUMENTED: dict[int | str, dict[str, Any]] = {
    200: {"model": DecisionResponse, "description": "the decision"},
    **{code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422)},
}


def body_of(model: Any) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (by a contract parser,
    for its own error messages), from the contract's model."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post("/v1/calls", responses=DOCUMENTED, openapi_extra=body_of(NewCallRequest))
async def new_call(request: Request) -> JSONResponse:
    """Start a call: the first decision (seq 1)."""
    service = service_of(request)  # not a dependency: the per-call path (see deps.py)
    compiled = service.current.compiled
    call = await read_body(request, parse_new_call)
    decision = await service.decision(
        lambda: service.start_call(call, compiled),
        call.call_id,
        1,
        compiled,
        call.dialed,
        asked=Asked(call=call),
        arrived=arrival(request),
    )
    return JSONResponse(decision)


@router.post(
    "/v1/calls/{call_id}/events", responses=DOCUMENTED, openapi_extra=body_of(EventRequest)
)
async def call_event(call_id: str, request: Request) -> JSONResponse:
    """Report what happened; the next decision (seq + 1)."""
    service = service_of(request)  # not a dependency: the per-call path (see deps.py)
    event = await read_body(request, parse_event)
    compiled = service.current.compiled
    decision = await service.decision(
        lambda: service.apply_event(call_id, event),
        call_id,
        event.seq + 1,
        compiled,
        asked=Asked(event=event),
        arrived=arrival(request),
    )
    return JSONResponse(decision)


@router.get("/v1/calls/{call_id}")
async def get_call(call_id: str, service: ServiceDep) -> JSONResponse:
    """A call's state, pinned version, full trace and every decision made for it."""
    stored = await service.store.call(call_id)
    if stored is None:
        return problem(404, "unknown-call", f"no call '{call_id}'")
    return JSONResponse({**stored.state, "decisions": await service.store.audit(call_id)})
