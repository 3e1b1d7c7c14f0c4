"""The scenario-file format: calls to play against a deployment and what each must do.

A scenario file (`scenarios/*.yaml` beside a deployment's flows) holds a list of scenarios.
Each one places a call (from, to, at), may set targets' live states and schedule overrides,
plays events in order on a fake clock, and states what it expects: of single decisions (inline,
under `expect` of the call or an event) and of the whole call (the path of nodes, the tickets
raised, how it ends). The pydantic models here are the format's single source; its schema
(`schemas/scenario.schema.json`) is generated from them. Files are read through the same
guarded YAML reader as flow files, so every problem has its file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from routing_engine.contract import E164, EventTypeName
from routing_engine.core.diagnostics import Diagnostic, Severity, capped, did_you_mean
from routing_engine.core.durations import DURATION_PATTERN, parse_duration
from routing_engine.core.ir import Duration, Span
from routing_engine.sources.build_nodes import typed_value
from routing_engine.sources.raw import RawDocument
from routing_engine.sources.yaml_reader import read_yaml

SCENARIO_DIR = "scenarios"
MAX_SCENARIO_BYTES = 1 << 20
MAX_EVENTS = 200

EventName = EventTypeName
ActionType = Literal["say", "menu", "ring", "queue", "voicemail", "ticket", "hangup"]
Status = Literal["active", "connected", "ended"]


def _duration(value: object) -> Duration:
    duration = parse_duration(value)
    if duration.param:
        raise ValueError("a scenario takes a duration, not a $parameter")
    return duration


def _typed(value: object) -> object:
    """Attribute values as `set` values are: true/false, integers and decimals typed."""
    return typed_value(value) if isinstance(value, str) else value


DurationText = Annotated[
    Duration,
    BeforeValidator(_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "a duration: `2 rings`, `20s`, `15m` or `1h`",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TargetState(_Strict):
    """A target's live state, as `PATCH /v1/targets/NAME` would set it."""

    available: bool | None = None
    skills: list[str] | None = None


TargetStates = dict[str, bool | TargetState]
Overrides = dict[str, Literal["open", "closed"]]


class DecisionExpect(_Strict):
    """What one decision must be; only the fields given are checked."""

    node: str | None = Field(None, description="where the call waits: flow/node, or node")
    actions: list[ActionType] | None = Field(
        None, description="the types of the decision's actions, in order"
    )
    ring: list[str] | None = Field(None, description="the targets rung, in order")
    say: str | None = Field(None, description="text that an announcement or prompt contains")
    ticket: str | None = Field(None, description="the board a ticket is raised on")
    await_: list[str] | None = Field(None, alias="await", description="the events awaited")
    fallback: str | None = Field(None, description="the fallback reason; 'none' for none")


class EscalationExpect(_Strict):
    """An escalation step of a ticket; only the fields given are checked."""

    due: AwareDatetime | None = Field(None, description="when the step notifies, if unresolved")
    notify: list[str] | None = None


class TicketExpect(_Strict):
    """A ticket the call raises; only the fields given are checked."""

    board: str
    node: str | None = None
    due: AwareDatetime | None = None
    sla: DurationText | None = None
    managers: list[str] | None = None
    summary: str | None = Field(None, description="text the summary contains")
    recording: str | None = None
    escalations: list[EscalationExpect] | None = Field(
        None, description="every escalation step after the SLA, in order ([] for none)"
    )


class DeadlineExpect(_Strict):
    """A flow's `resolve_within` that the call started; only the fields given are checked."""

    flow: str
    due: AwareDatetime | None = Field(None, description="when its contacts are told, unresolved")
    notify: list[str] | None = None


class CallExpect(_Strict):
    """What the whole call must do; only the fields given are checked."""

    path: list[str] | None = Field(
        None,
        description="every node the call visits, in order; `flow/node`, or a bare node id "
        "in the flow of the item before it (the entry flow for the first)",
    )
    visits: list[str] | None = Field(
        None, description="nodes the call visits in this order, others possibly between"
    )
    avoids: list[str] | None = Field(None, description="nodes the call never visits")
    tickets: list[TicketExpect] | None = Field(
        None, description="every ticket the call raises, in order ([] for none)"
    )
    deadlines: list[DeadlineExpect] | None = Field(
        None,
        description="every `resolve_within` the call started, in order of the flows it entered "
        "([] for none)",
    )
    status: Status | None = Field(None, description="the call's status after the last event")
    ends: str | None = Field(None, description="the reason the call ended with")


class CallSpec(_Strict):
    caller: str = Field(alias="from", pattern=E164 + r"|^anonymous$")
    dialed: str = Field(alias="to", pattern=E164)
    at: AwareDatetime = Field(description="when the call arrives: ISO 8601 with offset")
    attributes: dict[str, Annotated[str | int | float | bool, BeforeValidator(_typed)]] = Field(
        default_factory=dict,
        description="call attributes; true/false, integers and decimals are typed as in `set`",
    )
    expect: DecisionExpect | None = Field(None, description="what the first decision must be")


class EventSpec(_Strict):
    """One event. `digits`, `outcome` and `recording` imply their event type."""

    event: EventName | None = None
    digits: str | None = Field(None, pattern=r"^[0-9*#]{1,32}$")
    outcome: str | None = None
    recording: str | None = None
    after: DurationText | None = Field(
        None,
        description="how long after the previous decision it happens; default: the wait that "
        "decision sets up (a ring's timeout for dial.no-answer, a menu's for no-input, a "
        "queue's for queue.timeout), else 0s",
    )
    targets: TargetStates | None = Field(None, description="live target changes, from now on")
    overrides: Overrides | None = Field(None, description="schedule overrides, from now on")
    expect: DecisionExpect | None = Field(None, description="what this event's decision must be")

    @model_validator(mode="after")
    def _one_type(self) -> EventSpec:
        implied = [
            name
            for name, value in (
                ("digits", self.digits),
                ("outcome", self.outcome),
                ("recording.done", self.recording),
            )
            if value is not None
        ]
        if len(implied) > 1:
            raise ValueError(f"an event is one of {', '.join(implied)}, not several")
        if implied and self.event not in (None, implied[0]):
            raise ValueError(f"a value for {implied[0]} cannot go with event {self.event}")
        if not implied and self.event is None:
            raise ValueError("say which event: event: TYPE, digits: D, outcome: O or recording")
        if self.event in ("digits", "outcome") and not implied:
            raise ValueError(f"event {self.event} needs its value: {self.event}: ...")
        return self

    @property
    def kind(self) -> str:
        if self.digits is not None:
            return "digits"
        if self.outcome is not None:
            return "outcome"
        if self.recording is not None:
            return "recording.done"
        return str(self.event)


def _event_shorthand(value: Any) -> Any:
    """`- no-input` is `- event: no-input`."""
    return {"event": value} if isinstance(value, str) else value


class ScenarioSpec(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    call: CallSpec
    targets: TargetStates = Field(default_factory=dict, description="live target states")
    overrides: Overrides = Field(default_factory=dict, description="schedule overrides")
    events: list[
        Annotated[
            EventSpec,
            BeforeValidator(_event_shorthand, json_schema_input_type=EventName | EventSpec),
        ]
    ] = Field(default_factory=list, max_length=MAX_EVENTS)
    expect: CallExpect = Field(default_factory=CallExpect)


class ScenarioFile(_Strict):
    """A scenario file: `scenarios:` and a list of scenarios."""

    scenarios: list[ScenarioSpec] = Field(min_length=1)


PLACEHOLDER = {"name": "-", "call": {"from": "anonymous", "to": "+10", "at": "2000-01-01T00:00Z"}}


@dataclass(frozen=True, slots=True)
class Scenario:
    spec: ScenarioSpec
    span: Span  # where it is written
    doc: RawDocument  # for the spans of its parts
    index: int  # its position in the file's list

    @property
    def name(self) -> str:
        return self.spec.name

    def span_of(self, *path: str | int) -> Span:
        return self.doc.value_span(("scenarios", self.index, *path))


def scenario_files(deployment: Path) -> list[Path]:
    """The scenario files of a deployment directory (its `scenarios/` folder), sorted."""
    folder = deployment / SCENARIO_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def read_scenarios(path: Path, display: str) -> tuple[list[Scenario], list[Diagnostic], str]:
    """The scenarios of one file, the problems found in it, and its text."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [_problem("S100", f"cannot read the file: {error.strerror}", display)], ""
    if len(data) > MAX_SCENARIO_BYTES:
        message = f"the file is {len(data)} bytes; scenario files stop at {MAX_SCENARIO_BYTES}"
        return [], [_problem("S101", message, display)], ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [], [_problem("S100", f"not UTF-8 text: {error.reason}", display)], ""
    documents, diagnostics = read_yaml(text, display)
    scenarios: list[Scenario] = []
    for doc in documents:
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            message = "a scenario file is a mapping: `scenarios:` and a list of scenarios"
            diagnostics.append(Diagnostic("S105", Severity.ERROR, message, doc.span))
            continue
        items = doc.data.get("scenarios")
        if not isinstance(items, list) or not items:
            try:
                ScenarioFile.model_validate(doc.data)
            except ValidationError as error:
                diagnostics.extend(_errors(doc, error))
            continue
        try:  # the file's frame; each scenario is read on its own, so one bad one spares others
            ScenarioFile.model_validate({**doc.data, "scenarios": [PLACEHOLDER]})
        except ValidationError as error:
            diagnostics.extend(_errors(doc, error))
        for i, item in enumerate(items):
            try:
                spec = ScenarioSpec.model_validate(item)
            except ValidationError as error:
                diagnostics.extend(_errors(doc, error, ("scenarios", i)))
                continue
            scenarios.append(Scenario(spec, doc.value_span(("scenarios", i, "name")), doc, i))
    if not scenarios and not diagnostics:
        diagnostics.append(_problem("S102", "the file holds no scenarios", display))
    names = [s.name for s in scenarios]
    for scenario in scenarios:
        if names.count(scenario.name) > 1 and scenario is not _first(scenarios, scenario.name):
            message = f"another scenario in this file is named '{scenario.name}'"
            diagnostics.append(Diagnostic("S107", Severity.ERROR, message, scenario.span))
    return scenarios, capped(diagnostics), text


def _first(scenarios: list[Scenario], name: str) -> Scenario:
    return next(s for s in scenarios if s.name == name)


def _problem(code: str, message: str, file: str) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, Span(file, 1, 1))


def _model_fields(loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at a location of a scenario file (for 'did you mean')."""
    model: Any = ScenarioFile
    for item in loc:
        if isinstance(item, int) or model is None:
            continue
        field = model.model_fields.get(item) or next(
            (f for f in model.model_fields.values() if f.alias == item), None
        )
        if field is None:
            return []
        annotation = field.annotation
        model = next(
            (
                candidate
                for candidate in (annotation, *getattr(annotation, "__args__", ()))
                for candidate in (candidate, *getattr(candidate, "__args__", ()))
                if isinstance(candidate, type) and issubclass(candidate, BaseModel)
            ),
            None,
        )
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _in_file(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[Any, ...]:
    """A pydantic error location as a path in the file: the union members and validators
    pydantic names along the way are not in the data, so they are left out."""
    kept: list[Any] = []
    current = data
    for i, item in enumerate(loc):
        if item == "[key]":
            kept.append(item)
        elif (isinstance(current, dict) and item in current) or (
            isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current)
        ):
            kept.append(item)
            current = current[item]
        elif missing and i == len(loc) - 1:
            kept.append(item)
    return tuple(kept)


def _errors(
    doc: RawDocument, error: ValidationError, base: tuple[str | int, ...] = ()
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in error.errors():
        loc = _in_file(doc.data, (*base, *err["loc"]), err["type"] == "missing")
        is_key = bool(loc) and loc[-1] == "[key]"
        loc = tuple(i for i in loc if i != "[key]")
        where = ".".join(str(i) for i in loc) or "the file"
        if err["type"] == "missing":
            span = doc.key_span(loc[:-1]) if len(loc) > 1 else doc.span
            parent = ".".join(str(i) for i in loc[:-1]) or "the file"
            message = f"{parent} is missing '{loc[-1]}'"
            out.append(Diagnostic("S102", Severity.ERROR, message, span))
        elif err["type"] == "extra_forbidden":
            name = str(loc[-1])
            known = _model_fields(loc[:-1])
            hint = did_you_mean(name, known) or ("known fields: " + ", ".join(known))
            message = f"unknown field '{name}' in {'.'.join(str(i) for i in loc[:-1]) or 'file'}"
            out.append(Diagnostic("S103", Severity.ERROR, message, doc.key_span(loc), hint))
        else:
            span = doc.key_span(loc) if is_key else doc.value_span(loc)
            message = f"{where}: {err['msg']}"
            out.append(Diagnostic("S105", Severity.ERROR, message, span))
    unique: dict[tuple[str, Span], Diagnostic] = {}
    for diagnostic in out:  # a union reports one problem once per member
        unique.setdefault((diagnostic.message, diagnostic.span), diagnostic)
    return list(unique.values())
