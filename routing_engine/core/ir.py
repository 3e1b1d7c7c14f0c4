"""The intermediate representation: one format-neutral model that both readers build.

A deployment holds flows, modules, targets, contacts, schedules and its entries; a flow holds
nodes of the kinds declared in `nodes.py`. This module is the model's one name: everything of
it, the node kinds, spans and durations included, is `ir.X`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from routing_engine.core.durations import Duration, DurationUnit
from routing_engine.core.edges import BOUNDED_KINDS, EXHAUSTED, Bound, Edge
from routing_engine.core.nodes import (
    KIND_NAMES,
    NODE_KINDS,
    OPTIONAL_OUTCOMES,
    OUTCOME_DEFAULTS,
    QUEUE_OUTCOMES,
    RING_OUTCOMES,
    Arg,
    Assignment,
    Branch,
    Case,
    Condition,
    Escalation,
    Handler,
    Hangup,
    Hours,
    Menu,
    MenuOption,
    Node,
    Preference,
    Queue,
    Ring,
    RingStrategy,
    Say,
    SetVars,
    Ticket,
    Use,
    Voicemail,
)
from routing_engine.core.spans import NOWHERE, Ref, Span

__all__ = [
    "BOUNDED_KINDS",
    "EXHAUSTED",
    "KIND_NAMES",
    "MODULE_UNIT",
    "NODE_KINDS",
    "NOWHERE",
    "OPTIONAL_OUTCOMES",
    "OUTCOME_DEFAULTS",
    "PARAM_TYPES",
    "QUEUE_OUTCOMES",
    "RING_OUTCOMES",
    "Arg",
    "Assignment",
    "Board",
    "Bound",
    "Branch",
    "Case",
    "Condition",
    "Contact",
    "DateHours",
    "DayHours",
    "Deployment",
    "Duration",
    "DurationUnit",
    "Edge",
    "Entry",
    "Escalation",
    "Fallback",
    "Flow",
    "Handler",
    "Hangup",
    "Hours",
    "Menu",
    "MenuOption",
    "Module",
    "Node",
    "Param",
    "Preference",
    "Queue",
    "Ref",
    "Ring",
    "RingStrategy",
    "Say",
    "Schedule",
    "SetVars",
    "Span",
    "Target",
    "TargetKind",
    "Ticket",
    "TimeRange",
    "Trunk",
    "Use",
    "Voicemail",
]


@dataclass(frozen=True, slots=True)
class Flow:
    """A named process map for one call type: a start node and its nodes, in file order."""

    name: str
    start: Ref
    nodes: tuple[Node, ...]
    description: str = ""
    span: Span = field(default=NOWHERE, compare=False)
    # Nodes that could not be built (their problems are reported): their links are unknown, so
    # checks that need the whole map, such as reachability, hold back behind them.
    broken: frozenset[str] = field(default=frozenset(), compare=False)
    # A call that enters this flow and is not resolved (ended, its tickets resolved) this long
    # after is reported to `notify`.
    resolve_within: Duration | None = None
    notify: tuple[Ref, ...] = ()
    # What a call in this flow gets when the engine cannot decide; None: its line's, else the
    # deployment's (see CompiledDeployment.fallback_for).
    fallback: Fallback | None = None

    def node(self, node_id: str) -> Node | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None


PARAM_TYPES = ("target", "contact", "schedule", "board", "text", "duration")
# A module's own nodes are analysed under the unit name "module:NAME" (never a flow's name:
# names cannot hold ':'); only the copies made for each use are compiled.
MODULE_UNIT = "module:"


@dataclass(frozen=True, slots=True)
class Param:
    """A module parameter: its type, and the default used when a `use` gives none."""

    name: str
    type: str  # one of PARAM_TYPES
    default: str | None
    span: Span = field(default=NOWHERE, compare=False)
    default_span: Span = field(default=NOWHERE, compare=False)  # of the default, when given


@dataclass(frozen=True, slots=True)
class Module:
    """A reusable piece of process map (`flows/`): parameters, a start, nodes, and named exits.
    Inside it, `$name` (a whole value) and `${name}` (inside text) stand for arguments, and a
    reference to an exit leaves the module."""

    name: str
    params: tuple[Param, ...]
    exits: tuple[str, ...]
    start: Ref
    nodes: tuple[Node, ...]
    description: str = ""
    span: Span = field(default=NOWHERE, compare=False)
    broken: frozenset[str] = field(default=frozenset(), compare=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


class TargetKind(enum.Enum):
    LINE = "line"
    QUEUE = "queue"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Target:
    """A named destination: a line (SIP URI), a queue, or an external number (dialed over SIP
    through its `trunk`, else the deployment's default one; see `core/trunks.py`)."""

    name: str
    kind: TargetKind
    uri: str
    site: str
    region: str
    skills: tuple[str, ...]
    capacity: int
    available: bool
    span: Span = field(default=NOWHERE, compare=False)
    trunk: Ref | None = None
    uri_span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Trunk:
    """A SIP trunk or gateway that numbers are dialed through: `uri` is a SIP URI template in
    which `{number}` stands for the E.164 number (`{digits}`: without its '+')."""

    name: str
    uri: str
    span: Span = field(default=NOWHERE, compare=False)
    uri_span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone the engine can notify (a manager)."""

    name: str
    display_name: str
    email: str
    webhook: str
    span: Span = field(default=NOWHERE, compare=False)
    webhook_span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Board:
    """An office's board, where its tickets and voicemails go, and how it is shown."""

    name: str
    display_name: str
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes after local midnight: [start, end), end at most 24:00."""

    start: int
    end: int

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


@dataclass(frozen=True, slots=True)
class DayHours:
    """One line of weekly hours as written: which weekdays (0 = Monday) and their ranges."""

    days: tuple[int, ...]
    ranges: tuple[TimeRange, ...]
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class DateHours:
    """A one-off closure or opening: a date, and its ranges (none = the whole day)."""

    date: str  # ISO date, YYYY-MM-DD
    ranges: tuple[TimeRange, ...]
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Opening hours in a named IANA time zone, with a holiday calendar, one-off closures and
    openings, and an emergency override (`open` or `closed`)."""

    name: str
    timezone: str
    weekly: tuple[DayHours, ...]
    holidays: str  # "US" or "US-NY" (country, subdivision); "" for none
    closures: tuple[DateHours, ...]
    openings: tuple[DateHours, ...]
    override: str  # "", "open" or "closed"
    span: Span = field(default=NOWHERE, compare=False)
    timezone_span: Span = field(default=NOWHERE, compare=False)
    holidays_span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Entry:
    """A dialed number (E.164) or number prefix (`+1212555*`) that enters a flow."""

    number: str
    flow: Ref
    span: Span = field(default=NOWHERE, compare=False)
    fallback: Fallback | None = None  # this line's own; None: the deployment's

    @property
    def is_prefix(self) -> bool:
        return self.number.endswith("*")


@dataclass(frozen=True, slots=True)
class Fallback:
    """The decision used when the engine cannot decide: ring these targets, else hang up."""

    targets: tuple[Ref, ...]
    timeout: Duration
    say: str
    span: Span = field(default=NOWHERE, compare=False)


WRAP_UP = Duration(30, DurationUnit.MINUTES)  # a deployment's `wrap_up` unless it sets one


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything one organisation routes: entries, flows, targets, contacts, settings."""

    name: str
    flows: tuple[Flow, ...]
    entries: tuple[Entry, ...]
    targets: tuple[Target, ...]
    contacts: tuple[Contact, ...]
    schedules: tuple[Schedule, ...]
    fallback: Fallback
    ring_cadence: Duration
    caller_max_wait: Duration
    max_steps: int
    description: str = ""
    span: Span = field(default=NOWHERE, compare=False)
    modules: tuple[Module, ...] = ()
    # Part of the deployment document was in error and left out (its problems are reported):
    # checks about what it would have said, such as unused flows, hold back.
    broken: bool = field(default=False, compare=False)
    # A file of the deployment could not be read (reported): what it held is unknown.
    incomplete: bool = field(default=False, compare=False)
    # The boards tickets and voicemails may go to (a reference to another is S108).
    boards: tuple[Board, ...] = ()
    # Whether a number whose worst wait passes `caller_max_wait` fails (G205) or warns (W302).
    caller_max_wait_severity: str = "error"
    # Internal networks webhooks may reach (`10.20.0.0/16`); every other one is refused.
    allow_webhook_networks: tuple[str, ...] = ()
    # The SIP trunks numbers are dialed through, and the one a number target without its own
    # `trunk` takes (None: the only trunk, if there is one).
    trunks: tuple[Trunk, ...] = ()
    default_trunk: Ref | None = None
    # How long a connected agent may still report an outcome after the caller hung up.
    wrap_up: Duration = WRAP_UP

    def flow(self, name: str) -> Flow | None:
        for flow in self.flows:
            if flow.name == name:
                return flow
        return None
