"""The jambonz adapter: jambonz's webhooks in, jambonz verbs out (`jambonz_verbs.py`).

- `POST /v1/jambonz/call`: the application's call webhook; a new call, its first verbs.
- `POST /v1/jambonz/action?on=KIND&seq=N`: the verbs' actionHooks (a dial's end, a gather's
  digits, a message recorded), each the event it reports, answered with the next verbs.
- `POST /v1/jambonz/answered?seq=N`: a dial's confirmHook, called when a target answers and
  before the parties are bridged: the engine learns of the answer then, so the agent can
  report an outcome during the call. Always answered `[]` (bridge now).
- `POST /v1/jambonz/reported?seq=N&reports=A,B`: a dial's dtmfHook: the agent pressed *1,
  *2... during the call, the outcome the ring node reports first, second...
- `POST /v1/jambonz/status`: the call status webhook; a call that ends is a `hangup`.

Every event goes through the same `Service.decision` path as `/v1/calls`, with an event id
made of its kind and seq: a webhook jambonz retries gets the same decision. jambonz signs
its webhooks (`Jambonz-Signature`, HMAC-SHA256 of `TIMESTAMP.BODY` with the account's webhook
secret, $ROUTING_JAMBONZ_SECRET) or sends HTTP basic auth: these routes check either
themselves (their `auth.PERMISSIONS` entry is None), as the gate checks bearer keys
elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from routing_engine.contract import BadRequest, EventRequest, NewCallRequest, parse_as
from routing_engine.service.auth import Keys
from routing_engine.service.core import Service
from routing_engine.service.deciding import first_decision, next_decision
from routing_engine.service.deps import service_of
from routing_engine.service.fallbacks import arrival
from routing_engine.service.http import (
    MAX_ID,
    Refusal,
    body_of,
    parse_json,
    raw_body,
    refusals,
)
from routing_engine.service.jambonz_verbs import (
    ENDED,
    RECORDING_ENV,
    Hook,
    dial_event,
    e164,
    gather_event,
    verbs,
)

router = APIRouter(tags=["jambonz"])
SECRET_ENV = "ROUTING_JAMBONZ_SECRET"  # the account's webhook secret(s), comma-separated
TOLERANCE_S = 300  # how old a signature may be (jambonz's own SDKs allow as much)
Seq = Annotated[int, Query(ge=1, le=MAX_ID, description="the seq of the decision it answers")]
HOOK_BODY = body_of(Hook)
DOCUMENTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "the jambonz verbs to run next (a JSON array)"},
    **refusals(400, 401, 403, 404, 409, 413, 415, 422),
}


def _signed(header: str, raw: bytes, secrets: list[str], now: float) -> bool:
    """Whether `Jambonz-Signature` (`t=TIMESTAMP,v1=HEX`) signs `raw` with one of `secrets`,
    within TOLERANCE_S of `now`."""
    fields = [part.partition("=") for part in header.split(",")]
    stamp = next((value.strip() for key, _, value in fields if key.strip() == "t"), "")
    given = [value.strip() for key, _, value in fields if key.strip() == "v1"]
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):  # Unix seconds
        return False
    if abs(now - int(stamp)) > TOLERANCE_S:
        return False
    signed = stamp.encode() + b"." + raw
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, value) for value in given):
            return True
    return False


def _presented_key(header: str) -> str:
    """The key in an Authorization header: a bearer key, or a basic-auth password."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def check_caller(request: Request, raw: bytes, keys: Keys, now: float) -> None:
    """Let jambonz through: a valid signature when a secret is configured and the request is
    signed; else a telephony key (bearer, or the basic-auth password jambonz sends) when keys
    are configured. A Refusal (401, 403) otherwise. With neither, the gate's loopback rule
    is all (as for every route)."""
    secrets = [s.strip() for s in os.environ.get(SECRET_ENV, "").split(",") if s.strip()]
    signature = request.headers.get("jambonz-signature")
    if secrets and signature:
        if _signed(signature, raw, secrets, now):
            return
        raise Refusal(401, "bad-signature", "the Jambonz-Signature does not sign this body")
    if keys.enabled:
        role = keys.role_of(_presented_key(request.headers.get("authorization", "")))
        if role == "telephony":
            return
        if role is not None:
            raise Refusal(403, "forbidden", f"a {role} key may not do this; it takes: telephony")
    if keys.enabled or secrets:
        raise Refusal(
            401,
            "unauthorized",
            "sign webhooks with the account's webhook secret (Jambonz-Signature), or send a "
            "telephony key as the basic-auth password",
        )


async def read_hook(request: Request) -> tuple[Service, Hook]:
    """The webhook's payload, once its sender is checked; a Refusal naming what is wrong."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(415, "unsupported-media-type", "jambonz webhooks are POSTed as JSON")
    raw = await raw_body(request)
    service = service_of(request)
    check_caller(request, raw, request.app.state.gate.keys, service.clock().timestamp())
    try:
        return service, parse_as(Hook, parse_json(raw))
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None


async def _event(
    request: Request, service: Service, call_id: str, seq: int, kind: str, **data: str
) -> dict[str, Any]:
    """The decision for an event, through the one path `/v1/calls` takes; its id (kind and
    seq) makes a retried webhook get the same decision."""
    try:
        event = parse_as(
            EventRequest,
            {"event_id": f"jambonz:{kind}:{seq}", "seq": seq, "type": kind, "data": data},
        )
    except BadRequest as error:  # what jambonz sent does not fit an event
        raise Refusal(422, "bad-request", str(error), error.problems) from None
    return await next_decision(service, call_id, event, arrival(request))


@router.post("/v1/jambonz/call", responses=DOCUMENTED, openapi_extra=HOOK_BODY)
async def call_webhook(request: Request) -> JSONResponse:
    """jambonz's call webhook: a new call (its `call_sid`, `from`, `to`); its first verbs."""
    service, hook = await read_hook(request)
    dialed = e164(hook.to)
    if dialed is None:
        problem = [{"field": "to", "problem": "not a phone number (E.164, e.g. +12125550100)"}]
        raise Refusal(422, "bad-request", f"to: {problem[0]['problem']}", problem)
    caller = e164(hook.caller) or "anonymous"
    call = parse_as(NewCallRequest, {"call_id": hook.call_sid, "from": caller, "to": dialed})
    compiled = service.current.compiled
    decision = await first_decision(service, call, arrival(request), compiled)
    return JSONResponse(verbs(decision, hook, base_of(request)))


def base_of(request: Request) -> str:
    """This service's URL as jambonz reaches it (for links given as paths)."""
    return str(request.base_url).rstrip("/")


@router.post("/v1/jambonz/action", responses=DOCUMENTED, openapi_extra=HOOK_BODY)
async def action_hook(
    request: Request,
    seq: Seq,
    on: Annotated[str, Query(pattern="^(dial|queue|gather|recording)$")],
) -> JSONResponse:
    """A verb's actionHook: what happened (a dial's `dial_call_status`, a gather's `digits`,
    a message recorded) as its event; the next verbs."""
    service, hook = await read_hook(request)
    data: dict[str, str] = {}
    if on in ("dial", "queue"):
        kind = dial_event(hook, on)
    elif on == "gather":
        kind, data = gather_event(hook)
    else:  # the message was streamed to the recording websocket, under the call's id
        kind = "recording.done"
        data = {"recording": f"{os.environ.get(RECORDING_ENV, '')}#{hook.call_id}"}
    decision = await _event(request, service, hook.call_id, seq, kind, **data)
    if kind == "dial.answered":  # the bridged call is over: answer where the call is now
        decision = await _latest(service, hook.call_id, decision)
        if not decision["actions"] and decision["await"]:
            return JSONResponse([{"verb": "hangup"}])
    return JSONResponse(verbs(decision, hook, base_of(request)))


async def _latest(service: Service, call_id: str, decision: dict[str, Any]) -> dict[str, Any]:
    """The call's latest decision: an agent may have reported an outcome during the call,
    after the answer was reported (by the confirmHook)."""
    try:
        decided = await service.store.audit(call_id)
    except Exception:  # the store cannot say: the answer's decision stands
        return decision
    if decided and decided[-1].get("seq", 0) > decision["seq"]:
        return decided[-1]
    return decision


@router.post("/v1/jambonz/answered", responses=DOCUMENTED, openapi_extra=HOOK_BODY)
async def answered_hook(request: Request, seq: Seq) -> JSONResponse:
    """A dial's confirmHook: a target answered; the engine hears `dial.answered` now, and
    jambonz bridges the call (always `[]`: a refusal here would hang up on the agent)."""
    service, hook = await read_hook(request)
    with contextlib.suppress(Refusal):  # past this answer already (an outcome reported)
        await _event(request, service, hook.call_id, seq, "dial.answered")
    return JSONResponse([])


Reports = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(,[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,8}$",
        description="the outcomes *1, *2... stand for, in order",
    ),
]


@router.post("/v1/jambonz/reported", responses=DOCUMENTED, openapi_extra=HOOK_BODY)
async def reported_hook(request: Request, seq: Seq, reports: Reports) -> JSONResponse:
    """A dial's dtmfHook: the connected agent pressed *N, the Nth outcome of `reports`. Its
    decision is played when the bridged call ends (the dial's actionHook answers it)."""
    service, hook = await read_hook(request)
    outcomes = reports.split(",")
    key = hook.dtmf.removeprefix("*")
    if not key.isdigit() or not 1 <= int(key) <= len(outcomes):
        problem = {"field": "dtmf", "problem": f"expected *1 to *{len(outcomes)}"}
        raise Refusal(422, "bad-request", f"dtmf: {problem['problem']}", [problem])
    outcome = outcomes[int(key) - 1]
    await _event(request, service, hook.call_id, seq, "outcome", outcome=outcome)
    return JSONResponse([])


@router.post(
    "/v1/jambonz/status",
    responses={204: {"description": "noted"}, **refusals(400, 401, 403, 413, 415, 422)},
    status_code=204,
    openapi_extra=HOOK_BODY,
)
async def status_hook(request: Request) -> Response:
    """The call status webhook: a call that ended (`completed`, `failed`, `busy`,
    `no-answer`) is a `hangup` at the call's current seq; other statuses change nothing."""
    service, hook = await read_hook(request)
    if hook.parent_call_sid is None and hook.call_status in ENDED:
        for _ in range(2):  # a hook decided meanwhile moves the seq on: once more at the new
            try:
                stored = await service.store.call(hook.call_sid)
            except Exception:  # the store cannot say: nothing to end
                break
            if stored is None or stored.state.get("status") == "ended":
                break
            try:
                await _event(request, service, hook.call_sid, stored.seq, "hangup")
                break
            except Refusal as refused:  # ended meanwhile, or moved on: read it again
                if refused.error != "stale-seq":
                    break
    return Response(status_code=204)
