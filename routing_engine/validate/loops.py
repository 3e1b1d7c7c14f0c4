"""G203: loops. Every loop of the process map must pass through a bound the engine counts (a
menu's, ring's or queue's `attempts`), must wait for something, and must have a way out."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from routing_engine.core import ir
from routing_engine.core.analysis import ENTRY, IMMEDIATE_KINDS, NodeKey, can_end
from routing_engine.core.context import Context
from routing_engine.validate.registry import Finding, rule

Component = set[NodeKey]


@rule("G203", "endless-loop")
def endless_loops(ctx: Context) -> Iterator[Finding]:
    """A loop the call could go round without end: one with no bound, one that never waits,
    or one it can never leave.

    Every loop (within a flow, across flows, through a module's exits) must pass through a
    menu, ring or queue node that carries `attempts: N` and `exhausted: NODE`: the call enters
    that node at most N times, and on entering it once more goes to `exhausted` instead. A loop
    without such a node is reported at the line that closes it (the handler, option or `next`
    that points back, found depth first from the flow's start), naming every node of the loop;
    a loop inside a module is reported in the module's file. A bound's own `exhausted` edge
    does not bound a loop it closes. Two shapes are reported as such: a cycle of nodes that
    decide at once (say, set, branch, ticket), which would spin within a single decision until
    the loop guard stops it; and a cycle from which no way leads to an end (a hangup, a
    connected call, a recorded voicemail).
    Example: a ring node whose `no-answer` (or `busy`) goes back to an earlier ring node, or a
    menu whose option plays a `say` that goes back to the menu. Bound it with `attempts: 3` and
    `exhausted: voicemail` on the ring node or the menu.
    """
    reported: Component = set()
    yield from _never_waits(ctx, reported)
    yield from _no_way_out(ctx, reported)
    yield from _unbounded(ctx, reported)


def _never_waits(ctx: Context, reported: Component) -> Iterator[Finding]:
    graph = ctx.graph
    immediate = graph.subgraph(
        n for n, data in graph.nodes(data=True) if data["kind"] in IMMEDIATE_KINDS
    )
    for component in nx.strongly_connected_components(immediate):
        first = min(component, key=lambda k: (k[0], _order(ctx, k)))
        if _a_module_copy(ctx, component):
            continue  # reported on the module's own nodes, in its file
        if len(component) > 1 or immediate.has_edge(first, first):
            reported |= component
            yield Finding(
                f"{_nodes(ctx, component)} never waits for the caller: an endless loop",
                ctx.index.nodes[first].span,
                "put a menu, ring or queue in the loop, or give it a way out",
            )


def _no_way_out(ctx: Context, reported: Component) -> Iterator[Finding]:
    graph = ctx.graph
    can_finish = {key for key, node in ctx.index.nodes.items() if can_end(node)}
    can_finish |= {key for key, data in graph.nodes(data=True) if data["kind"] == "exit"}
    stack = list(can_finish)
    while stack:  # everything that leads to an end can finish too
        for before in graph.predecessors(stack.pop()):
            if before not in can_finish:
                can_finish.add(before)
                stack.append(before)
    for component in nx.strongly_connected_components(graph):
        first = min(component, key=lambda k: (k[0], _order(ctx, k)))
        if first[0] == ENTRY or first in can_finish or component & reported:
            continue  # a loop already reported as never waiting is not reported twice
        if _a_module_copy(ctx, component):
            continue
        if len(component) > 1 or graph.has_edge(first, first):
            reported |= component
            yield Finding(
                f"{_nodes(ctx, component)} has no way out: no path from it ends the call",
                ctx.index.nodes[first].span,
                "give one of them a way to a hangup, a person or voicemail",
            )


def unbounded_graph(ctx: Context) -> nx.DiGraph[NodeKey]:
    """The graph of moves no bound counts: every edge, except that a bounded node keeps only
    its `exhausted` edge (its other ways out are taken at most `attempts` times). Each edge
    keeps the span of the line that writes it."""
    bounded = {key for key, node in ctx.index.nodes.items() if _bound(node) is not None}
    graph: nx.DiGraph[NodeKey] = nx.DiGraph()
    for source, target, outcome, data in ctx.graph.edges(keys=True, data=True):
        if source in bounded and outcome != ir.EXHAUSTED:
            continue
        if not graph.has_edge(source, target):
            graph.add_edge(source, target, span=data.get("span", ir.NOWHERE))
    return graph


def _unbounded(ctx: Context, reported: Component) -> Iterator[Finding]:
    graph = unbounded_graph(ctx)
    order = _depth_first_order(ctx)
    for component in nx.strongly_connected_components(graph):
        if component & reported or _a_module_copy(ctx, component):
            continue  # reported as its shape, or on the module's own nodes
        root = min(component, key=lambda k: order.get(k, len(order)))
        if len(component) == 1 and not graph.has_edge(root, root):
            continue
        reported |= component
        span = _closing_edge(graph, component, root)
        yield Finding(
            f"{_nodes(ctx, component)} has no bound: a call may go round it without end",
            span,
            *_hints(ctx, component, order),
        )


def _closing_edge(graph: nx.DiGraph[NodeKey], component: Component, root: NodeKey) -> ir.Span:
    """The span of the first edge, depth first from `root` within the loop, that points back
    at a node on the way to it: the line that closes the loop."""
    on_path = [root]
    ways: list[Iterator[NodeKey]] = [iter(graph.successors(root))]
    while ways:
        step = next(ways[-1], None)
        if step is None:
            ways.pop()
            on_path.pop()
            continue
        if step not in component:
            continue
        if step in on_path:
            span: ir.Span = graph.edges[on_path[-1], step]["span"]
            return span
        on_path.append(step)
        ways.append(iter(graph.successors(step)))
    return ir.NOWHERE  # pragma: no cover - a strongly connected part always closes


def _hints(ctx: Context, component: Component, order: dict[NodeKey, int]) -> tuple[str, str]:
    """How to bound the loop, in YAML and in the DSL: on its first menu, ring or queue that
    has no bound yet."""
    for key in sorted(component, key=lambda k: order.get(k, len(order))):
        node = ctx.index.nodes.get(key)
        if node is not None and node.KIND in ir.BOUNDED_KINDS and _bound(node) is None:
            return (
                f"add 'attempts: 3' and 'exhausted: <node>' to '{node.id}', where <node> is "
                "outside the loop",
                f"add a line 'attempts 3 -> <node>' under '{node.id}', where <node> is outside "
                "the loop",
            )
    return (
        "put a menu, ring or queue with 'attempts' and 'exhausted' in the loop, and point "
        "'exhausted' out of it",
        "put a menu, ring or queue with a line 'attempts 3 -> <node>' in the loop, <node> "
        "outside it",
    )


def _bound(node: ir.Node) -> ir.Bound | None:
    return node.bound if isinstance(node, (ir.Menu, ir.Ring, ir.Queue)) else None


def _a_module_copy(ctx: Context, component: Component) -> bool:
    """True when the loop lies within one use's copy of a module: the module's own nodes have
    it too, and it is reported there, in the module's file."""
    uses = {ctx.index.expanded.get(key) for key in component}
    return len(uses) == 1 and None not in uses


def _depth_first_order(ctx: Context) -> dict[NodeKey, int]:
    """Every node's place in a depth-first walk from each flow's start, then each module's."""
    order: dict[NodeKey, int] = {}
    for name, unit in ctx.index.units():
        start = (name, unit.start.name)
        if start in ctx.graph:
            for key in nx.dfs_preorder_nodes(ctx.graph, start):
                order.setdefault(key, len(order))
    return order


def _nodes(ctx: Context, component: Component) -> str:
    names = sorted(ctx.index.nodes[key].id for key in component if key in ctx.index.nodes)
    if len(names) == 1:
        return f"the loop of node '{names[0]}' to itself"
    return "the loop of nodes " + ", ".join(f"'{n}'" for n in names)


def _order(ctx: Context, key: tuple[str, str]) -> int:
    unit = ctx.index.unit(key[0])
    if unit is None:
        return 0
    for i, node in enumerate(unit.nodes):
        if node.id == key[1]:
            return i
    return 0
