"""The disposition page: where the agent who answered a ring that takes a report (`reports`)
reports the call's outcome, by the signed link the decision gave them (`links.py`).

`GET /disposition/{call_id}?token=...` shows the caller, the line they dialed and a button per
allowed outcome; the form posts the token back (`POST /disposition/{call_id}`, same origin),
which records an `outcome` event for the call through `Service.decision`, as
`POST /v1/calls/{id}/events` does (deadline, fallback, idempotency and seq checks included).
An agent who reports while the call still rings at that node (the telephony system did not
report the answer) has answered it: `dial.answered` is recorded first. The caller usually hangs
up before the agent reports: the link still counts in the call's wrap-up, until the
deployment's `wrap_up` has passed (then the call has ended, and the page says why).

The token is the credential (no API key); the form carries it, so another site cannot post
one it does not know, and a request another site's page sends (`Origin`, `Sec-Fetch-Site`) is
refused too. Its event ids are the link's own (`disposition-SEQ-answered`, `-outcome`): a
second post of the same outcome finds it recorded and changes nothing; another outcome after
one was recorded is refused (409). A forged, damaged, expired or other call's token is 403 and
an unknown call 404, each with a page saying so, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from routing_engine.contract import EventRequest
from routing_engine.core.runtime import WRAP_UP_OVER
from routing_engine.service import transactions
from routing_engine.service.board import SECURITY_HEADERS
from routing_engine.service.core import Service
from routing_engine.service.deciding import next_decision
from routing_engine.service.deps import ServiceDep
from routing_engine.service.disposition_page import CallShown, outcome_form, page
from routing_engine.service.fallbacks import arrival
from routing_engine.service.http import Refusal, raw_body
from routing_engine.service.links import MAX_TOKEN, Claim, Links
from routing_engine.store.call_rows import StoredCall

log = logging.getLogger("routing_engine.service.disposition")
router = APIRouter(tags=["disposition"])
MAX_FORM_BYTES = 2048  # a token and an outcome
# Parameters are checked here, not by FastAPI: a bad one is a page too (403: not its link).
CallId = Path(min_length=1, description="the call's id, as the link names it")


def _html(status: int, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


PAGES: dict[int | str, dict[str, Any]] = {
    200: _html(200, "the page: the call and a button per outcome, or the outcome recorded"),
    403: _html(403, "the link is forged, damaged, expired or another call's; or another site"),
    404: _html(404, "no such call"),
    409: _html(409, "the call no longer waits for an outcome here, or another was recorded"),
    413: _html(413, "the form is too large"),
    415: _html(415, "not a form"),
    422: _html(422, "the form lacks the token or the outcome, or names one not allowed"),
    503: _html(503, "the outcome could not be recorded just now (the fallback answered)"),
}
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token", "outcome"],
                    "properties": {
                        "token": {"type": "string", "maxLength": MAX_TOKEN},
                        "outcome": {"type": "string", "maxLength": 64},
                    },
                }
            }
        },
    }
}


class Refused(Exception):
    """A page that refuses (its status and words), raised where the check is made."""

    def __init__(self, status: int, title: str, message: str, call: CallShown | None = None):
        super().__init__(message)
        self.response = page(status, title, message, call)


@dataclass(frozen=True, slots=True)
class Standing:
    """The call as stored for a link, and what it shows and allows."""

    stored: StoredCall
    shown: CallShown
    outcomes: tuple[str, ...]  # what the ring node takes
    recorded: str | None  # the outcome this link recorded, if it did
    ringing: bool  # still ringing at the node (the answer not reported)
    waiting: bool  # waits for this node's outcome (or its answer)
    report_due: str = ""  # in wrap-up (the caller hung up): until when the report counts


def _links(service: Service) -> Links:
    if service.links is None:
        raise Refused(404, "No such page", "This server hands out no disposition links.")
    return service.links


def _claim(links: Links, call_id: str, token: str) -> Claim:
    """The token's claim for `call_id`; Refused (403) for a forged, damaged, expired or
    other call's one."""
    claim = links.read(token)
    if claim is None:
        raise Refused(403, "This link is not valid", "The link is damaged or was not made here.")
    if claim.call_id != call_id:
        raise Refused(403, "This link is not valid", "The link was made for another call.")
    if links.expired(claim):
        raise Refused(403, "This link has expired", "Report the outcome through the API.")
    return claim


def _event_id(claim: Claim, what: str) -> str:
    return f"disposition-{claim.seq}-{what}"


async def _standing(service: Service, claim: Claim) -> Standing:
    """Where the link's call stands; Refused (404) when it is not stored."""
    try:
        stored, answered = await service.store.read(
            transactions.read_standing, claim.call_id, _event_id(claim, "outcome")
        )
        compiled = None if stored is None else await service.version(stored.digest)
    except Exception as error:  # the store cannot be read: a page, never a 500
        log.warning("cannot read call %s for its disposition page: %r", claim.call_id, error)
        raise Refused(503, "Try again", "The engine cannot read the call just now.") from None
    if stored is None:
        raise Refused(404, "No such call", "The engine knows no call with this id.")
    state = stored.state
    node = None if compiled is None else compiled.nodes.get((claim.flow, claim.node))
    outcomes: tuple[str, ...] = tuple(getattr(node, "reports", ()))
    entry = str(state.get("entry_flow") or "")
    flows = () if compiled is None else compiled.deployment.flows
    description = next((f.description for f in flows if f.name == entry), "")
    shown = CallShown(str(state.get("from", "")), str(state.get("to", "")), entry, description)
    recorded = None if answered is None else answered[0].get("data", {}).get("outcome")
    here = (state.get("flow"), state.get("node")) == (claim.flow, claim.node)
    awaits = state.get("await") or ()
    ringing = here and stored.seq == claim.seq and "dial.answered" in awaits
    # answered at claim.seq + 1; in wrap-up (the caller hung up since), one event later
    due = str(state.get("report_due") or "") if state.get("status") == "connected" else ""
    reporting = here and stored.seq == claim.seq + (2 if due else 1) and "outcome" in awaits
    return Standing(stored, shown, outcomes, recorded, ringing, ringing or reporting, due)


@router.get(
    "/disposition-assets/disposition.css",
    include_in_schema=False,
)
async def style() -> Response:
    """The page's style sheet."""
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(_style(), media_type="text/css; charset=utf-8", headers=headers)


@cache
def _style() -> bytes:
    return (files("routing_engine.service") / "static" / "disposition.css").read_bytes()


@router.get("/disposition/{call_id}", response_class=HTMLResponse, responses=PAGES)
async def disposition_page(
    service: ServiceDep,
    call_id: str = CallId,
    token: str = Query("", description="the link's signed token"),
) -> Response:
    """The page the disposition link opens: the caller, the line, and a button per outcome
    the agent may report (or the outcome recorded). Needs no key: the token is the
    credential."""
    try:
        claim = _claim(_links(service), call_id, token)
        standing = await _standing(service, claim)
    except Refused as refused:
        return refused.response
    if standing.recorded is not None:
        return page(200, "Outcome recorded", _recorded(standing.recorded), standing.shown)
    if not standing.waiting or not standing.outcomes:
        return _moved_on(standing)
    # relative, as the style sheet's: the page works behind a proxy that adds a path prefix
    form = outcome_form(f"./{quote(call_id, safe='')}", token, standing.outcomes)
    message = "Choose one."
    if standing.report_due:
        message = f"The caller has hung up. Report by {standing.report_due}: choose one."
    return page(200, "Report the call's outcome", message, standing.shown, form)


def _recorded(outcome: str) -> str:
    return f"The outcome '{outcome}' is recorded for this call. Nothing more to do."


def _moved_on(standing: Standing) -> HTMLResponse:
    message = (
        "The call no longer waits for an outcome at this ring: it was reported another way, "
        "or the call moved on. This link records nothing more."
    )
    if standing.stored.state.get("end_reason") == WRAP_UP_OVER:
        message = (
            "The caller hung up and no outcome was reported in time "
            f"(by {standing.stored.state.get('report_due')}): the call has ended. If the "
            "caller needs a call back, tell the office."
        )
    return page(409, "Nothing to report here", message, standing.shown)


@router.post(
    "/disposition/{call_id}",
    response_class=HTMLResponse,
    responses=PAGES,
    openapi_extra=FORM_BODY,
)
async def report_outcome(request: Request, service: ServiceDep, call_id: str = CallId) -> Response:
    """The page's form: record the chosen `outcome` for the call (an `outcome` event, through
    the same decision path as the events route). The same outcome again changes nothing;
    another after one was recorded is refused (409)."""
    try:
        token, outcome = _form(await _form_body(request))
        _same_origin(request, service)
        claim = _claim(_links(service), call_id, token)
        standing = await _standing(service, claim)
        return await _record(request, service, claim, standing, outcome)
    except Refused as refused:
        return refused.response


async def _form_body(request: Request) -> bytes:
    """The form's bytes, bounded before they are parsed; Refused for another body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "Not a form", "Send the page's form.")
    try:
        return await raw_body(request, MAX_FORM_BYTES)
    except Refusal:
        raise Refused(413, "Too large", "The form is too large.") from None


def _form(raw: bytes) -> tuple[str, str]:
    """The form's token and outcome; Refused (422) when one is missing or given twice."""
    try:
        fields = parse_qs(raw.decode("utf-8"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise Refused(422, "Not a form", "The form could not be read.") from None
    token, outcome = fields.get("token", []), fields.get("outcome", [])
    if len(token) != 1 or len(outcome) != 1 or len(outcome[0]) > 64:
        raise Refused(422, "Choose an outcome", "The form needs its token and one outcome.")
    return token[0], outcome[0]


def _same_origin(request: Request, service: Service) -> None:
    """Refuse (403) a post another site's page sends: browsers say so (`Sec-Fetch-Site`), and
    name the page's origin (`Origin`), which must be this server's (or its public URL's)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Refused(403, "Refused", "The form must be sent from its own page.")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    # by host: behind a proxy that ends TLS, the page is https and this request http
    own = {request.headers.get("host", "").lower()}
    if service.links is not None and service.links.public_url:
        own.add(urlsplit(service.links.public_url).netloc.lower())
    if urlsplit(origin).netloc.lower() not in own:
        raise Refused(403, "Refused", "The form must be sent from its own page.")


async def _record(
    request: Request, service: Service, claim: Claim, standing: Standing, outcome: str
) -> Response:
    """Record `outcome` for the link's call (its answer first, when still ringing)."""
    shown = standing.shown
    if standing.recorded is not None:
        if standing.recorded == outcome:
            return page(200, "Outcome recorded", _recorded(outcome), shown)
        message = f"'{standing.recorded}' was recorded already; it stands."
        raise Refused(409, "Another outcome was recorded", message, shown)
    if not standing.waiting:
        return _moved_on(standing)
    if outcome not in standing.outcomes:
        allowed = ", ".join(standing.outcomes)
        raise Refused(422, "Choose an outcome", f"Choose one of: {allowed}.", shown)
    seq = standing.stored.seq
    if standing.ringing:
        await _event(request, service, claim, seq, "dial.answered", {})
        seq += 1
    decision = await _event(request, service, claim, seq, "outcome", {"outcome": outcome})
    return page(200, "Outcome recorded", _recorded(outcome) + _next(decision), shown)


async def _event(
    request: Request,
    service: Service,
    claim: Claim,
    seq: int,
    kind: str,
    data: dict[str, str],
) -> dict[str, Any]:
    """One event for the link's call, through the decision path of the events route; its
    refusal or its fallback as a page (Refused)."""
    what = "answered" if kind == "dial.answered" else "outcome"
    event = EventRequest.model_validate(
        {"event_id": _event_id(claim, what), "seq": seq, "type": kind, "data": data}
    )
    call_id = claim.call_id
    try:
        decision = await next_decision(
            service, call_id, event, arrival(request), service.current.compiled
        )
    except Refusal as refusal:
        status = refusal.response.status_code
        raise Refused(status, "Not recorded", f"The engine refused it: {refusal}") from None
    if decision.get("fallback_reason"):  # the call follows its line's fallback now
        message = (
            f"The engine could not decide ({decision['fallback_reason']}): the call follows "
            "its line's fallback. Tell the office if the caller needs a call back."
        )
        raise Refused(503, "Not recorded", message)
    return decision


def _next(decision: dict[str, Any]) -> str:
    """What the engine does next, in a few words."""
    kinds = [action["type"] for action in decision["actions"]]
    if "ticket" in kinds:
        board = next(a["board"] for a in decision["actions"] if a["type"] == "ticket")
        return f" A ticket is on the {board} board."
    if not decision["await"]:
        return " The call has ended."
    return ""
