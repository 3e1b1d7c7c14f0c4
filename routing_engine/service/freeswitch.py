"""FreeSWITCH's mod_httapi: each request it makes for a call (form parameters: `session_id`,
the caller profile's `Caller-*`, `exiting` at hangup, and the `<params>` we set, mirrored back)
becomes the call's start or its next event, through the same `Service.decision` path as
`/v1/calls`; the decision goes back as an httapi document (`httapi.py`).

Where the call stands travels in its params: `routing_seq` (the decision's seq) and
`routing_wait` (what its work waits for). A new call is timed by FreeSWITCH's own clock
(`Caller-Channel-Created-Time`, microseconds since the epoch); httapi's later requests carry no
time, so their events are timed on the call's clock (ARCHITECTURE.md, "Time")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from routing_engine.contract import (
    BadRequest,
    EventRequest,
    NewCallRequest,
    parse_as,
    parse_event,
)
from routing_engine.service.deciding import first_decision, next_decision
from routing_engine.service.deps import service_of
from routing_engine.service.fallbacks import arrival
from routing_engine.service.httapi import DIGITS_PARAM, Settings, document, hangup_document
from routing_engine.service.http import Refusal, raw_body, refusals

router = APIRouter(tags=["telephony"])

FORM = "application/x-www-form-urlencoded"
XML = "text/xml"  # httapi parses nothing else (and retries forever on anything else)
MAX_SEQ = 1_000_000
# originate_disposition (a FreeSWITCH hangup cause) as the dial event it means
DISPOSITIONS = {
    "SUCCESS": "dial.answered",
    "USER_BUSY": "dial.busy",
    "NO_ANSWER": "dial.no-answer",
    "NO_USER_RESPONSE": "dial.no-answer",
    "ALLOTTED_TIMEOUT": "dial.no-answer",
    "ORIGINATOR_CANCEL": "hangup",
}  # any other cause: dial.failed
PARAMS = {
    "session_id": "the call (the channel's UUID)",
    "Caller-Caller-ID-Number": "who called",
    "Caller-Destination-Number": "the number dialed",
    "Caller-Channel-Created-Time": "when the call came in, microseconds since the epoch",
    "exiting": "'true' once the call has hung up",
    "routing_seq": "the seq of the decision performed (mirrored back from <params>)",
    "routing_wait": "what that decision's work waited for (mirrored back)",
    DIGITS_PARAM: "the digits a menu read",
    "originate_disposition": "how the bridge ended (from <getVar>)",
    "routing_recording": "the voicemail recorded (mirrored back)",
}
FORM_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string", "description": text}
                        for name, text in PARAMS.items()
                    },
                    "required": ["session_id"],
                }
            }
        },
    }
}
DOCUMENTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "an httapi document: what FreeSWITCH does next",
        "content": {XML: {"schema": {"type": "string"}}},
    },
    **refusals(404, 409, 413, 415, 422),
}


async def form_params(request: Request) -> dict[str, str]:
    """httapi's parameters: the query string's, then the form body's (a body bounded before it
    is parsed); 415 for a body not sent as a form."""
    params = dict(request.query_params)
    raw = await raw_body(request)
    if raw:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise Refusal(415, "unsupported-media-type", f"send httapi's parameters as {FORM}")
        try:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise Refusal(422, "bad-request", "the form is not UTF-8 form data") from None
    return params


def e164(number: str) -> str:
    """A caller profile's number as E.164 ('anonymous' for none)."""
    digits = re.sub(r"[^0-9]", "", number)
    return "+" + digits if digits else "anonymous"


def created_at(params: Mapping[str, str]) -> str | None:
    """When FreeSWITCH created the call (`Caller-Channel-Created-Time`), ISO 8601 UTC."""
    micros = params.get("Caller-Channel-Created-Time", "")
    if not re.fullmatch(r"[0-9]{1,17}", micros) or int(micros) == 0:
        return None  # none, or no time FreeSWITCH gives: the server stamps the call
    return datetime.fromtimestamp(int(micros) / 1e6, UTC).isoformat()


def _new_call(params: Mapping[str, str]) -> NewCallRequest:
    body = {
        "call_id": params.get("session_id", ""),
        "from": e164(params.get("Caller-Caller-ID-Number", "")),
        "to": e164(params.get("Caller-Destination-Number", "")),
        "at": created_at(params),
    }
    try:
        return parse_as(NewCallRequest, body)
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None


def waited_event(wait: str, params: Mapping[str, str]) -> tuple[str, dict[str, str]] | None:
    """The event that answers a decision whose work waited for `wait`; None when it waited
    for nothing FreeSWITCH reports (done, or an outcome the agent reports)."""
    exiting = params.get("exiting") == "true"
    if wait == "ring":
        disposition = params.get("originate_disposition", "")
        return DISPOSITIONS.get(disposition, "dial.failed"), {}
    if wait == "menu":
        digits = params.get(DIGITS_PARAM, "")
        if exiting:
            return "hangup", {}
        return ("digits", {"digits": digits}) if digits else ("no-input", {})
    if wait == "voicemail":
        return "recording.done", {"recording": params.get("routing_recording", "")}
    if wait == "queue":
        return ("hangup", {}) if params.get("cc_cause") == "answered" else ("queue.timeout", {})
    return None


async def _event(
    request: Request, call_id: str, seq: int, kind: str, data: dict[str, str]
) -> dict[str, Any]:
    service = service_of(request)
    body = {"event_id": f"httapi-{seq}", "seq": seq, "type": kind, "data": data}
    try:
        event: EventRequest = parse_event(body)
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None
    return await next_decision(service, call_id, event, arrival(request))


async def _next_decision(
    request: Request, params: Mapping[str, str], call_id: str, seq: int
) -> dict[str, Any] | None:
    """The decision after what the last work did; None when nothing is to be reported."""
    found = waited_event(params.get("routing_wait", ""), params)
    if found is None:
        return None
    decision = await _event(request, call_id, seq, *found)
    # the caller has gone, or the bridge has ended with nothing more to do: the call is over
    # for the caller. Where the agent is still to report an outcome (the link or the API), the
    # engine keeps the call in wrap-up until the report comes, or its `wrap_up` passes.
    gone = params.get("exiting") == "true"
    bridged = found[0] == "dial.answered" and not decision.get("actions")
    if (gone or bridged) and "hangup" in (decision.get("await") or []):
        decision = await _event(request, call_id, decision["seq"], "hangup", {})
    return decision


@router.post(
    "/v1/freeswitch/httapi",
    response_class=Response,
    responses=DOCUMENTED,
    openapi_extra=FORM_BODY,
)
async def httapi(request: Request) -> Response:
    """mod_httapi's URL (`gateway-url`): each request for a call gets the httapi document of
    its next decision. A decision answered as the engine's fallback says so in the document
    (`routing_fallback_reason`, a warning in FreeSWITCH's log) and the X-Routing-Fallback
    header."""
    params = await form_params(request)
    call_id = params.get("session_id", "")
    seq_text = params.get("routing_seq", "")
    if not seq_text:
        if params.get("exiting") == "true":
            return Response(hangup_document(), media_type=XML)
        call = _new_call(params)
        service = service_of(request)
        decision: dict[str, Any] | None = await first_decision(
            service, call, arrival(request), service.current.compiled
        )
    else:
        if not re.fullmatch(r"[0-9]{1,7}", seq_text) or not 1 <= int(seq_text) <= MAX_SEQ:
            problems = [{"field": "routing_seq", "problem": "not a decision's seq"}]
            raise Refusal(422, "bad-request", "routing_seq: not a decision's seq", problems)
        decision = await _next_decision(request, params, call_id, int(seq_text))
    if decision is None:
        return Response(hangup_document(), media_type=XML)
    base = str(request.base_url).rstrip("/")
    body, _ = document(decision, call_id, Settings.from_env(), base)
    reason = decision.get("fallback_reason")
    headers = {"X-Routing-Fallback": str(reason)} if reason else None
    return Response(body, media_type=XML, headers=headers)
