"""Name resolution and the networkx graph of a deployment, for validation, drawing and queries.

References resolve in one place (`Index.resolve`): a name is a node of the same flow first,
else another flow (entering at its start). networkx lives here and in the validators; the
per-event path never touches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from routing_engine import ir

NodeKey = tuple[str, str]  # (flow name, node id)
ENTRY = "@entry"  # the pseudo-flow whose "nodes" are the dialed numbers

# Kinds that decide at once and go on, without waiting for the caller or the network.
IMMEDIATE_KINDS = frozenset({"say", "set", "branch", "hours", "ticket"})


def can_end(node: ir.Node) -> bool:
    """True when a call may finish at this node (hung up, connected to a person, recorded)."""
    match node:
        case ir.Hangup():
            return True
        case ir.Voicemail():
            return node.next is None
        case ir.Ring() | ir.Queue():
            return all(h.outcome != "answered" for h in node.handlers)
        case _:
            return False


@dataclass(slots=True)
class Index:
    """Lookup tables over a deployment's IR; the first of a duplicated name wins."""

    deployment: ir.Deployment
    flows: dict[str, ir.Flow] = field(default_factory=dict)
    nodes: dict[NodeKey, ir.Node] = field(default_factory=dict)
    targets: dict[str, ir.Target] = field(default_factory=dict)
    contacts: dict[str, ir.Contact] = field(default_factory=dict)
    schedules: dict[str, ir.Schedule] = field(default_factory=dict)

    def resolve(self, flow: str, ref: ir.Ref) -> NodeKey | None:
        """Where a reference from inside `flow` leads, or None when it names nothing."""
        if (flow, ref.name) in self.nodes:
            return (flow, ref.name)
        other = self.flows.get(ref.name)
        if other is not None and (other.name, other.start.name) in self.nodes:
            return (other.name, other.start.name)
        return None

    def start_of(self, flow_name: str) -> NodeKey | None:
        flow = self.flows.get(flow_name)
        if flow is None or (flow.name, flow.start.name) not in self.nodes:
            return None
        return (flow.name, flow.start.name)

    def edges(self) -> Iterator[tuple[NodeKey, ir.Edge, NodeKey | None]]:
        """Every edge of every node, with where it resolves to (None when unresolved)."""
        for (flow, _), node in self.nodes.items():
            for edge in node.edges():
                yield (flow, node.id), edge, self.resolve(flow, edge.to)


def build_index(deployment: ir.Deployment) -> Index:
    index = Index(deployment)
    for flow in deployment.flows:
        if flow.name in index.flows:
            continue
        index.flows[flow.name] = flow
        for node in flow.nodes:
            index.nodes.setdefault((flow.name, node.id), node)
    for target in deployment.targets:
        index.targets.setdefault(target.name, target)
    for contact in deployment.contacts:
        index.contacts.setdefault(contact.name, contact)
    for schedule in deployment.schedules:
        index.schedules.setdefault(schedule.name, schedule)
    return index


def build_graph(index: Index) -> nx.MultiDiGraph[Any]:
    """The deployment as one graph: a vertex per node (keyed (flow, id)) and per dialed number,
    an edge per outcome (keyed by the outcome)."""
    graph: nx.MultiDiGraph[Any] = nx.MultiDiGraph()
    for key, node in index.nodes.items():
        graph.add_node(key, kind=node.KIND, flow=key[0], span=node.span)
    for entry in index.deployment.entries:
        entry_key = (ENTRY, entry.number)
        graph.add_node(entry_key, kind="entry", flow=ENTRY, span=entry.span)
        start = index.start_of(entry.flow.name)
        if start is not None:
            graph.add_edge(entry_key, start, key="enter", label=entry.number)
    for source, edge, target in index.edges():
        if target is not None:
            graph.add_edge(source, target, key=edge.outcome, label=edge.label or edge.outcome)
    return graph


def flow_reachable(index: Index, flow: ir.Flow) -> set[str]:
    """Node ids of `flow` reachable from its start without leaving the flow."""
    if (flow.name, flow.start.name) not in index.nodes:
        return set()
    seen = {flow.start.name}
    stack = [flow.start.name]
    while stack:
        node = index.nodes[(flow.name, stack.pop())]
        for edge in node.edges():
            if (flow.name, edge.to.name) in index.nodes and edge.to.name not in seen:
                seen.add(edge.to.name)
                stack.append(edge.to.name)
    return seen
