"""The call routes telephony systems ask "what now?" on: a new call's first decision, each
event's next one (the per-call path, kept lean), and a call's state and decisions as stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from routing_engine.contract import (
    DecisionResponse,
    EventRequest,
    NewCallRequest,
    parse_event,
    parse_new_call,
)
from routing_engine.service.deciding import first_decision, next_decision
from routing_engine.service.deps import ServiceDep, service_of
from routing_engine.service.fallbacks import FALLBACK_HEADERS, arrival, routing_answer
from routing_engine.service.http import JSON_BODY, body_of, problem, read_body, refusals

router = APIRouter(tags=["calls"])

DOCUMENTED: dict[int | str, dict[str, Any]] = {
    200: {"model": DecisionResponse, "description": "the decision", "headers": FALLBACK_HEADERS},
    **refusals(*JSON_BODY, 404, 409),
}


@router.post("/v1/calls", responses=DOCUMENTED, openapi_extra=body_of(NewCallRequest))
async def new_call(request: Request) -> JSONResponse:
    """Start a call: the first decision (seq 1)."""
    service = service_of(request)  # not a dependency: the per-call path (see deps.py)
    compiled = service.current.compiled
    call = await read_body(request, parse_new_call)
    decision = await first_decision(service, call, arrival(request), compiled)
    return routing_answer(decision, decision.get("fallback_reason"))


@router.post(
    "/v1/calls/{call_id}/events", responses=DOCUMENTED, openapi_extra=body_of(EventRequest)
)
async def call_event(call_id: str, request: Request) -> JSONResponse:
    """Report what happened; the next decision (seq + 1)."""
    service = service_of(request)  # not a dependency: the per-call path (see deps.py)
    event = await read_body(request, parse_event)
    compiled = service.current.compiled
    decision = await next_decision(service, call_id, event, arrival(request), compiled)
    return routing_answer(decision, decision.get("fallback_reason"))


@router.get("/v1/calls/{call_id}", responses=refusals(404))
async def get_call(call_id: str, service: ServiceDep) -> JSONResponse:
    """A call's state, pinned version, full trace and every decision made for it."""
    stored = await service.store.call(call_id)
    if stored is None:
        return problem(404, "unknown-call", f"no call '{call_id}'")
    return JSONResponse({**stored.state, "decisions": await service.store.audit(call_id)})
