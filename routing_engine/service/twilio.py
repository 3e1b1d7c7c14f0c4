"""The Twilio Voice webhook (ARCHITECTURE.md, "A new telephony adapter"): Twilio's requests in,
as the engine's new calls and events (through `Service.decision`, as `/v1/calls` takes
them: deadline, fallback, retries and seq checks alike), and each decision out as TwiML
(`twiml.py`). Every request is Twilio's signed form (`twilio_auth.py`).

- `voice`: a call comes in (the number's voice webhook); `CallSid` is the call's id.
- `gather`, `dial`, `record`: the action callbacks of the verbs a decision played, each
  carrying in its URL the `seq` of that decision, so a retried callback is the same event
  (`twilio-<verb>-<seq>`) and gets the same TwiML. One that comes after the call moved on
  (the agent reported on its own leg meanwhile) gets the call's latest decision.
- `status`: the status callback; a call that ended (`completed`, `canceled`, ...) hangs up.
- `whisper`, `outcome`: the agent's leg of a ring whose node takes `reports`: on answering,
  the agent may report the outcome by digit before being put through (`twiml.whisper`).

A fallback decision is marked in Twilio's terms: an `X-Routing-Fallback` header with its
reason (Twilio's request inspector shows it), and its last `<Dial>` reports to a `dial`
action URL that carries `fallback=<reason>` and ends the call there."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from routing_engine.contract import (
    E164,
    BadRequest,
    EventRequest,
    NewCallRequest,
    parse_as,
    parse_event,
)
from routing_engine.core.compiled import CQueue, CRing
from routing_engine.service.core import Service
from routing_engine.service.deciding import first_decision, next_decision
from routing_engine.service.deps import service_of
from routing_engine.service.fallbacks import arrival
from routing_engine.service.http import MAX_ID, Refusal, refusals
from routing_engine.service.twilio_auth import FORM, TwilioSettings, field, signed_form
from routing_engine.service.twiml import hangup, said, twiml, whisper

router = APIRouter(tags=["twilio"])

FALLBACK_HEADER = "X-Routing-Fallback"
DIAL_EVENTS = {
    "completed": "dial.answered",
    "answered": "dial.answered",
    "busy": "dial.busy",
    "no-answer": "dial.no-answer",
    "failed": "dial.failed",
    "canceled": "hangup",  # the caller hung up while the targets rang
}
CALL_ENDED = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
TWILIO_NAMES = {"call_id": "CallSid", "from": "From", "to": "To", "data.digits": "Digits"}

Seq = Annotated[int, Query(ge=1, le=MAX_ID, description="the seq of the decision that played")]
CallId = Annotated[
    str, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$", description="CallSid")
]
Reports = Annotated[
    str, Query(max_length=1024, pattern=r"^[A-Za-z0-9_.,-]*$", description="outcomes, in order")
]


def _form(*fields: str, required: tuple[str, ...] = (), answer: int = 200) -> dict[str, Any]:
    """The OpenAPI of a route: the form it reads, TwiML answered, and what it refuses."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in fields},
        "required": list(required),
    }
    return {
        "openapi_extra": {
            "requestBody": {"required": True, "content": {FORM: {"schema": schema}}},
            "parameters": [
                {
                    "name": "X-Twilio-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
        },
        "responses": {
            answer: {"description": "noted"}
            if answer == 204
            else {
                "description": "TwiML",
                "content": {"application/xml": {"schema": {"type": "string"}}},
            },
            **refusals(400, 403, 404, 409, 413, 415, 422, 503),
        },
        "response_class": Response,
    }


def settings_of(request: Request) -> TwilioSettings:
    found: TwilioSettings = request.app.state.twilio
    return found


def _parsed(model: type[NewCallRequest] | None, body: dict[str, Any]) -> Any:
    """A new call or an event from Twilio's fields; 422 naming Twilio's field when one does
    not fit."""
    try:
        return parse_event(body) if model is None else parse_as(model, body)
    except BadRequest as error:
        problems = [
            {**p, "field": TWILIO_NAMES.get(p["field"], p["field"])} for p in error.problems
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise Refusal(422, "bad-request", message, problems) from None


def answer(decision: dict[str, Any], service: Service, settings: TwilioSettings) -> Response:
    """The decision as TwiML; a fallback marked with its reason."""
    reason = decision.get("fallback_reason")
    headers = {FALLBACK_HEADER: str(reason)} if reason else None
    return _xml(twiml(_with_reports(decision, service), settings.links), headers)


def _xml(document: str, headers: dict[str, str] | None = None) -> Response:
    return Response(document, media_type="application/xml", headers=headers)


def _with_reports(decision: dict[str, Any], service: Service) -> dict[str, Any]:
    """The decision with each ring's `reports` (the outcomes its node takes), read from the
    call's deployment version where the decision does not carry them."""
    actions = decision.get("actions") or []
    if decision.get("fallback_reason") or not any(
        a.get("type") == "ring" and "reports" not in a for a in actions
    ):
        return decision
    flow = decision.get("flow") or {}
    compiled = service.versions.get(str(flow.get("hash")))
    where = (str(flow.get("name")), str(decision.get("node")))
    node = None if compiled is None else compiled.nodes.get(where)
    reports = sorted(node.reports) if isinstance(node, CRing | CQueue) else []
    return {
        **decision,
        "actions": [
            {**a, "reports": reports} if a.get("type") == "ring" and "reports" not in a else a
            for a in actions
        ],
    }


async def _event(
    request: Request, service: Service, call_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The decision for one event of the call, through the service's one path."""
    event: EventRequest = _parsed(None, body)
    compiled = service.current.compiled
    return await next_decision(service, call_id, event, arrival(request), compiled)


async def _callback(
    request: Request, service: Service, call_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """An action callback's decision; when the call has moved on past the decision that
    played (409), the call's latest decision, which is what it must do now."""
    try:
        return await _event(request, service, call_id, body)
    except Refusal as refusal:
        if refusal.response.status_code != 409:
            raise
        decisions = await service.store.audit(call_id)
        if not decisions:
            raise
        return decisions[-1]


@router.post("/v1/twilio/voice", **_form("CallSid", "From", "To", required=("CallSid", "To")))
async def voice(request: Request) -> Response:
    """A call comes in (the number's voice webhook): the first decision, as TwiML."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    caller = form.get("From", "")
    body = {
        "call_id": field(form, "CallSid"),
        "from": caller if re.fullmatch(E164, caller) else "anonymous",
        "to": field(form, "To"),
    }
    call: NewCallRequest = _parsed(NewCallRequest, body)
    compiled = service.current.compiled
    decision = await first_decision(service, call, arrival(request), compiled)
    return answer(decision, service, settings)


@router.post("/v1/twilio/gather", **_form("CallSid", "Digits", required=("CallSid",)))
async def gather(request: Request, seq: Seq) -> Response:
    """A menu's `<Gather action>`: the digits pressed, or none (`no-input`)."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    digits = form.get("Digits", "")
    body: dict[str, Any] = {"event_id": f"twilio-gather-{seq}", "seq": seq, "type": "no-input"}
    if digits:
        body.update(type="digits", data={"digits": digits})
    decision = await _callback(request, service, field(form, "CallSid"), body)
    return answer(decision, service, settings)


@router.post("/v1/twilio/dial", **_form("CallSid", "DialCallStatus", required=("CallSid",)))
async def dial(
    request: Request,
    seq: Seq,
    fallback: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z-]+$")] = None,
) -> Response:
    """A ring's `<Dial action>`: how it ended (`DialCallStatus`). A fallback's ring reports
    here marked `fallback=<reason>`: the call ends, as fallbacks do."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    if fallback is not None:
        return _xml(hangup(), {FALLBACK_HEADER: fallback})
    status = field(form, "DialCallStatus")
    kind = DIAL_EVENTS.get(status)
    if kind is None:
        expected = ", ".join(DIAL_EVENTS)
        problem = f"unknown status {status[:32]!r}; expected one of: {expected}"
        problems = [{"field": "DialCallStatus", "problem": problem}]
        raise Refusal(422, "bad-request", problem, problems)
    body = {"event_id": f"twilio-dial-{seq}", "seq": seq, "type": kind}
    decision = await _callback(request, service, field(form, "CallSid"), body)
    return answer(decision, service, settings)


@router.post("/v1/twilio/record", **_form("CallSid", "RecordingUrl", required=("CallSid",)))
async def record(request: Request, seq: Seq) -> Response:
    """A voicemail's `<Record action>`: the recording's URL (`RecordingUrl`)."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    body: dict[str, Any] = {"event_id": f"twilio-record-{seq}", "seq": seq}
    body.update(type="recording.done", data={"recording": form.get("RecordingUrl", "")})
    decision = await _callback(request, service, field(form, "CallSid"), body)
    return answer(decision, service, settings)


@router.post(
    "/v1/twilio/status",
    status_code=204,
    **_form("CallSid", "CallStatus", required=("CallSid",), answer=204),
)
async def status(request: Request) -> Response:
    """The number's status callback: a call that ended (`completed`, `canceled`, ...) hangs
    up, unless it has ended already (a decision ended it, or this is a retry)."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    call_id = field(form, "CallSid")
    if form.get("CallStatus", "") in CALL_ENDED:
        stored = await service.store.call(call_id)
        if stored is not None and stored.state.get("status") != "ended":
            body = {"event_id": f"twilio-hangup-{stored.seq}", "seq": stored.seq, "type": "hangup"}
            try:
                await _event(request, service, call_id, body)
            except Refusal as refusal:  # ended meanwhile: nothing left to do
                if refusal.response.status_code != 409:
                    raise
    return Response(status_code=204)


@router.post("/v1/twilio/whisper", **_form("CallSid", "ParentCallSid"))
async def agent_answered(request: Request, call: CallId, seq: Seq, reports: Reports) -> Response:
    """The agent's leg, on answering (`<Number url>`, `<Sip url>`): the ring is answered;
    when the engine then awaits the agent's outcome, the agent is asked for it by digit."""
    service, settings = service_of(request), settings_of(request)
    await signed_form(request, settings)
    body = {"event_id": f"twilio-answered-{seq}", "seq": seq, "type": "dial.answered"}
    try:
        decision = await _event(request, service, call, body)
    except Refusal as refusal:
        if refusal.response.status_code != 409:
            raise
        return _xml(said(""))  # moved on: put through
    names = [name for name in reports.split(",") if name]
    if "outcome" not in decision["await"] or not names:
        return _xml(said(""))  # nothing to report: put through
    url = settings.links.url("outcome", call=call, seq=decision["seq"], reports=",".join(names))
    flow = (decision.get("flow") or {}).get("name")
    return _xml(whisper(flow, names, url))


@router.post("/v1/twilio/outcome", **_form("CallSid", "Digits"))
async def agent_outcome(request: Request, call: CallId, seq: Seq, reports: Reports) -> Response:
    """The digit the agent pressed in the whisper: the outcome it stands for, reported; then
    the agent is put through to the caller."""
    service, settings = service_of(request), settings_of(request)
    form = await signed_form(request, settings)
    names = [name for name in reports.split(",") if name]
    digits = form.get("Digits", "")
    if not digits.isdigit() or not 1 <= int(digits) <= len(names):
        return _xml(said("No outcome reported. Connecting you."))
    name = names[int(digits) - 1]
    body = {"event_id": f"twilio-outcome-{seq}", "seq": seq, "type": "outcome"}
    body["data"] = {"outcome": name}
    try:
        await _event(request, service, call, body)
    except Refusal as refusal:
        if refusal.response.status_code != 409:
            raise
        return _xml(said("The call has moved on. Connecting you."))
    spoken = name.replace("-", " ")
    return _xml(said(f"Reported: {spoken}. Connecting you."))
