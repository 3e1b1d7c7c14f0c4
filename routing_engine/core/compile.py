"""IR -> compiled deployment: flat dispatch tables for the per-event path, and the networkx
graph (kept beside them) for analysis and drawing.

Everything the runtime needs is worked out here once: references become direct links between
compiled nodes, rings become seconds, unhandled busy/failed outcomes take the no-answer
handler, conditions are closures. The runtime then does dict lookups and nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routing_engine.core import ir
from routing_engine.core.ir import MODULE_UNIT as MODULE

if TYPE_CHECKING:  # the per-event path imports this module; networkx stays out of it
    import networkx as nx

    from routing_engine.core.analysis import NodeKey
    from routing_engine.core.conditions import CompiledCondition
    from routing_engine.core.context import Context
    from routing_engine.core.schedules import CompiledSchedule

AWAIT_MENU = ("digits", "no-input", "hangup")
AWAIT_RING = ("dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup")
AWAIT_QUEUE = ("dial.answered", "queue.timeout", "hangup")
AWAIT_VOICEMAIL = ("recording.done", "hangup")
AWAIT_CONNECTED = ("hangup",)
AWAIT_REPORTING = ("outcome", "hangup")


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

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "uri": self.uri}


@dataclass(eq=False, slots=True)
class CNode:
    """A compiled node. Subclasses add what their kind needs; links are direct references."""

    flow: str
    id: str
    span: ir.Span
    label: str = field(init=False, repr=False)  # `flow/id`, as traces and tickets name it

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
    reports: frozenset[str] = frozenset()
    on: dict[str, CNode] = field(default_factory=dict)
    prefer_skills: frozenset[str] | None = None  # None: no preference; ring `targets`
    prefer_region: str = ""


@dataclass(eq=False, slots=True)
class CQueue(CNode):
    queue: TargetInfo | None = None
    skills: tuple[str, ...] = ()
    priority: int = 0
    max_wait_s: float = 0.0
    reports: frozenset[str] = frozenset()
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


def _seconds(duration: ir.Duration | None, cadence: float) -> float | None:
    return None if duration is None else duration.seconds(cadence)


def _steps(node: ir.Ticket | ir.Voicemail, cadence: float) -> tuple[Step, ...]:
    return tuple(
        (step.after.seconds(cadence), tuple(ref.name for ref in step.notify))
        for step in node.escalations
    )


@dataclass(frozen=True, slots=True)
class _Lookups:
    """What compiling one node needs besides the node."""

    targets: dict[str, TargetInfo]
    schedules: dict[str, CompiledSchedule]
    conditions: dict[tuple[str, str, int], CompiledCondition]
    cadence: float

    def schedule(self, ref: ir.Ref | None) -> CompiledSchedule | None:
        return None if ref is None else self.schedules[ref.name]


def _shell(node: ir.Node, key: NodeKey, lookups: _Lookups) -> CNode:
    """A compiled node without its links (they are filled once every node exists). Its id is
    the key's: a module node copied for a use is `use-id.node-id`."""
    targets, cadence = lookups.targets, lookups.cadence
    flow, node_id = key
    node = dataclasses.replace(node, id=node_id)
    match node:
        case ir.Menu():
            return CMenu(
                flow,
                node.id,
                node.span,
                node.prompt,
                {},
                None,
                node.retries,
                node.timeout.seconds(cadence),
                node.max_digits,
            )
        case ir.Ring():
            return CRing(
                flow,
                node.id,
                node.span,
                tuple(targets[t.name] for t in node.targets),
                node.strategy is ir.RingStrategy.SIMULTANEOUS,
                node.timeout.seconds(cadence),
                frozenset(node.reports),
                prefer_skills=None if node.prefer is None else frozenset(node.prefer.skills),
                prefer_region="" if node.prefer is None else node.prefer.region,
            )
        case ir.Queue():
            return CQueue(
                flow,
                node.id,
                node.span,
                targets[node.queue.name],
                node.skills,
                node.priority,
                node.max_wait.seconds(cadence),
                frozenset(node.reports),
                region=node.region,
            )
        case ir.Branch():
            return CBranch(flow, node.id, node.span)
        case ir.Hours():
            return CHours(flow, node.id, node.span, lookups.schedule(node.schedule))
        case ir.Say():
            return CSay(flow, node.id, node.span, node.text)
        case ir.SetVars():
            return CSet(flow, node.id, node.span, tuple((a.name, a.value) for a in node.values))
        case ir.Ticket():
            return CTicket(
                flow,
                node.id,
                node.span,
                node.board,
                _seconds(node.sla, cadence),
                tuple(m.name for m in node.managers),
                node.summary,
                sla_from=lookups.schedule(node.sla_from),
                escalations=_steps(node, cadence),
            )
        case ir.Voicemail():
            return CVoicemail(
                flow,
                node.id,
                node.span,
                node.board,
                node.prompt,
                node.max_length.seconds(cadence),
                _seconds(node.sla, cadence),
                tuple(m.name for m in node.managers),
                sla_from=lookups.schedule(node.sla_from),
                escalations=_steps(node, cadence),
            )
        case ir.Use():
            return CUse(flow, node.id, node.span, node.module.name)
        case ir.Hangup():
            return CHangup(flow, node.id, node.span, node.reason)
    raise TypeError(f"cannot compile {type(node).__name__}")  # pragma: no cover - closed union


def _link(
    shell: CNode, node: ir.Node, to: Any, conditions: dict[tuple[str, str, int], CompiledCondition]
) -> None:
    """Fill a compiled node's links; `to(ref)` gives the compiled node a reference leads to."""
    if isinstance(shell, CMenu) and isinstance(node, ir.Menu):
        shell.options = {o.digits: to(o.to) for o in node.options}
        shell.fallback = to(node.fallback)
    elif isinstance(shell, (CRing, CQueue)) and isinstance(node, (ir.Ring, ir.Queue)):
        shell.on = {h.outcome: to(h.to) for h in node.handlers}
        for outcome, default in ir.OUTCOME_DEFAULTS.items():
            if outcome not in shell.on and default in shell.on:
                shell.on[outcome] = shell.on[default]
    elif isinstance(shell, CHours) and isinstance(node, ir.Hours):
        shell.open, shell.closed = to(node.open), to(node.closed)
        shell.holiday = shell.closed if node.holiday is None else to(node.holiday)
    elif isinstance(shell, CBranch) and isinstance(node, ir.Branch):
        shell.cases = tuple(
            (conditions[(shell.flow, shell.id, i)], to(case.to))
            for i, case in enumerate(node.cases)
        )
        shell.otherwise = to(node.otherwise)
    elif isinstance(shell, (CSay, CSet, CTicket, CVoicemail)) and isinstance(
        node, (ir.Say, ir.SetVars, ir.Ticket, ir.Voicemail)
    ):
        shell.next = None if node.next is None else to(node.next)


def fallback_body(
    deployment: ir.Deployment, targets: dict[str, TargetInfo], cadence: float
) -> dict[str, Any]:
    """The decision a telephony system uses when the engine cannot decide or be reached."""
    fallback = deployment.fallback
    actions: list[dict[str, Any]] = []
    if fallback.say:
        actions.append({"type": "say", "text": fallback.say})
    rung = [targets[t.name].to_json() for t in fallback.targets if t.name in targets]
    if rung:
        actions.append(  # every fallback target at once: whoever is free answers
            {
                "type": "ring",
                "targets": rung,
                "timeout_s": fallback.timeout.seconds(cadence),
                "strategy": "simultaneous",
            }
        )
    actions.append({"type": "hangup", "reason": "fallback"})
    return {"actions": actions, "await": []}


def compile_deployment(context: Context, digest: str) -> CompiledDeployment:
    """Compile a deployment that passed validation (no errors: every reference resolves)."""
    deployment, index = context.deployment, context.index
    cadence = deployment.ring_cadence.seconds(6.0)
    targets = {
        t.name: TargetInfo(
            t.name, t.uri, t.kind.value, t.site, t.region, t.skills, t.capacity, t.available
        )
        for t in index.targets.values()
    }
    lookups = _Lookups(targets, context.schedules, context.conditions, cadence)
    routed = {key: node for key, node in index.nodes.items() if not key[0].startswith(MODULE)}
    nodes = {key: _shell(node, key, lookups) for key, node in routed.items()}
    for key, node in routed.items():
        flow = key[0]
        if isinstance(node, ir.Use):
            start = index.expansion_start(key)
            use = nodes[key]
            if isinstance(use, CUse) and start is not None:
                use.next = nodes[start]
            continue

        def to(ref: ir.Ref, flow: str = flow) -> CNode:
            resolved = index.resolve(flow, ref)
            if resolved is None:  # validation reports it (S108); compiling is refused before here
                raise KeyError(f"unresolved reference '{ref.name}' at {ref.span}")
            return nodes[resolved]

        _link(nodes[key], node, to, context.conditions)
    entries: dict[str, CNode] = {}
    entry_flows: dict[str, str] = {}
    prefixes: list[tuple[str, str, CNode]] = []
    for entry in deployment.entries:
        start = index.start_of(entry.flow.name)
        if start is None:
            continue
        if entry.is_prefix:
            prefixes.append((entry.number[:-1], entry.flow.name, nodes[start]))
        else:
            entries.setdefault(entry.number, nodes[start])
            entry_flows.setdefault(entry.number, entry.flow.name)
    prefixes.sort(key=lambda p: -len(p[0]))
    limits = {
        flow.name: FlowLimit(
            flow.resolve_within.seconds(cadence), tuple(ref.name for ref in flow.notify)
        )
        for flow in index.flows.values()
        if flow.resolve_within is not None
    }
    return CompiledDeployment(
        name=deployment.name,
        digest=digest,
        nodes=nodes,
        entries=entries,
        prefixes=tuple(prefixes),
        targets=targets,
        schedules=dict(context.schedules),
        fallback=fallback_body(deployment, targets, cadence),
        max_steps=deployment.max_steps,
        deployment=deployment,
        graph=context.graph,
        entry_flows=entry_flows,
        limits=limits,
    )
