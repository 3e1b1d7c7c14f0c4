"""Name resolution, module expansion and the networkx graph of a deployment.

References resolve in one place (`Index.resolve`): inside a flow, a name is a node of that
flow first, else another flow (entering at its start); inside a module, a node of the module,
else one of its exits. Each `use` of a module is expanded here into copies of the module's
nodes (keyed `use-id.node-id` in the using flow), with `$param` / `${param}` replaced by the
use's arguments and exits leading where the use maps them; the compiler compiles those copies
like any node. A module's own nodes are indexed too, under `module:NAME`, so it is checked
once. networkx lives here and in the validators; the per-event path never touches it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from routing_engine.core import ir
from routing_engine.core.durations import parse_duration

NodeKey = tuple[str, str]  # (flow name or "module:NAME", node id)
ENTRY = "@entry"  # the pseudo-flow whose "nodes" are the dialed numbers
MODULE = ir.MODULE_UNIT  # the prefix of a module's unit name
EXIT = "@exit:"  # the prefix of a module exit's pseudo node id
MAX_USE_DEPTH = 8  # modules using modules, at most this deep

# Kinds that decide at once and go on, without waiting for the caller or the network.
IMMEDIATE_KINDS = frozenset({"say", "set", "branch", "hours", "ticket", "use"})
# Fields of IR nodes that name another node (the rest name targets, contacts, schedules).
NODE_REF_FIELDS = frozenset(
    {"to", "fallback", "otherwise", "open", "closed", "holiday", "next", "exhausted"}
)
_PARAM_IN_TEXT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Unit = ir.Flow | ir.Module


def unit_name(unit: Unit) -> str:
    return unit.name if isinstance(unit, ir.Flow) else MODULE + unit.name


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
    modules: dict[str, ir.Module] = field(default_factory=dict)
    nodes: dict[NodeKey, ir.Node] = field(default_factory=dict)
    targets: dict[str, ir.Target] = field(default_factory=dict)
    contacts: dict[str, ir.Contact] = field(default_factory=dict)
    schedules: dict[str, ir.Schedule] = field(default_factory=dict)
    boards: dict[str, ir.Board] = field(default_factory=dict)
    # node copies made by expanding uses: key -> the use node's key
    expanded: dict[NodeKey, NodeKey] = field(default_factory=dict)
    # flow nodes whose id is also the id of a use's copy (`first.check`): key -> the use's key
    clashes: dict[NodeKey, NodeKey] = field(default_factory=dict)

    def units(self) -> Iterator[tuple[str, Unit]]:
        """Every flow and module, by unit name."""
        for flow in self.flows.values():
            yield flow.name, flow
        for module in self.modules.values():
            yield MODULE + module.name, module

    def unit(self, name: str) -> Unit | None:
        if name.startswith(MODULE):
            return self.modules.get(name.removeprefix(MODULE))
        return self.flows.get(name)

    def own_nodes(self) -> Iterator[tuple[NodeKey, ir.Node]]:
        """Nodes as written in flows and modules (not the copies made for uses)."""
        for key, node in self.nodes.items():
            if key not in self.expanded:
                yield key, node

    def resolve(self, unit: str, ref: ir.Ref) -> NodeKey | None:
        """Where a reference from inside `unit` leads, or None when it names nothing."""
        if (unit, ref.name) in self.nodes:
            return (unit, ref.name)
        if unit.startswith(MODULE):
            module = self.modules.get(unit.removeprefix(MODULE))
            if module is not None and ref.name in module.exits:
                return (unit, EXIT + ref.name)
            return None
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
        """Every edge of every node, with where it resolves to (None when unresolved). A use
        leads into its expansion; its exits are the expansion's own edges."""
        for (unit, node_id), node in self.nodes.items():
            if isinstance(node, ir.Use):
                start = self.expansion_start((unit, node_id))
                if start is not None:
                    yield (unit, node_id), ir.Edge("enter", ir.Ref(start[1], node.span)), start
                    continue
                if unit.startswith(MODULE):  # a use inside a module: checked as its exits
                    for edge in node.edges():
                        yield (unit, node_id), edge, self.resolve(unit, edge.to)
                continue
            for edge in node.edges():
                yield (unit, node_id), edge, self.resolve(unit, edge.to)

    def expansion_start(self, use_key: NodeKey) -> NodeKey | None:
        node = self.nodes.get(use_key)
        if not isinstance(node, ir.Use) or use_key[0].startswith(MODULE):
            return None
        module = self.modules.get(node.module.name)
        if module is None:
            return None
        key = (use_key[0], f"{use_key[1]}.{module.start.name}")
        return key if key in self.nodes else None


@dataclass(frozen=True, slots=True)
class _Expansion:
    """Rewrites one module's nodes for one use of it."""

    prefix: str
    module: ir.Module
    args: dict[str, tuple[str, ir.Span]]
    exits: dict[str, ir.Ref]
    use_span: ir.Span

    def node_ref(self, ref: ir.Ref) -> ir.Ref:
        if any(node.id == ref.name for node in self.module.nodes):
            return ir.Ref(f"{self.prefix}.{ref.name}", ref.span)
        if ref.name in self.module.exits:
            return self.exits.get(ref.name, ir.Ref("", self.use_span))
        return ref

    def name_ref(self, ref: ir.Ref) -> ir.Ref:
        if ref.name.startswith("$"):
            value, span = self.args.get(ref.name[1:], ("", self.use_span))
            return ir.Ref(value, span)
        return ref

    def duration(self, duration: ir.Duration) -> ir.Duration:
        if not duration.param:
            return duration
        value, span = self.args.get(duration.param, ("", self.use_span))
        try:
            parsed = parse_duration(value)
        except ValueError:  # reported at the use (S114)
            return ir.Duration(0, ir.DurationUnit.SECONDS, span)
        return ir.Duration(parsed.amount, parsed.unit, span)

    def text(self, text: str) -> str:
        if text.startswith("$") and text[1:] in self.args:
            return self.args[text[1:]][0]
        if "${" not in text:
            return text
        return _PARAM_IN_TEXT.sub(lambda m: self.args.get(m.group(1), (m.group(0), None))[0], text)

    def rewrite(self, value: Any, name: str = "") -> Any:
        match value:
            case ir.Arg() if value.value.startswith("$") and value.value[1:] in self.args:
                # passed on whole to a module this one uses: it points where it was given
                given, span = self.args[value.value[1:]]
                return dataclasses.replace(value, value=given, span=span)
            case ir.Ref():
                return self.node_ref(value) if name in NODE_REF_FIELDS else self.name_ref(value)
            case ir.Duration():
                return self.duration(value)
            case str():
                return value if name == "id" else self.text(value)
            case tuple():
                return tuple(self.rewrite(item, name) for item in value)
            case ir.Span():
                return value
            case _ if dataclasses.is_dataclass(value) and not isinstance(value, type):
                changes = {
                    f.name: self.rewrite(getattr(value, f.name), f.name)
                    for f in dataclasses.fields(value)
                }
                return dataclasses.replace(value, **changes)
        return value


def use_arguments(module: ir.Module, use: ir.Use) -> dict[str, tuple[str, ir.Span]]:
    """The use's arguments, with the module's defaults for those it leaves out."""
    args = {arg.name: (arg.value, arg.span) for arg in use.args}
    for param in module.params:
        if param.name not in args and param.default is not None:
            args[param.name] = (param.default, param.default_span)
    return args


def _expand(
    index: Index, flow: str, use_key: NodeKey, use: ir.Use, depth: int, chain: tuple[str, ...]
) -> None:
    module = index.modules.get(use.module.name)
    if module is None or module.name in chain or depth > MAX_USE_DEPTH:
        return  # unknown module (S108) or recursion (S114): nothing to expand
    exits = {handler.outcome: handler.to for handler in use.exits}
    expansion = _Expansion(use_key[1], module, use_arguments(module, use), exits, use.span)
    for node in module.nodes:
        copy = expansion.rewrite(node)
        key = (flow, f"{use_key[1]}.{node.id}")
        if key in index.nodes:
            index.clashes[key] = use_key  # S107: the flow's own node wins, and is reported
            continue
        index.nodes[key] = copy
        index.expanded[key] = use_key
        if isinstance(copy, ir.Use):
            _expand(index, flow, key, copy, depth + 1, (*chain, module.name))


def build_index(deployment: ir.Deployment) -> Index:
    index = Index(deployment)
    for flow in deployment.flows:
        if flow.name in index.flows:
            continue
        index.flows[flow.name] = flow
        for node in flow.nodes:
            index.nodes.setdefault((flow.name, node.id), node)
    for module in deployment.modules:
        if module.name in index.modules:
            continue
        index.modules[module.name] = module
        for node in module.nodes:
            index.nodes.setdefault((MODULE + module.name, node.id), node)
    for target in deployment.targets:
        index.targets.setdefault(target.name, target)
    for contact in deployment.contacts:
        index.contacts.setdefault(contact.name, contact)
    for schedule in deployment.schedules:
        index.schedules.setdefault(schedule.name, schedule)
    for board in deployment.boards:
        index.boards.setdefault(board.name, board)
    for flow in index.flows.values():
        for node in flow.nodes:
            if isinstance(node, ir.Use):
                _expand(index, flow.name, (flow.name, node.id), node, 1, ())
    return index


def build_graph(index: Index) -> nx.MultiDiGraph[Any]:
    """The deployment as one graph: a vertex per node (keyed (flow, id)), per module exit and
    per dialed number, an edge per outcome (keyed by the outcome)."""
    graph: nx.MultiDiGraph[Any] = nx.MultiDiGraph()
    for key, node in index.nodes.items():
        graph.add_node(key, kind=node.KIND, flow=key[0], span=node.span)
    for module in index.modules.values():
        for name in module.exits:
            graph.add_node(
                (MODULE + module.name, EXIT + name),
                kind="exit",
                flow=MODULE + module.name,
                span=module.span,
            )
    for entry in index.deployment.entries:
        entry_key = (ENTRY, entry.number)
        graph.add_node(entry_key, kind="entry", flow=ENTRY, span=entry.span)
        start = index.start_of(entry.flow.name)
        if start is not None:
            graph.add_edge(entry_key, start, key="enter", label=entry.number, span=entry.span)
    for source, edge, target in index.edges():
        if target is not None:
            label = edge.label or edge.outcome
            span = edge.at()
            if source in index.expanded and index.expanded.get(target) != index.expanded[source]:
                span = edge.to.span  # leaving a use's copy: written at the use's exit mapping
            graph.add_edge(source, target, key=edge.outcome, label=label, span=span)
    return graph


def unit_reachable(index: Index, unit: str, start: str) -> set[str]:
    """Node ids of a flow or module reachable from its start without leaving it."""
    if (unit, start) not in index.nodes:
        return set()
    seen = {start}
    stack = [start]
    while stack:
        node = index.nodes[(unit, stack.pop())]
        for edge in node.edges():
            if (unit, edge.to.name) in index.nodes and edge.to.name not in seen:
                seen.add(edge.to.name)
                stack.append(edge.to.name)
    return seen
