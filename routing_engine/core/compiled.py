"""The compiled deployment: what the runtime walks, one class a node kind.

Compiling (compile.py) works everything out once: references become direct links between
compiled nodes, rings become seconds, unhandled busy/failed outcomes take the no-answer handler,
conditions are closures. The runtime then does dict lookups and nothing else; the networkx graph
is kept beside the tables for analysis and drawing only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routing_engine.core import ir
from routing_engine.core.nodes import require_every_kind

if TYPE_CHECKING:  # the per-event path imports this module; networkx stays out of it
    import networkx as nx

    from routing_engine.core.analysis import NodeKey
    from routing_engine.core.conditions import CompiledCondition
    from routing_engine.core.schedules import CompiledSchedule


@dataclass(frozen=True, slots=True)
class TargetInfo:
    name: str
    uri: str
    kind: str
    site: str
    region: str
    skills: tuple[str, ...]
    capacity: int
    available: bool
    sip_uri: str = ""  # a number's SIP URI through its trunk (core/trunks.py); "": none

    def to_json(self) -> dict[str, Any]:
        if self.sip_uri:
            return {"name": self.name, "uri": self.uri, "sip_uri": self.sip_uri}
        return {"name": self.name, "uri": self.uri}


@dataclass(eq=False, slots=True)
class CNode:
    """A compiled node. Subclasses add what their kind needs; links are direct references."""

    flow: str
    id: str
    span: ir.Span
    label: str = field(init=False, repr=False)  # `flow/id`, as traces and tickets name it
    # a menu's, ring's or queue's bound: entered at most `attempts` times a call (0: unbounded),
    # then the call goes to `exhausted` instead
    attempts: int = field(default=0, kw_only=True)
    exhausted: CNode | None = field(default=None, kw_only=True, repr=False)

    def __post_init__(self) -> None:
        self.label = f"{self.flow}/{self.id}"  # once here, not at each step of each call

    @property
    def key(self) -> NodeKey:
        return (self.flow, self.id)


@dataclass(eq=False, slots=True)
class CMenu(CNode):
    prompt: str = ""
    options: dict[str, CNode] = field(default_factory=dict)
    fallback: CNode | None = None
    retries: int = 0
    timeout_s: float = 0.0
    max_digits: int = 1


@dataclass(eq=False, slots=True)
class CRing(CNode):
    targets: tuple[TargetInfo, ...] = ()
    simultaneous: bool = False
    timeout_s: float = 0.0
    reports: tuple[str, ...] = ()  # in the order the node declares them
    on: dict[str, CNode] = field(default_factory=dict)
    prefer_skills: frozenset[str] | None = None  # None: no preference; ring `targets`
    prefer_region: str = ""


@dataclass(eq=False, slots=True)
class CQueue(CNode):
    queue: TargetInfo | None = None
    skills: tuple[str, ...] = ()
    priority: int = 0
    max_wait_s: float = 0.0
    reports: tuple[str, ...] = ()  # in the order the node declares them
    on: dict[str, CNode] = field(default_factory=dict)
    region: str = ""


@dataclass(eq=False, slots=True)
class CBranch(CNode):
    cases: tuple[tuple[CompiledCondition, CNode], ...] = ()
    otherwise: CNode | None = None


@dataclass(eq=False, slots=True)
class CHours(CNode):
    schedule: CompiledSchedule | None = None
    open: CNode | None = None
    closed: CNode | None = None
    holiday: CNode | None = None


@dataclass(eq=False, slots=True)
class CSay(CNode):
    text: str = ""
    next: CNode | None = None


@dataclass(eq=False, slots=True)
class CSet(CNode):
    values: tuple[tuple[str, str | int | float | bool], ...] = ()
    next: CNode | None = None


# An escalation step: seconds after the SLA's start, and the contacts it notifies.
Step = tuple[float, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class FlowLimit:
    """A flow's `resolve_within`: a call entering it must be resolved within `seconds`."""

    seconds: float
    notify: tuple[str, ...]


@dataclass(eq=False, slots=True)
class CTicket(CNode):
    board: str = ""
    sla_s: float | None = None
    managers: tuple[str, ...] = ()
    summary: str = ""
    next: CNode | None = None
    sla_from: CompiledSchedule | None = None
    escalations: tuple[Step, ...] = ()


@dataclass(eq=False, slots=True)
class CVoicemail(CNode):
    board: str = ""
    prompt: str = ""
    max_length_s: float = 0.0
    sla_s: float | None = None
    managers: tuple[str, ...] = ()
    next: CNode | None = None
    sla_from: CompiledSchedule | None = None
    escalations: tuple[Step, ...] = ()


@dataclass(eq=False, slots=True)
class CUse(CNode):
    module: str = ""
    next: CNode | None = None  # the first node of this use's copy of the module


@dataclass(eq=False, slots=True)
class CHangup(CNode):
    reason: str = ""


# The compiled class of each node kind. Tables over compiled classes (the runtime's visits) are
# checked against its values; the class objects, not CNode.__subclasses__(), which also lists
# the classes dataclass(slots=True) replaced until the garbage collector frees them.
COMPILED: dict[type[ir.Node], type[CNode]] = {
    ir.Menu: CMenu,
    ir.Ring: CRing,
    ir.Queue: CQueue,
    ir.Branch: CBranch,
    ir.Hours: CHours,
    ir.Say: CSay,
    ir.SetVars: CSet,
    ir.Ticket: CTicket,
    ir.Voicemail: CVoicemail,
    ir.Use: CUse,
    ir.Hangup: CHangup,
}
require_every_kind(COMPILED, "the compiled classes (compiled.COMPILED)")


WRAP_UP_S = 30 * 60.0  # a deployment's `wrap_up` unless it sets one


@dataclass(slots=True)
class CompiledDeployment:
    """What the runtime walks. `graph` is for analysis and drawing only."""

    name: str
    digest: str
    nodes: dict[NodeKey, CNode]
    entries: dict[str, CNode]
    prefixes: tuple[tuple[str, str, CNode], ...]  # (prefix, flow name, start), longest first
    targets: dict[str, TargetInfo]
    schedules: dict[str, CompiledSchedule]
    fallback: dict[str, Any]
    max_steps: int
    deployment: ir.Deployment
    graph: nx.MultiDiGraph[Any]
    entry_flows: dict[str, str] = field(default_factory=dict)
    limits: dict[str, FlowLimit] = field(default_factory=dict)  # flow -> its resolve_within
    # The fallbacks flows and entries (by number as written, `+1212555*` for a prefix) have
    # of their own; see fallback_for.
    flow_fallbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    line_fallbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    boards: dict[str, str] = field(default_factory=dict)  # declared board -> its display name
    # How long a call whose caller hung up awaits the agent's report (the deployment's
    # `wrap_up`), in seconds.
    wrap_up_s: float = WRAP_UP_S
    # Tickets' story sentences by (step, flow), as story.py reads them: a memo it fills.
    sentences: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def version(self) -> str:
        return self.digest[:12]

    def entry(self, dialed: str) -> tuple[str, CNode] | None:
        """The flow name and first node for a dialed number: exact numbers, then the longest
        matching prefix."""
        node = self.entries.get(dialed)
        if node is not None:
            return self.entry_flows[dialed], node
        for prefix, flow, start in self.prefixes:
            if dialed.startswith(prefix):
                return flow, start
        return None

    def fallback_for(self, flow: str | None, dialed: str | None) -> dict[str, Any]:
        """The fallback of a call in `flow` that dialed `dialed`: the flow's own (what the call
        is about now), else its line's (the entry it dialed), else the deployment's."""
        own = self.flow_fallbacks.get(flow) if flow else None
        if own is not None:
            return own
        if self.line_fallbacks and dialed:
            line = self.line_of(dialed)
            if line is not None and line in self.line_fallbacks:
                return self.line_fallbacks[line]
        return self.fallback

    def line_of(self, dialed: str) -> str | None:
        """The entry a dialed number is on, as written (`+1212555*` for a prefix), if any."""
        if dialed in self.entries:
            return dialed
        for prefix, _, _ in self.prefixes:
            if dialed.startswith(prefix):
                return f"{prefix}*"
        return None
