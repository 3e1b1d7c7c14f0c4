"""The single-shot route for SIP proxies: destinations per INVITE in Kamailio's rtjson shape,
and the next leg after a reported failure."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from routing_engine.contract import (
    EventRequest,
    NewCallRequest,
    RouteRequest,
    dial_event,
    parse_as,
)
from routing_engine.service.deps import ServiceDep
from routing_engine.service.fallbacks import Asked, arrival
from routing_engine.service.http import JSON_BODY, body_of, problem, read_body, refusals

router = APIRouter(tags=["calls"])


@router.post(
    "/v1/route", responses=refusals(*JSON_BODY, 404, 409), openapi_extra=body_of(RouteRequest)
)
async def route(request: Request, service: ServiceDep) -> JSONResponse:
    """For SIP proxies that want destinations per INVITE: the routes in Kamailio's rtjson
    shape; report a failed leg (`failure.code`) to get the next routes."""
    asked = await read_body(request, partial(parse_as, RouteRequest))
    compiled = service.current.compiled
    call = NewCallRequest.model_validate(
        {"call_id": asked.call_id, "from": asked.caller, "to": asked.dialed, "at": asked.at}
    )
    arrived = arrival(request)
    if asked.failure is None:
        decision = await service.decision(
            lambda: service.start_call(call, compiled),
            asked.call_id,
            1,
            compiled,
            call.dialed,
            asked=Asked(call=call),
            arrived=arrived,
        )
    else:
        try:
            stored = await service.store.call(asked.call_id)
            seq = asked.failure.seq or (None if stored is None else stored.seq)
        except Exception:  # the store cannot be read: the decision below falls back
            seq = asked.failure.seq or 1
        if seq is None:
            message = f"no call '{asked.call_id}'; route it first without 'failure'"
            return problem(404, "unknown-call", message)
        event = EventRequest.model_validate(
            {
                "event_id": f"route-{seq}",
                "seq": seq,
                "type": dial_event(asked.failure.code),
                "at": asked.at,
            }
        )
        decision = await service.decision(
            lambda: service.apply_event(asked.call_id, event),
            asked.call_id,
            seq + 1,
            compiled,
            asked=Asked(event=event),
            arrived=arrived,
        )
    return JSONResponse(rtjson(decision))


def rtjson(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision as Kamailio's rtjson routing document. A proxy can only ring: a decision
    that plays a menu or takes a message becomes its fallback's routes (its line's)."""
    rings = [a for a in decision["actions"] if a["type"] == "ring"]
    final = not decision["await"]
    if not rings and not final:
        rings = [a for a in decision["fallback"]["actions"] if a["type"] == "ring"]
    routes = [
        {
            "uri": target["uri"],
            "fr_timer": 5000,
            "fr_inv_timer": int(action["timeout_s"] * 1000),
            "headers": {
                "extra": f"X-Route-Target: {target['name']}\r\nX-Call-Seq: {decision['seq']}\r\n"
                + disposition_header(action)
            },
        }
        for action in rings
        for target in action["targets"]
    ]
    parallel = any(action.get("strategy") == "simultaneous" for action in rings)
    return {
        "version": "1.0",
        "routing": "parallel" if parallel else "serial",
        "routes": routes,
        "call_id": decision["call_id"],
        "seq": decision["seq"],
        "final": not routes,
        "fallback_reason": decision.get("fallback_reason"),
    }


def disposition_header(action: dict[str, Any]) -> str:
    """The `X-Disposition-URL` header of a leg whose answering agent reports an outcome: the
    signed link to their page (`links.py`), for their phone or desktop to open; '' else."""
    url = action.get("disposition_url")
    return f"X-Disposition-URL: {url}\r\n" if url else ""
