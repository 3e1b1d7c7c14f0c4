"""IR -> compiled deployment (compiled.py): flat dispatch tables for the per-event path, and
the networkx graph (kept beside them) for analysis and drawing.

Each node kind compiles in two steps, one small function each, listed in KINDS: its shell (the
compiled node without links, its durations in seconds) and, once every shell exists, its
links (direct references to the compiled nodes its outcomes lead to).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from routing_engine.core import ir
from routing_engine.core.compiled import (
    CBranch,
    CHangup,
    CHours,
    CMenu,
    CNode,
    CompiledDeployment,
    CQueue,
    CRing,
    CSay,
    CSet,
    CTicket,
    CUse,
    CVoicemail,
    FlowLimit,
    Step,
    TargetInfo,
)
from routing_engine.core.ir import MODULE_UNIT as MODULE
from routing_engine.core.nodes import require_every_kind
from routing_engine.core.trunks import dial_uris

if TYPE_CHECKING:
    from routing_engine.core.analysis import Index, NodeKey
    from routing_engine.core.conditions import CompiledCondition
    from routing_engine.core.context import Context
    from routing_engine.core.schedules import CompiledSchedule

__all__ = [  # the compiled forms live in compiled.py; importing them from here still works
    "KINDS",
    "CBranch",
    "CHangup",
    "CHours",
    "CMenu",
    "CNode",
    "CQueue",
    "CRing",
    "CSay",
    "CSet",
    "CTicket",
    "CUse",
    "CVoicemail",
    "CompiledDeployment",
    "compile_deployment",
    "fallback_body",
]


def _seconds(duration: ir.Duration | None, cadence: float) -> float | None:
    return None if duration is None else duration.seconds(cadence)


def _steps(node: ir.Ticket | ir.Voicemail, cadence: float) -> tuple[Step, ...]:
    return tuple(
        (step.after.seconds(cadence), tuple(ref.name for ref in step.notify))
        for step in node.escalations
    )


@dataclass(frozen=True, slots=True)
class _Lookups:
    """What compiling one node's shell needs besides the node."""

    targets: dict[str, TargetInfo]
    schedules: dict[str, CompiledSchedule]
    cadence: float

    def schedule(self, ref: ir.Ref | None) -> CompiledSchedule | None:
        return None if ref is None else self.schedules[ref.name]


@dataclass(frozen=True, slots=True)
class _Links:
    """What linking one node needs: every compiled node, and where this one stands."""

    nodes: dict[NodeKey, CNode]
    index: Index
    conditions: dict[tuple[str, str, int], CompiledCondition]
    key: NodeKey

    def to(self, ref: ir.Ref) -> CNode:
        """The compiled node a reference from this node leads to."""
        resolved = self.index.resolve(self.key[0], ref)
        if resolved is None:  # validation reports it (S108); compiling is refused before here
            raise KeyError(f"unresolved reference '{ref.name}' at {ref.span}")
        return self.nodes[resolved]

    def next(self, ref: ir.Ref | None) -> CNode | None:
        return None if ref is None else self.to(ref)


# -- shells: a compiled node without its links; `flow` and the node's id make its key ----------


def _menu(node: ir.Menu, flow: str, lookups: _Lookups) -> CMenu:
    timeout_s = node.timeout.seconds(lookups.cadence)
    return CMenu(
        flow, node.id, node.span, node.prompt, {}, None, node.retries, timeout_s, node.max_digits
    )


def _ring(node: ir.Ring, flow: str, lookups: _Lookups) -> CRing:
    return CRing(
        flow,
        node.id,
        node.span,
        tuple(lookups.targets[t.name] for t in node.targets),
        node.strategy is ir.RingStrategy.SIMULTANEOUS,
        node.timeout.seconds(lookups.cadence),
        tuple(node.reports),
        prefer_skills=None if node.prefer is None else frozenset(node.prefer.skills),
        prefer_region="" if node.prefer is None else node.prefer.region,
    )


def _queue(node: ir.Queue, flow: str, lookups: _Lookups) -> CQueue:
    return CQueue(
        flow,
        node.id,
        node.span,
        lookups.targets[node.queue.name],
        node.skills,
        node.priority,
        node.max_wait.seconds(lookups.cadence),
        tuple(node.reports),
        region=node.region,
    )


def _branch(node: ir.Branch, flow: str, lookups: _Lookups) -> CBranch:
    return CBranch(flow, node.id, node.span)


def _hours(node: ir.Hours, flow: str, lookups: _Lookups) -> CHours:
    return CHours(flow, node.id, node.span, lookups.schedule(node.schedule))


def _say(node: ir.Say, flow: str, lookups: _Lookups) -> CSay:
    return CSay(flow, node.id, node.span, node.text)


def _set(node: ir.SetVars, flow: str, lookups: _Lookups) -> CSet:
    return CSet(flow, node.id, node.span, tuple((a.name, a.value) for a in node.values))


def _ticket(node: ir.Ticket, flow: str, lookups: _Lookups) -> CTicket:
    return CTicket(
        flow,
        node.id,
        node.span,
        node.board.name,
        _seconds(node.sla, lookups.cadence),
        tuple(m.name for m in node.managers),
        node.summary,
        sla_from=lookups.schedule(node.sla_from),
        escalations=_steps(node, lookups.cadence),
    )


def _voicemail(node: ir.Voicemail, flow: str, lookups: _Lookups) -> CVoicemail:
    return CVoicemail(
        flow,
        node.id,
        node.span,
        node.board.name,
        node.prompt,
        node.max_length.seconds(lookups.cadence),
        _seconds(node.sla, lookups.cadence),
        tuple(m.name for m in node.managers),
        sla_from=lookups.schedule(node.sla_from),
        escalations=_steps(node, lookups.cadence),
    )


def _use(node: ir.Use, flow: str, lookups: _Lookups) -> CUse:
    return CUse(flow, node.id, node.span, node.module.name)


def _hangup(node: ir.Hangup, flow: str, lookups: _Lookups) -> CHangup:
    return CHangup(flow, node.id, node.span, node.reason)


# -- links: where each outcome of a compiled node leads ------------------------------------------


def _link_bound(shell: CNode, bound: ir.Bound | None, links: _Links) -> None:
    if bound is not None:
        shell.attempts, shell.exhausted = bound.attempts, links.to(bound.exhausted)


def _link_menu(shell: CMenu, node: ir.Menu, links: _Links) -> None:
    shell.options = {o.digits: links.to(o.to) for o in node.options}
    shell.fallback = links.to(node.fallback)
    _link_bound(shell, node.bound, links)


def _link_handlers(shell: CRing | CQueue, node: ir.Ring | ir.Queue, links: _Links) -> None:
    _link_bound(shell, node.bound, links)
    shell.on = {h.outcome: links.to(h.to) for h in node.handlers}
    for outcome, default in ir.OUTCOME_DEFAULTS.items():
        if outcome not in shell.on and default in shell.on:
            shell.on[outcome] = shell.on[default]


def _link_branch(shell: CBranch, node: ir.Branch, links: _Links) -> None:
    shell.cases = tuple(
        (links.conditions[(shell.flow, shell.id, i)], links.to(case.to))
        for i, case in enumerate(node.cases)
    )
    shell.otherwise = links.to(node.otherwise)


def _link_hours(shell: CHours, node: ir.Hours, links: _Links) -> None:
    shell.open, shell.closed = links.to(node.open), links.to(node.closed)
    shell.holiday = shell.closed if node.holiday is None else links.to(node.holiday)


def _link_next(
    shell: CSay | CSet | CTicket | CVoicemail,
    node: ir.Say | ir.SetVars | ir.Ticket | ir.Voicemail,
    links: _Links,
) -> None:
    shell.next = links.next(node.next)


def _link_use(shell: CUse, node: ir.Use, links: _Links) -> None:
    """A use leads into its own copy of the module (whose exits lead back into the flow)."""
    start = links.index.expansion_start(links.key)
    if start is not None:
        shell.next = links.nodes[start]


def _no_links(shell: CHangup, node: ir.Hangup, links: _Links) -> None:
    return None


Shell = Callable[[Any, str, _Lookups], CNode]
Link = Callable[[Any, Any, _Links], None]

# How each node kind compiles: its shell, then its links.
KINDS: dict[type[ir.Node], tuple[Shell, Link]] = {
    ir.Menu: (_menu, _link_menu),
    ir.Ring: (_ring, _link_handlers),
    ir.Queue: (_queue, _link_handlers),
    ir.Branch: (_branch, _link_branch),
    ir.Hours: (_hours, _link_hours),
    ir.Say: (_say, _link_next),
    ir.SetVars: (_set, _link_next),
    ir.Ticket: (_ticket, _link_next),
    ir.Voicemail: (_voicemail, _link_next),
    ir.Use: (_use, _link_use),
    ir.Hangup: (_hangup, _no_links),
}
require_every_kind(KINDS, "the compiler (compile.KINDS)")


def _shell(node: ir.Node, key: NodeKey, lookups: _Lookups) -> CNode:
    """A compiled node without its links (they are filled once every node exists). Its id is
    the key's: a module node copied for a use is `use-id.node-id`."""
    flow, node_id = key
    shell, _ = KINDS[type(node)]
    return shell(dataclasses.replace(node, id=node_id), flow, lookups)


def fallback_body(
    deployment: ir.Deployment,
    targets: dict[str, TargetInfo],
    cadence: float,
    own: ir.Fallback | None = None,
) -> dict[str, Any]:
    """The decision a telephony system uses when the engine cannot decide or be reached: the
    deployment's fallback, or `own` (a flow's or an entry's)."""
    fallback = deployment.fallback if own is None else own
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


Entries = tuple[dict[str, CNode], dict[str, str], tuple[tuple[str, str, CNode], ...]]


def _entries(deployment: ir.Deployment, index: Index, nodes: dict[NodeKey, CNode]) -> Entries:
    """Where each dialed number enters: exact numbers (their first node, their flow), and
    prefixes (prefix, flow, first node), longest first."""
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
    return entries, entry_flows, tuple(prefixes)


def _nodes(context: Context, lookups: _Lookups) -> dict[NodeKey, CNode]:
    """Every routed node compiled and linked (a module's own nodes are not: its copies are)."""
    index = context.index
    routed = {key: node for key, node in index.nodes.items() if not key[0].startswith(MODULE)}
    nodes = {key: _shell(node, key, lookups) for key, node in routed.items()}
    for key, node in routed.items():
        _, link = KINDS[type(node)]
        link(nodes[key], node, _Links(nodes, index, context.conditions, key))
    return nodes


def compile_deployment(context: Context, digest: str) -> CompiledDeployment:
    """Compile a deployment that passed validation (no errors: every reference resolves)."""
    deployment, index = context.deployment, context.index
    cadence = deployment.ring_cadence.seconds(6.0)
    sip = dial_uris(deployment)  # numbers through their trunks, worked out once
    targets = {
        t.name: TargetInfo(
            t.name,
            t.uri,
            t.kind.value,
            t.site,
            t.region,
            t.skills,
            t.capacity,
            t.available,
            sip.get(t.name, ""),
        )
        for t in index.targets.values()
    }
    nodes = _nodes(context, _Lookups(targets, context.schedules, cadence))
    entries, entry_flows, prefixes = _entries(deployment, index, nodes)
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
        prefixes=prefixes,
        targets=targets,
        schedules=dict(context.schedules),
        fallback=fallback_body(deployment, targets, cadence),
        max_steps=deployment.max_steps,
        deployment=deployment,
        graph=context.graph,
        entry_flows=entry_flows,
        limits=limits,
        flow_fallbacks={
            flow.name: fallback_body(deployment, targets, cadence, flow.fallback)
            for flow in index.flows.values()
            if flow.fallback is not None
        },
        line_fallbacks={
            entry.number: fallback_body(deployment, targets, cadence, entry.fallback)
            for entry in deployment.entries
            if entry.fallback is not None
        },
        boards={board.name: board.display_name for board in deployment.boards},
        wrap_up_s=deployment.wrap_up.seconds(cadence),
    )
