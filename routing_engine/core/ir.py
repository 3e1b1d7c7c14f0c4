"""The intermediate representation: one format-neutral model that both readers build.

Every object carries the `Span` it came from, so a problem found anywhere later (validation,
compilation, even the runtime) still points at a line and column of the source file.

Node kinds are classes in a closed union (`Node`). Each kind declares, in one place, the
outcomes it can produce (`outcomes()`) and where each outcome leads (`edges()`); validation,
compilation and drawing all read those two methods and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Span:
    """Where something stands in a source file (1-based line and column)."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<unknown>", 0, 0)


class DurationUnit(enum.Enum):
    RINGS = "rings"
    SECONDS = "s"
    MINUTES = "m"
    HOURS = "h"


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration as written (`2 rings`, `20s`, `15m`); seconds are known only at compile time
    for rings, because the ring cadence is a deployment setting."""

    amount: float
    unit: DurationUnit
    span: Span = field(default=NOWHERE, compare=False)
    param: str = ""  # in a module: `$rings` stands for the argument of that name

    def seconds(self, ring_cadence_s: float) -> float:
        match self.unit:
            case DurationUnit.RINGS:
                return self.amount * ring_cadence_s
            case DurationUnit.SECONDS:
                return float(self.amount)
            case DurationUnit.MINUTES:
                return self.amount * 60.0
            case DurationUnit.HOURS:
                return self.amount * 3600.0

    def __str__(self) -> str:
        if self.param:
            return f"${self.param}"
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        match self.unit:
            case DurationUnit.RINGS:
                return f"{amount} ring" if amount == 1 else f"{amount} rings"
            case DurationUnit.SECONDS:
                return f"{amount}s"
            case DurationUnit.MINUTES:
                return f"{amount}m"
            case DurationUnit.HOURS:
                return f"{amount}h"


@dataclass(frozen=True, slots=True)
class Ref:
    """A by-name reference (to a node, a flow, a target or a contact), resolved at compile
    time; an unknown name is a diagnostic at `span`, never a runtime KeyError."""

    name: str
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Edge:
    """One way out of a node: the outcome that takes it and where it leads."""

    outcome: str
    to: Ref
    label: str = ""


# --- node kinds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuOption:
    digits: str
    to: Ref
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Menu:
    """Play a prompt and collect digits; retry on no-input / no-match, then `fallback`."""

    KIND: ClassVar[str] = "menu"
    id: str
    prompt: str
    options: tuple[MenuOption, ...]
    fallback: Ref
    retries: int
    timeout: Duration
    max_digits: int
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return (*(f"digit:{o.digits}" for o in self.options), "fallback")

    def edges(self) -> Iterator[Edge]:
        for option in self.options:
            yield Edge(f"digit:{option.digits}", option.to, option.digits)
        yield Edge("fallback", self.fallback, "fallback")


class RingStrategy(enum.Enum):
    SEQUENTIAL = "sequential"
    SIMULTANEOUS = "simultaneous"


RING_OUTCOMES = ("answered", "no-answer", "busy", "failed")


@dataclass(frozen=True, slots=True)
class Handler:
    outcome: str
    to: Ref
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Preference:
    """Pick targets at call time: the available ones with all these skills, in this region
    (`caller` means the caller's region); when none qualifies, the node's own targets ring."""

    skills: tuple[str, ...]
    region: str  # "", "caller", or a region such as US-NY
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring one or several targets (in order, or at once). Produces the dial outcomes plus
    any outcome the answering party reports (`reports`)."""

    KIND: ClassVar[str] = "ring"
    id: str
    targets: tuple[Ref, ...]
    strategy: RingStrategy
    timeout: Duration
    reports: tuple[str, ...]
    handlers: tuple[Handler, ...]
    prefer: Preference | None = None
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return (*RING_OUTCOMES, *self.reports)

    def edges(self) -> Iterator[Edge]:
        for handler in self.handlers:
            yield Edge(handler.outcome, handler.to, handler.outcome)


QUEUE_OUTCOMES = ("answered", "timeout")


@dataclass(frozen=True, slots=True)
class Queue:
    """Wait for an agent of a queue target with the required skills, up to `max_wait`."""

    KIND: ClassVar[str] = "queue"
    id: str
    queue: Ref
    skills: tuple[str, ...]
    priority: int
    max_wait: Duration
    reports: tuple[str, ...]
    handlers: tuple[Handler, ...]
    region: str = ""  # agents' region: "", "caller", or a region such as US-NY
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return (*QUEUE_OUTCOMES, *self.reports)

    def edges(self) -> Iterator[Edge]:
        for handler in self.handlers:
            yield Edge(handler.outcome, handler.to, handler.outcome)


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition as written; `conditions.compile_condition` turns it into a closure.
    `raw` is its text exactly as in the file (quotes, escapes, folded lines) starting at
    `raw_start`, so positions inside it map back to the file; '' when not known."""

    source: str
    span: Span = field(default=NOWHERE, compare=False)
    raw: str = field(default="", compare=False)
    raw_start: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Case:
    when: Condition
    to: Ref
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Branch:
    """Ordered `when` conditions; the first that holds wins, else `otherwise`."""

    KIND: ClassVar[str] = "branch"
    id: str
    cases: tuple[Case, ...]
    otherwise: Ref
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return (*(f"case:{i + 1}" for i in range(len(self.cases))), "else")

    def edges(self) -> Iterator[Edge]:
        for i, case in enumerate(self.cases):
            yield Edge(f"case:{i + 1}", case.to, case.when.source)
        yield Edge("else", self.otherwise, "else")


@dataclass(frozen=True, slots=True)
class Say:
    """Play an announcement, then go on."""

    KIND: ClassVar[str] = "say"
    id: str
    text: str
    next: Ref | None
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ("next",)

    def edges(self) -> Iterator[Edge]:
        if self.next is not None:
            yield Edge("next", self.next)


@dataclass(frozen=True, slots=True)
class Assignment:
    name: str
    value: str | int | float | bool
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class SetVars:
    """Set call variables, then go on."""

    KIND: ClassVar[str] = "set"
    id: str
    values: tuple[Assignment, ...]
    next: Ref | None
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ("next",)

    def edges(self) -> Iterator[Edge]:
        if self.next is not None:
            yield Edge("next", self.next)


@dataclass(frozen=True, slots=True)
class Escalation:
    """A further step of a ticket's escalation: if the ticket is still unresolved `after` this
    long (counted as its SLA is), `notify` these contacts. The SLA itself (with `managers`) is
    level 0; escalations are levels 1, 2, ... in the order written."""

    after: Duration
    notify: tuple[Ref, ...]
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Ticket:
    """Record the call onto a board for office staff, with an SLA, then go on."""

    KIND: ClassVar[str] = "ticket"
    id: str
    board: str
    sla: Duration | None
    managers: tuple[Ref, ...]
    summary: str
    next: Ref | None
    sla_from: Ref | None = None  # a schedule: the SLA clock starts when it next opens
    escalations: tuple[Escalation, ...] = ()
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ("next",)

    def edges(self) -> Iterator[Edge]:
        if self.next is not None:
            yield Edge("next", self.next)


@dataclass(frozen=True, slots=True)
class Voicemail:
    """Record a message that becomes a ticket on `board`. Without `next` the call ends once
    the message is recorded."""

    KIND: ClassVar[str] = "voicemail"
    id: str
    board: str
    prompt: str
    max_length: Duration
    sla: Duration | None
    managers: tuple[Ref, ...]
    next: Ref | None
    sla_from: Ref | None = None  # a schedule: the SLA clock starts when it next opens
    escalations: tuple[Escalation, ...] = ()
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ("recorded",)

    def edges(self) -> Iterator[Edge]:
        if self.next is not None:
            yield Edge("recorded", self.next)


@dataclass(frozen=True, slots=True)
class Hours:
    """Check a schedule now: `open`, `closed` or `holiday` (which goes to `closed` when not
    handled)."""

    KIND: ClassVar[str] = "hours"
    id: str
    schedule: Ref
    open: Ref
    closed: Ref
    holiday: Ref | None
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ("open", "closed", "holiday")

    def edges(self) -> Iterator[Edge]:
        yield Edge("open", self.open, "open")
        yield Edge("closed", self.closed, "closed")
        if self.holiday is not None:
            yield Edge("holiday", self.holiday, "holiday")


@dataclass(frozen=True, slots=True)
class Arg:
    """An argument of a `use`: a parameter's name and the value given for it."""

    name: str
    value: str
    span: Span = field(default=NOWHERE, compare=False)  # of the value
    name_span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Use:
    """Enter a module with arguments; its named exits lead back into this flow."""

    KIND: ClassVar[str] = "use"
    id: str
    module: Ref
    args: tuple[Arg, ...]
    exits: tuple[Handler, ...]
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return tuple(h.outcome for h in self.exits)

    def edges(self) -> Iterator[Edge]:
        for handler in self.exits:
            yield Edge(handler.outcome, handler.to, handler.outcome)


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""

    KIND: ClassVar[str] = "hangup"
    id: str
    reason: str
    span: Span = field(default=NOWHERE, compare=False)

    def outcomes(self) -> tuple[str, ...]:
        return ()

    def edges(self) -> Iterator[Edge]:
        return iter(())


Node = Menu | Ring | Queue | Branch | Hours | Say | SetVars | Ticket | Voicemail | Use | Hangup
NODE_KINDS: tuple[type[Node], ...] = (
    Menu, Ring, Queue, Branch, Hours, Say, SetVars, Ticket, Voicemail, Use, Hangup,
)  # fmt: skip
KIND_NAMES: tuple[str, ...] = tuple(kind.KIND for kind in NODE_KINDS)

# Outcomes a node may leave without a handler, and what that means.
#  - a ring or queue whose call is answered is connected: the call is in a person's hands;
#  - a voicemail without `next` ends the call once the message is recorded.
OPTIONAL_OUTCOMES: dict[str, frozenset[str]] = {
    "ring": frozenset({"answered"}),
    "queue": frozenset({"answered"}),
    "voicemail": frozenset({"recorded"}),
}
# Which handler serves an outcome that has none of its own. The IR keeps what the author wrote;
# the compiler and the G204 rule both apply this one table.
OUTCOME_DEFAULTS: dict[str, str] = {"busy": "no-answer", "failed": "no-answer", "holiday": "closed"}


# --- flows and deployments ---------------------------------------------------------------------


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
    """A named destination: a line (SIP URI), a queue, or an external number."""

    name: str
    kind: TargetKind
    uri: str
    site: str
    region: str
    skills: tuple[str, ...]
    capacity: int
    available: bool
    span: Span = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone the engine can notify (a manager)."""

    name: str
    display_name: str
    email: str
    webhook: str
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

    def flow(self, name: str) -> Flow | None:
        for flow in self.flows:
            if flow.name == name:
                return flow
        return None
