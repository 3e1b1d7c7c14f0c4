"""The flow-file format: pydantic models of the documents a deployment is made of.

These models are the single source of the format: field names, types, defaults and docs.
The builder validates raw documents against them, and `schemas/flow.schema.json` is generated
from them. Values arrive as text (see `sources/raw.py`); pydantic reads numbers from it, and
durations and names through the value types of `sources/model_values.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, TypeAdapter, WithJsonSchema

from routing_engine.core.ir import WRAP_UP, Duration, DurationUnit
from routing_engine.sources.model_fallbacks import EntryValue, FallbackSpec
from routing_engine.sources.model_targets import TargetSpec, TrunkSpec
from routing_engine.sources.model_values import (
    DurationText,
    Name,
    NameList,
    NameOrParam,
    NetworkText,
    ParamName,
    Spec,
)

# --- node kinds --------------------------------------------------------------------------------


class MenuSpec(Spec):
    """Play a prompt, collect digits, go to the option's node. No input or an unknown digit
    replays the menu up to `retries` times, then the call goes to `fallback`."""

    menu: str = Field(description="the prompt to play")
    options: dict[str, Name] = Field(description="digits -> node or flow", min_length=1)
    fallback: Name = Field(description="where the call goes when retries run out")
    retries: int = Field(2, ge=0, le=9, description="how many times the menu is replayed")
    timeout: DurationText = Field(
        Duration(5, DurationUnit.SECONDS), description="how long to wait for digits"
    )
    attempts: int | None = Field(
        None, ge=1, le=99, description="enter this node at most so many times in one call"
    )
    exhausted: Name | None = Field(
        None, description="where the call goes on entering the node once more than `attempts`"
    )


class PreferSpec(Spec):
    skills: list[Name] = Field(min_length=1, description="skills every picked target has")
    region: str = Field("", description="`caller` (the caller's region) or a region such as US-NY")


class RingSpec(Spec):
    """Ring one target, or several in order (`sequential`) or at once (`simultaneous`)."""

    ring: NameList = Field(description="the target, or targets, to ring", min_length=1)
    strategy: Literal["sequential", "simultaneous"] = "sequential"
    timeout: DurationText = Field(
        Duration(20, DurationUnit.SECONDS),
        description="how long each target rings: `2 rings`, `20s`",
    )
    reports: list[Name] = Field(
        default_factory=list, description="outcomes the answering party reports, e.g. needs-office"
    )
    on: dict[Name, Name] = Field(default_factory=dict, description="outcome -> node or flow")
    prefer: PreferSpec | None = Field(
        None, description="ring the available targets with these skills and region instead, if any"
    )
    attempts: int | None = Field(
        None, ge=1, le=99, description="enter this node at most so many times in one call"
    )
    exhausted: Name | None = Field(
        None, description="where the call goes on entering the node once more than `attempts`"
    )


class QueueSpec(Spec):
    """Wait for an agent of a queue target with the required skills, then overflow."""

    queue: NameOrParam = Field(description="the queue target")
    skills: list[Name] = Field(default_factory=list)
    priority: int = Field(0, ge=0, le=100)
    max_wait: DurationText = Field(description="how long the caller waits before `timeout`")
    region: str = Field("", description="agents' region: `caller` or a region such as US-NY")
    reports: list[Name] = Field(default_factory=list)
    on: dict[Name, Name] = Field(default_factory=dict, description="outcome -> node or flow")
    attempts: int | None = Field(
        None, ge=1, le=99, description="enter this node at most so many times in one call"
    )
    exhausted: Name | None = Field(
        None, description="where the call goes on entering the node once more than `attempts`"
    )


class CaseSpec(Spec):
    when: str = Field(description='a condition, e.g. `caller.state == "NY"`')
    then: Name


class BranchSpec(Spec):
    """Ordered `when` conditions; the first that holds wins, else `else`."""

    branch: list[CaseSpec] = Field(min_length=1)
    else_: Name = Field(alias="else")


class HoursSpec(Spec):
    """Check a schedule: go to `open`, `closed`, or `holiday` (default: `closed`)."""

    hours: NameOrParam = Field(description="the schedule to check")
    open: Name
    closed: Name
    holiday: Name | None = Field(None, description="where holidays go; default: `closed`")


class SaySpec(Spec):
    """Play an announcement, then go on."""

    say: str
    next: Name | None = None


class SetSpec(Spec):
    """Set call variables, then go on."""

    set: dict[Name, str | None] = Field(min_length=1)
    next: Name | None = None


class EscalationSpec(Spec):
    """One further step of a ticket's escalation chain."""

    after: DurationText = Field(
        description="when, counted as the SLA is: from the ticket's creation, or from the "
        "opening of its `sla_from` schedule"
    )
    notify: NameList = Field(min_length=1, description="the contacts told then")


SLA_FROM_DOC = (
    "a schedule: the SLA starts when it next opens, or now while it is open; without `sla`, "
    "the ticket is due when it next opens (while it is open: after this open period)"
)
ESCALATE_DOC = (
    "further steps, each told if the ticket is still unresolved `after` this long: "
    "`[{after: 30m, notify: duty-manager}]`"
)


class TicketSpec(Spec):
    """Put the call on a board for office staff, with an SLA, then go on. When the SLA passes
    unresolved, the `managers` are notified; each `escalate` step then notifies its contacts
    if the ticket is still unresolved at its time."""

    ticket: NameOrParam = Field(description="the board (office) the ticket goes to")
    sla: DurationText | None = None
    managers: NameList = Field(
        default_factory=list, description="contacts told when the SLA passes"
    )
    summary: str = ""
    sla_from: NameOrParam | None = Field(None, description=SLA_FROM_DOC)
    escalate: list[EscalationSpec] = Field(default_factory=list, description=ESCALATE_DOC)
    next: Name | None = None


class VoicemailSpec(Spec):
    """Record a message; it becomes a ticket on the board, with an SLA and escalation steps as
    a `ticket` node's."""

    voicemail: NameOrParam = Field(description="the board the message's ticket goes to")
    prompt: str = "Please leave a message after the tone."
    max_length: DurationText = Field(Duration(2, DurationUnit.MINUTES))
    sla: DurationText | None = None
    sla_from: NameOrParam | None = Field(None, description=SLA_FROM_DOC)
    managers: NameList = Field(
        default_factory=list, description="contacts told when the SLA passes"
    )
    escalate: list[EscalationSpec] = Field(default_factory=list, description=ESCALATE_DOC)
    next: Name | None = None


class UseSpec(Spec):
    """Enter a module with arguments; map each of its exits to a node of this flow."""

    use: Name = Field(description="the module")
    with_: dict[ParamName, str | None] = Field(
        default_factory=dict, alias="with", description="arguments"
    )
    exits: dict[Name, Name] = Field(
        default_factory=dict, description="the module's exit -> node or flow"
    )


class HangupSpec(Spec):
    """End the call."""

    hangup: str | None = Field(None, description="an optional reason, kept in the trace")


NODE_SPECS: dict[str, type[Spec]] = {
    "menu": MenuSpec,
    "ring": RingSpec,
    "queue": QueueSpec,
    "branch": BranchSpec,
    "hours": HoursSpec,
    "say": SaySpec,
    "set": SetSpec,
    "ticket": TicketSpec,
    "voicemail": VoicemailSpec,
    "use": UseSpec,
    "hangup": HangupSpec,
}
TAG_PREFIX = "kind="


def node_kind_of(value: Any) -> str | None:
    """A node's kind is the one kind keyword among its keys."""
    if isinstance(value, dict):
        for key in value:
            if key in NODE_SPECS:
                return f"{TAG_PREFIX}{key}"
    return None


NodeSpec = Annotated[
    Annotated[MenuSpec, Tag("kind=menu")]
    | Annotated[RingSpec, Tag("kind=ring")]
    | Annotated[QueueSpec, Tag("kind=queue")]
    | Annotated[BranchSpec, Tag("kind=branch")]
    | Annotated[HoursSpec, Tag("kind=hours")]
    | Annotated[SaySpec, Tag("kind=say")]
    | Annotated[SetSpec, Tag("kind=set")]
    | Annotated[TicketSpec, Tag("kind=ticket")]
    | Annotated[VoicemailSpec, Tag("kind=voicemail")]
    | Annotated[UseSpec, Tag("kind=use")]
    | Annotated[HangupSpec, Tag("kind=hangup")],
    Discriminator(
        node_kind_of,
        custom_error_type="no_kind",
        custom_error_message="a node needs exactly one kind",
    ),
]
NODE_ADAPTER: TypeAdapter[Any] = TypeAdapter(NodeSpec)


# --- documents ---------------------------------------------------------------------------------


class FlowDocument(Spec):
    """A process map for one call type."""

    flow: Name = Field(description="the flow's name")
    description: str = ""
    resolve_within: DurationText | None = Field(
        None,
        description="a call that enters this flow and is not resolved this long after (it has "
        "ended, and every ticket it raised is resolved) is reported to `notify`",
    )
    notify: NameList = Field(
        default_factory=list, description="the contacts told when `resolve_within` passes"
    )
    fallback: FallbackSpec | None = Field(
        None,
        description="what a call in this flow gets when the engine cannot decide; without it, "
        "its line's (the entry dialed), else the deployment's",
    )
    start: Name = Field(description="the first node")
    nodes: dict[Name, NodeSpec] = Field(min_length=1)


class ParamSpec(Spec):
    type: Literal["target", "contact", "schedule", "board", "text", "duration"]
    default: str | None = Field(None, description="the value when a use gives none")
    description: str = ""


ParamEntry = Annotated[
    ParamSpec, BeforeValidator(lambda v: {"type": v} if isinstance(v, str) else v)
]


class ModuleDocument(Spec):
    """A reusable piece of process map with parameters and named exits."""

    module: Name = Field(description="the module's name")
    description: str = ""
    params: dict[ParamName, ParamEntry] = Field(
        default_factory=dict,
        description="name -> type (target, contact, schedule, board, text, duration)",
    )
    exits: list[Name] = Field(
        default_factory=list, description="names a node of the module may lead to"
    )
    start: Name = Field(description="the first node")
    nodes: dict[Name, NodeSpec] = Field(min_length=1)


WEBHOOK_PATTERN = r"^(https?://[^\s/?#]+[^\s]*|/[^\s]*)?$"
EMAIL_PATTERN = r"^([^\s@]+@[^\s@]+)?$"


class ContactSpec(Spec):
    """Someone the engine notifies: by webhook, and by e-mail where SMTP is configured."""

    name: str = Field("", description="how the contact is shown")
    email: str = Field("", pattern=EMAIL_PATTERN, description="an e-mail address")
    webhook: str = Field(
        "",
        pattern=WEBHOOK_PATTERN,
        description="an http(s) URL that notifications are POSTed to (signed JSON), or a path "
        "of the engine's own server, such as `/notifications/inbox`",
    )


class BoardSpec(Spec):
    """An office's board: where its tickets and voicemails go."""

    name: str = Field(min_length=1, description="how the board is shown, e.g. Cardiology office")


RANGE_PATTERN = r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$"
DATE_PATTERN = r"^\s*\d{4}-\d{2}-\d{2}(\s+\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2})*\s*$"
Ranges = Annotated[
    list[Annotated[str, Field(pattern=RANGE_PATTERN)]],
    BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
    WithJsonSchema({
        "anyOf": [{"type": "string", "pattern": RANGE_PATTERN},
                  {"type": "array", "items": {"type": "string", "pattern": RANGE_PATTERN}}],
        "description": "opening hours, e.g. `08:00-18:00`, or a list of them",
    }),
]  # fmt: skip
Dates = list[Annotated[str, Field(pattern=DATE_PATTERN)]]


class ScheduleSpec(Spec):
    """Opening hours in a time zone, with holidays, one-off changes and an emergency override."""

    timezone: str = Field(description="an IANA time zone, e.g. America/New_York")
    weekly: dict[str, Ranges] = Field(
        default_factory=dict,
        description="days (`mon`, `mon-fri`, `sat,sun`, `daily`, `weekdays`, `weekends`) -> hours",
    )
    holidays: str = Field(
        "", description="holiday calendar: a country, or country-subdivision (US, US-NY)"
    )
    closed: Dates = Field(
        default_factory=list, description="one-off closures: `2026-12-24` or with hours"
    )
    open: Dates = Field(
        default_factory=list, description="one-off openings: `2026-12-27 09:00-13:00`"
    )
    override: Literal["open", "closed"] | None = Field(None, description="emergency override")


E164_OR_PREFIX = r"^\+[1-9][0-9]{1,14}\*?$"


class DeploymentDocument(Spec):
    """Which numbers enter which flow, the targets, contacts and settings."""

    deployment: Name
    description: str = ""
    ring_cadence: DurationText = Field(Duration(6, DurationUnit.SECONDS))
    caller_max_wait: DurationText = Field(
        Duration(2, DurationUnit.MINUTES),
        description="longest a caller may ring, queue and listen unanswered (G205)",
    )
    caller_max_wait_severity: Literal["error", "warning"] = Field(
        "error", description="`warning`: a number over `caller_max_wait` warns (W302), not fails"
    )
    max_steps: int = Field(100, ge=1, le=10000, description="loop guard: nodes visited per call")
    wrap_up: DurationText = Field(
        WRAP_UP, description="how long an agent may still report after the caller hangs up"
    )
    fallback: FallbackSpec
    entries: dict[Annotated[str, Field(pattern=E164_OR_PREFIX)], EntryValue] = Field(
        default_factory=dict,
        description="dialed number (E.164, or a prefix ending in *) -> flow, or {flow, fallback}",
    )
    targets: dict[Name, TargetSpec] = Field(default_factory=dict)
    trunks: dict[Name, TrunkSpec] = Field(
        default_factory=dict, description="the SIP trunks numbers are dialed through"
    )
    default_trunk: Name | None = Field(
        None, description="the trunk of a number target without its own `trunk`"
    )
    contacts: dict[Name, ContactSpec] = Field(default_factory=dict)
    schedules: dict[Name, ScheduleSpec] = Field(default_factory=dict)
    boards: dict[Name, BoardSpec] = Field(
        default_factory=dict, description="the boards tickets and voicemails may go to"
    )
    modules: list[str] = Field(
        default_factory=list, description="folders or files of modules, relative to this file"
    )
    allow_webhook_networks: list[NetworkText] = Field(default_factory=list)


DOCUMENT_KINDS = ("deployment", "flow", "module")
