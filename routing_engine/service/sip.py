"""The single-shot route for SIP proxies: destinations per INVITE in Kamailio's rtjson shape,
the next leg after a reported failure, and reports of what became of the call (a leg answered,
the call ended) so the engine's record shows the whole path."""

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
from routing_engine.core.compiled import TargetInfo
from routing_engine.service.core import Service
from routing_engine.service.deciding import first_decision, next_decision
from routing_engine.service.deps import ServiceDep
from routing_engine.service.fallbacks import FALLBACK_HEADERS, arrival, routing_answer
from routing_engine.service.http import JSON_BODY, body_of, problem, read_body, refusals
from routing_engine.service.rtjson_models import RouteResponse

router = APIRouter(tags=["calls"])

# What a proxy cannot play: a waiting decision of these (and no ring) gets its fallback's
# routes, marked `needs-media` (a voicemail rings the deployment's voicemail server instead,
# when it names one).
NEEDS_MEDIA = frozenset({"menu", "say", "voicemail", "queue"})
NEEDS = "needs-media"
SIP_SCHEMES = ("sip:", "sips:")
# How long a proxy waits for a voicemail server to answer, and for any leg's first reply.
VOICEMAIL_RING_MS = 30000
FIRST_REPLY_MS = 5000


@router.post(
    "/v1/route",
    responses={
        200: {
            "model": RouteResponse,
            "description": "the routes, in rtjson",
            "headers": FALLBACK_HEADERS,
        },
        **refusals(*JSON_BODY, 404, 409),
    },
    openapi_extra=body_of(RouteRequest),
)
async def route(request: Request, service: ServiceDep) -> JSONResponse:
    """For SIP proxies that want destinations per INVITE: the routes in Kamailio's rtjson
    shape; report a failed leg (`failure.code`) to get the next routes, and a leg answered or
    the call's end (`report`) so the call's record shows it."""
    asked = await read_body(request, partial(parse_as, RouteRequest))
    compiled = service.current.compiled
    arrived = arrival(request)
    if asked.failure is None and asked.report is None:
        call = NewCallRequest.model_validate(
            {"call_id": asked.call_id, "from": asked.caller, "to": asked.dialed, "at": asked.at}
        )
        decision = await first_decision(service, call, arrived, compiled)
        return answered(rtjson(decision, compiled.targets))
    if asked.failure is not None:
        kind, wanted = dial_event(asked.failure.code), asked.failure.seq
    else:
        assert asked.report is not None  # the request model allows one of the two
        kind, wanted = asked.report.type, asked.report.seq
    seq = wanted or await _last_seq(service, asked.call_id)
    if seq is None:
        message = f"no call '{asked.call_id}'; route it first without 'failure' or 'report'"
        return problem(404, "unknown-call", message)
    event = EventRequest.model_validate(
        {"event_id": f"route-{seq}", "seq": seq, "type": kind, "at": asked.at}
    )
    decision = await next_decision(service, asked.call_id, event, arrived, compiled)
    return answered(rtjson(decision, compiled.targets, connected=asked.report is not None))


def answered(document: dict[str, Any]) -> JSONResponse:
    """The rtjson answer, with `X-Routing-Fallback` when it is a fallback."""
    return routing_answer(document, document["fallback_reason"])


async def _last_seq(service: Service, call_id: str) -> int | None:
    """The seq of the call's last decision; None for no such call (1 when the store cannot be
    read: the decision then falls back)."""
    try:
        stored = await service.store.call(call_id)
    except Exception:  # the store cannot be read: the decision falls back
        return 1
    return None if stored is None else stored.seq


def rtjson(
    decision: dict[str, Any],
    targets: dict[str, TargetInfo] | None = None,
    *,
    connected: bool = False,
) -> dict[str, Any]:
    """A decision as Kamailio's rtjson routing document. A proxy can only ring: a voicemail
    rings the voicemail server the deployment names (target `voicemail-BOARD`, else
    `voicemail`); any other decision that plays media (a menu, a voicemail with no such
    target) becomes its fallback's routes (its line's). `connected` (an answer to a report):
    the routes are only what the decision rings, never its fallback's.

    Every route is a SIP URI (`dial_uri`: a number through its trunk). Besides rtjson's
    fields: `call_id`, `seq`, `final` (no routes), `await` (the events the decision expects),
    `fallback_reason` (set on a fallback answer: the engine's reason, or `needs-media` when
    the line's fallback stands in for media a proxy cannot play), and `fallback`, the
    decision's precomputed fallback as an rtjson document of its own, for the proxy to keep
    and ring when the engine cannot be reached later in the call."""
    actions = decision["actions"]
    reason = decision.get("fallback_reason")
    routes = _ring_routes(actions, decision)
    if not routes and not connected:
        routes = _voicemail_routes(actions, decision, targets or {})
        waits = bool(decision["await"])  # a final decision (say, hang up) stays final
        if not routes and waits and any(a["type"] in NEEDS_MEDIA for a in actions):
            routes = _ring_routes(decision["fallback"]["actions"], decision, reason=NEEDS)
            reason = reason or NEEDS
    fallback_routes = _ring_routes(decision["fallback"]["actions"], decision, fallback=True)
    return {
        "version": "1.0",
        "routing": _routing(actions if routes else decision["fallback"]["actions"]),
        "routes": routes,
        "call_id": decision["call_id"],
        "seq": decision["seq"],
        "final": not routes,
        "await": list(decision["await"]),
        "fallback_reason": reason,
        "fallback": {
            "version": "1.0",
            "routing": _routing(decision["fallback"]["actions"]),
            "routes": fallback_routes,
        },
    }


def _routing(actions: list[dict[str, Any]]) -> str:
    simultaneous = any(a.get("strategy") == "simultaneous" for a in actions)
    return "parallel" if simultaneous else "serial"


def _ring_routes(
    actions: list[dict[str, Any]],
    decision: dict[str, Any],
    *,
    fallback: bool = False,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """One route per target rung. Headers for the leg: its target, the call and seq to report
    with, the fallback's reason (on a fallback answer, or `unreachable` on the precomputed
    fallback), and what an agent may report and where (a ring's `reports`, `disposition_url`)."""
    reason = "unreachable" if fallback else (decision.get("fallback_reason") or reason)
    routes = []
    for action in actions:
        if action["type"] != "ring":
            continue
        extra = _headers(decision, reason)
        if action.get("reports"):
            extra["X-Outcomes"] = ",".join(str(name) for name in action["reports"])
        if action.get("disposition_url"):
            extra["X-Disposition-URL"] = str(action["disposition_url"])
        for target in action["targets"]:
            uri = dial_uri(target)
            if uri is None:  # a number without a trunk: not for a proxy
                continue
            headers = {"X-Route-Target": target["name"], **extra}
            routes.append(_route(uri, int(action["timeout_s"] * 1000), headers))
    return routes


def _voicemail_routes(
    actions: list[dict[str, Any]], decision: dict[str, Any], targets: dict[str, TargetInfo]
) -> list[dict[str, Any]]:
    """A voicemail decision as a leg to the voicemail server the deployment names, with the
    board, the prompt's length bound and the call to report `recording.done` for."""
    for action in actions:
        if action["type"] != "voicemail":
            continue
        board = str(action.get("board") or "")
        target = targets.get(f"voicemail-{board}") or targets.get("voicemail")
        if target is None:
            return []
        headers = {
            "X-Route-Target": target.name,
            **_headers(decision, decision.get("fallback_reason")),
            "X-Voicemail-Board": board,
            "X-Voicemail-Max-Length": str(int(action.get("max_length_s") or 0)),
        }
        return [_route(target.sip_uri or target.uri, VOICEMAIL_RING_MS, headers)]
    return []


def _headers(decision: dict[str, Any], fallback_reason: str | None) -> dict[str, str]:
    headers = {"X-Routing-Call": str(decision["call_id"]), "X-Call-Seq": str(decision["seq"])}
    if fallback_reason:
        headers["X-Route-Fallback"] = str(fallback_reason)
    return headers


def _route(uri: str, ring_ms: int, headers: dict[str, str]) -> dict[str, Any]:
    extra = "".join(f"{name}: {_one_line(value)}\r\n" for name, value in headers.items())
    return {
        "uri": uri,
        "fr_timer": FIRST_REPLY_MS,
        "fr_inv_timer": ring_ms,
        "headers": {"extra": extra},
    }


def _one_line(value: str) -> str:
    """A header value as one line: a CR or LF would let a value add headers of its own."""
    return " ".join(value.split())


def dial_uri(target: dict[str, Any]) -> str | None:
    """What a proxy dials for a decision's target: a number's SIP URI through its trunk (the
    compiler works it out, `core/trunks.py`), else its own URI when that is a SIP URI (S118
    has checked its syntax); None for a number without a trunk (a deployment that declares
    no trunks dials numbers only where the platform can, as Twilio does)."""
    sip_uri = target.get("sip_uri")
    if sip_uri:
        return str(sip_uri)
    uri = str(target["uri"])
    return uri if uri[:5].lower().startswith(SIP_SCHEMES) else None
