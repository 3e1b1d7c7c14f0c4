"""The request bodies of the routing contract (ARCHITECTURE.md, "The routing contract"), shared
by the Python API, the CLI and the HTTP service, so all three accept and refuse exactly the same
input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from routing_engine.core.runtime import Event, EventType, NewCall

E164 = r"^\+[1-9][0-9]{1,14}$"
MAX_ATTRIBUTES = 64


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NewCallRequest(Body):
    """Start a call: who called, which number they dialed, and when."""

    call_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
    caller: str = Field(
        alias="from",
        pattern=E164 + r"|^anonymous$",
        description="the caller's number, E.164, or 'anonymous'",
    )
    dialed: str = Field(alias="to", pattern=E164, description="the dialed number, E.164")
    at: AwareDatetime | None = Field(
        None, description="ISO 8601 with offset; the server stamps it when absent"
    )
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES
    )
    event_id: str | None = Field(None, max_length=128)

    def to_runtime(self, now: datetime | None = None) -> NewCall:
        return NewCall(
            self.call_id,
            self.caller,
            self.dialed,
            self.at or now or datetime.now(UTC),
            self.attributes,
        )


class EventData(Body):
    digits: str | None = Field(None, pattern=r"^[0-9*#]{1,32}$")
    outcome: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    recording: str | None = Field(None, max_length=2048)


EventTypeName = Literal[
    "digits",
    "no-input",
    "dial.answered",
    "dial.no-answer",
    "dial.busy",
    "dial.failed",
    "outcome",
    "queue.timeout",
    "recording.done",
    "hangup",
]


class EventRequest(Body):
    """One thing that happened on a call, answering the decision whose `seq` it carries."""

    event_id: str = Field(min_length=1, max_length=128)
    seq: int = Field(ge=1)
    type: EventTypeName
    data: EventData = Field(default_factory=lambda: EventData())
    at: AwareDatetime | None = None

    def to_runtime(self, now: datetime | None = None) -> Event:
        data = self.data
        return Event(
            EventType(self.type),
            self.seq,
            self.at or now or datetime.now(UTC),
            data.digits or "",
            data.outcome or "",
            data.recording or "",
        )


class TargetChange(Body):
    """A live change of a target: its availability, its skills, or both."""

    available: StrictBool | None = None
    skills: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] | None = (
        Field(None, max_length=64)
    )


class TicketChange(Body):
    """Who claims, releases or resolves a ticket, and (to resolve) what was done."""

    by: str = Field(min_length=1, max_length=128, description="the person, as staff know them")
    note: str = Field("", max_length=4000, description="what was done (when resolving)")


class RouteFailure(Body):
    """How the last leg failed: its SIP status code."""

    code: int = Field(
        ge=300, le=699, description="the SIP final response, e.g. 486 busy, 408 timeout"
    )
    seq: int | None = Field(
        None, ge=1, description="the seq of the routes that failed (X-Call-Seq): makes a retry safe"
    )
    reason: str = Field("", max_length=200)


class RouteReport(Body):
    """What became of the routes (`seq`) a proxy rang, other than a failure: a leg answered,
    or the call ended (a BYE, or the caller's CANCEL)."""

    type: Literal["dial.answered", "hangup"]
    seq: int | None = Field(
        None, ge=1, description="the seq of the routes it answers (X-Call-Seq); default: the last"
    )


class RouteRequest(Body):
    """For SIP proxies: the first destinations of a call, the next after a failure, or a
    report of what became of the call (at most one of `failure` and `report`)."""

    call_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
    caller: str = Field(alias="from", pattern=E164 + r"|^anonymous$")
    dialed: str = Field(alias="to", pattern=E164)
    at: AwareDatetime | None = None
    failure: RouteFailure | None = None
    report: RouteReport | None = Field(
        None, description="a leg answered or the call ended; the answer has no routes to ring"
    )

    @model_validator(mode="after")
    def _one_of(self) -> RouteRequest:
        if self.failure is not None and self.report is not None:
            raise ValueError("give 'failure' or 'report', not both")
        return self


def dial_event(code: int) -> str:
    """A SIP failure as the dial event it means."""
    if code in (486, 600):
        return "dial.busy"
    if code in (408, 480, 487):
        return "dial.no-answer"
    return "dial.failed"


# --- responses (documented in the OpenAPI and in schemas/; the runtime builds plain dicts) ----


class TargetRef(BaseModel):
    name: str
    uri: str = Field(description="the target's SIP URI, or its E.164 number")
    sip_uri: str | None = Field(
        None,
        description="for a number dialed through one of the deployment's trunks: the SIP URI "
        "that dials it (what `/v1/route` answers a proxy); absent otherwise",
    )


class RingAction(BaseModel):
    type: Literal["ring"]
    targets: list[TargetRef]
    timeout_s: float
    strategy: Literal["sequential", "simultaneous"]
    reports: list[str] | None = Field(
        None,
        description="what the party who answers reports (the ring node's `reports:`), as an "
        "`outcome` event; absent when the node takes no report",
    )
    disposition_url: str | None = Field(
        None,
        description="with `reports`: the signed link to give the answering agent, a page to "
        "report the outcome on, valid for this call while it waits for the outcome at this "
        "node; absolute when the server knows its public URL, else a path starting with '/'",
    )


class MenuAction(BaseModel):
    type: Literal["menu"]
    prompt: str
    options: list[str]
    max_digits: int
    timeout_s: float
    attempt: int


class SayAction(BaseModel):
    type: Literal["say"]
    text: str


class QueueAction(BaseModel):
    type: Literal["queue"]
    queue: TargetRef | None
    skills: list[str]
    priority: int
    max_wait_s: float
    region: str


class VoicemailAction(BaseModel):
    type: Literal["voicemail"]
    prompt: str
    board: str
    max_length_s: float


class EscalationStep(BaseModel):
    level: int = Field(description="1, 2, ...: the SLA itself is level 0")
    after_s: float
    due: str = Field(description="ISO 8601 UTC time the step notifies, if still unresolved")
    notify: list[str]


class TicketAction(BaseModel):
    type: Literal["ticket"]
    board: str
    node: str
    caller: str
    summary: str
    story: list[str] = Field(
        default_factory=list, description="what happened on the call so far, in plain words"
    )
    managers: list[str]
    sla_s: float | None
    due: str | None = Field(description="ISO 8601 UTC time the SLA ends")
    escalations: list[EscalationStep] = Field(
        default_factory=list, description="the steps after the SLA, if still unresolved"
    )
    recording: str | None = None


class HangupAction(BaseModel):
    type: Literal["hangup"]
    reason: str


Action = Annotated[
    RingAction
    | MenuAction
    | SayAction
    | QueueAction
    | VoicemailAction
    | TicketAction
    | HangupAction,
    Field(discriminator="type"),
]


class FlowVersion(BaseModel):
    name: str | None = Field(
        description="the flow the call is in; null when its number enters none (no-entry)"
    )
    version: str
    hash: str


class FallbackPlan(BaseModel):
    actions: list[Action]
    await_: list[str] = Field(alias="await")


class DecisionResponse(BaseModel):
    """What to do now, which events may come back, and what to do if we cannot be reached."""

    call_id: str
    seq: int
    flow: FlowVersion
    node: str | None = Field(
        description="the node the call is at; null when it reached none (a fallback before "
        "its first node, such as no-entry)"
    )
    actions: list[Action]
    await_: list[str] = Field(alias="await")
    fallback: FallbackPlan
    fallback_reason: str | None = Field(description="set when this decision is the fallback itself")
    trace: list[str]


class ErrorResponse(BaseModel):
    error: str
    message: str
    problems: list[dict[str, str]] | None = None


class BadRequest(ValueError):
    """Input that does not fit the contract; `problems` name each field and what is wrong."""

    def __init__(self, problems: list[dict[str, Any]]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))


def problems_of(error: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in error.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and loc in ("from", "to"):
            message = "not an E.164 phone number (e.g. +12125550100)"
        out.append({"field": loc, "problem": message})
    return out


Model = TypeVar("Model", bound=BaseModel)


def parse_as(model: type[Model], body: Any) -> Model:
    """A request body read as `model`; BadRequest naming each field that does not fit."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise BadRequest(problems_of(error)) from None


def parse_new_call(body: Any) -> NewCallRequest:
    return parse_as(NewCallRequest, body)


# What an event of each type must carry in `data`.
REQUIRED_DATA = {
    "digits": ("digits", 'the digits pressed, e.g. {"digits": "3"}'),
    "outcome": ("outcome", 'the outcome reported, e.g. {"outcome": "needs-office"}'),
}


def parse_event(body: Any) -> EventRequest:
    request = parse_as(EventRequest, body)
    required = REQUIRED_DATA.get(request.type)
    if required is not None and not getattr(request.data, required[0]):
        name, example = required
        raise BadRequest(
            [
                {
                    "field": f"data.{name}",
                    "problem": f"a '{request.type}' event needs data.{name}: {example}",
                }
            ]
        )
    return request
