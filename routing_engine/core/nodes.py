"""The node kinds: what a flow is made of.

Node kinds are classes in a closed union (`Node`), declared once here. Each kind names itself
(`KIND`, the word a flow file writes) and declares, in one place, the outcomes it can produce
(`outcomes()`) and where each outcome leads (`edges()`); validation, compilation and drawing
all read those two methods and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, get_args

from routing_engine.core.durations import Duration
from routing_engine.core.edges import Bound, Edge, exhausted_edges
from routing_engine.core.spans import NOWHERE, Ref, Span


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
    bound: Bound | None = None

    def outcomes(self) -> tuple[str, ...]:
        return (*(f"digit:{o.digits}" for o in self.options), "fallback")

    def edges(self) -> Iterator[Edge]:
        for option in self.options:
            yield Edge(f"digit:{option.digits}", option.to, option.digits, option.span)
        yield Edge("fallback", self.fallback, "fallback")
        yield from exhausted_edges(self.bound)


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
    skill_spans: tuple[Span, ...] = field(default=(), compare=False)  # where each skill is


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
    bound: Bound | None = None

    def outcomes(self) -> tuple[str, ...]:
        return (*RING_OUTCOMES, *self.reports)

    def edges(self) -> Iterator[Edge]:
        for handler in self.handlers:
            yield Edge(handler.outcome, handler.to, handler.outcome, handler.span)
        yield from exhausted_edges(self.bound)


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
    bound: Bound | None = None

    def outcomes(self) -> tuple[str, ...]:
        return (*QUEUE_OUTCOMES, *self.reports)

    def edges(self) -> Iterator[Edge]:
        for handler in self.handlers:
            yield Edge(handler.outcome, handler.to, handler.outcome, handler.span)
        yield from exhausted_edges(self.bound)


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
            yield Edge(f"case:{i + 1}", case.to, case.when.source, case.span)
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
    board: Ref
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
    board: Ref
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
            yield Edge(handler.outcome, handler.to, handler.outcome, handler.span)


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


# The node kinds, declared here once: every table with an entry per kind is checked against
# this union (in the core when its module loads, elsewhere by tests/test_node_kinds.py).
Node = Menu | Ring | Queue | Branch | Hours | Say | SetVars | Ticket | Voicemail | Use | Hangup
NODE_KINDS: tuple[type[Node], ...] = get_args(Node)
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


def require_every_kind(
    table: Iterable[type], what: str, kinds: Iterable[type] = NODE_KINDS
) -> None:
    """Raise TypeError unless `table` has an entry for each of `kinds` and no other. A table with
    an entry per kind calls this when its module loads, so a kind it leaves out fails at import,
    not on the first call that reaches that kind."""
    keys, wanted = set(table), set(kinds)
    if keys != wanted:
        missing = sorted(kind.__name__ for kind in wanted - keys)
        extra = sorted(kind.__name__ for kind in keys - wanted)
        raise TypeError(f"{what}: no entry for {missing}; entries for no kind: {extra}")
