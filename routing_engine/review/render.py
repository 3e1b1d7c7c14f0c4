"""Diagrams of a deployment through Graphviz (pygraphviz): one cluster per flow and per module
use, shapes and colours by node kind, outcome labels on edges, a legend, and a path drawn bold
(a call's trace, or a scenario's).

Layout is Graphviz `dot`, which grows faster than linearly with the graph: callers outside a
request path run it directly; a server runs it in a worker process with a time limit
(`render_with_timeout`).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygraphviz as pgv  # type: ignore[import-untyped]

from routing_engine.core import ir
from routing_engine.core.analysis import ENTRY, EXIT, MODULE, Index, NodeKey

FORMATS = ("svg", "png", "dot")
FONT = "Helvetica"
HIGHLIGHT = "#d62728"


@dataclass(frozen=True, slots=True)
class Style:
    shape: str
    fill: str
    meaning: str


STYLES: dict[str, Style] = {
    "entry": Style("cds", "#dbe9f6", "a dialed number"),
    "menu": Style("tab", "#fde9c9", "menu: digits lead on"),
    "ring": Style("box", "#d5f0d5", "ring: targets, timeout"),
    "queue": Style("cylinder", "#d5f0d5", "queue: wait for an agent"),
    "branch": Style("diamond", "#efe1f7", "branch: first condition that holds"),
    "hours": Style("hexagon", "#efe1f7", "hours: open / closed / holiday"),
    "say": Style("note", "#f2f2f2", "say: an announcement"),
    "set": Style("box", "#f2f2f2", "set: call variables"),
    "ticket": Style("folder", "#ffd9d9", "ticket: onto an office board"),
    "voicemail": Style("box3d", "#ffd9d9", "voicemail: a message, then a ticket"),
    "use": Style("component", "#e8e8ff", "use: enter a module"),
    "hangup": Style("octagon", "#cccccc", "hangup: the call ends"),
}


def _detail(node: ir.Node) -> str:
    """One line saying what a node does, for its label."""
    match node:
        case ir.Menu():
            return f'"{textwrap.shorten(node.prompt, 40)}"'
        case ir.Ring():
            how = " at once" if node.strategy is ir.RingStrategy.SIMULTANEOUS else ""
            return f"{', '.join(t.name for t in node.targets)}{how}, {node.timeout}"
        case ir.Queue():
            return f"{node.queue.name}, up to {node.max_wait}"
        case ir.Hours():
            return node.schedule.name
        case ir.Say():
            return f'"{textwrap.shorten(node.text, 40)}"'
        case ir.SetVars():
            return ", ".join(f"{a.name}={a.value}" for a in node.values)
        case ir.Ticket():
            return f"board {node.board.name}" + (f", SLA {node.sla}" if node.sla else "")
        case ir.Voicemail():
            return f"board {node.board.name}"
        case ir.Use():
            return node.module.name
        case ir.Hangup():
            return node.reason
        case _:
            return ""


def _label(node_id: str, node: ir.Node) -> str:
    detail = _detail(node)
    return f"{node_id}\\n{node.KIND}: {detail}" if detail else f"{node_id}\\n{node.KIND}"


def _gid(key: NodeKey) -> str:
    return f"{key[0]}/{key[1]}"


def build(
    index: Index, flows: Iterable[str] | None = None, path: Iterable[NodeKey] = ()
) -> pgv.AGraph:
    """The diagram of the given flows (all of them by default), with `path` drawn bold."""
    wanted = set(flows) if flows is not None else set(index.flows)
    steps = list(path)
    graph = _new_graph(index)
    for flow_name in sorted(wanted):
        if flow_name in index.flows:
            _add_flow(graph, index, flow_name, set(steps))
    _add_entries(graph, index, wanted, set(steps))
    _add_edges(graph, index, wanted, set(itertools.pairwise(steps)))
    _legend(graph)
    return graph


def _new_graph(index: Index) -> pgv.AGraph:
    """An empty diagram of the deployment: left to right, with the fonts and colours of all."""
    graph = pgv.AGraph(
        directed=True,
        strict=False,
        compound=True,
        rankdir="LR",
        fontname=FONT,
        nodesep="0.3",
        ranksep="0.5",
        labelloc="t",
        label=f"deployment {index.deployment.name}",
    )
    graph.node_attr.update(fontname=FONT, fontsize="10", style="filled", margin="0.08,0.04")
    graph.edge_attr.update(fontname=FONT, fontsize="9", color="#555555", arrowsize="0.7")
    return graph


def _add_flow(graph: pgv.AGraph, index: Index, flow_name: str, highlighted: set[NodeKey]) -> None:
    """A flow's cluster and its nodes, each module use's copies in a cluster of their own."""
    cluster = graph.add_subgraph(
        name=f"cluster_{flow_name}",
        label=f"flow {flow_name}",
        style="rounded",
        color="#888888",
        fontname=FONT,
        fontsize="12",
    )
    uses: dict[NodeKey, Any] = {}
    for key, node in index.nodes.items():
        if key[0] != flow_name:
            continue
        owner = index.expanded.get(key)
        # a module's node, copied for a use: inside the use's cluster
        container = cluster if owner is None else _use_cluster(index, cluster, uses, owner)
        style = STYLES.get(node.KIND, STYLES["say"])
        bold = key in highlighted
        container.add_node(
            _gid(key),
            label=_label(key[1], node),
            shape=style.shape,
            fillcolor=style.fill,
            color=HIGHLIGHT if bold else "#444444",
            penwidth="2.5" if bold else "1",
        )


def _add_entries(
    graph: pgv.AGraph, index: Index, wanted: set[str], highlighted: set[NodeKey]
) -> None:
    """A node per dialed number into a drawn flow, with an edge to the flow's start."""
    for entry in index.deployment.entries:
        start = index.start_of(entry.flow.name)
        if start is None or start[0] not in wanted:
            continue
        key = (ENTRY, entry.number)
        style = STYLES["entry"]
        bold = key in highlighted
        graph.add_node(
            _gid(key),
            label=entry.number,
            shape=style.shape,
            fillcolor=style.fill,
            color=HIGHLIGHT if bold else "#444444",
        )
        graph.add_edge(_gid(key), _gid(start), color=HIGHLIGHT if bold else "#555555")


def _add_edges(
    graph: pgv.AGraph, index: Index, wanted: set[str], taken: set[tuple[NodeKey, NodeKey]]
) -> None:
    """The edges out of drawn nodes, labelled by outcome; an edge into a flow not drawn ends at
    a stub naming it."""
    for source, edge, target in index.edges():
        if (
            target is None
            or source[0] not in wanted
            or target[0].startswith(MODULE)
            or target[1].startswith(EXIT)
        ):
            continue
        if not graph.has_node(_gid(source)):
            continue
        if not graph.has_node(_gid(target)):  # into another flow not drawn: a stub node
            graph.add_node(_gid(target), label=f"flow {target[0]}", shape="plaintext", style="")
        bold = (source, target) in taken
        label = textwrap.shorten(edge.label or edge.outcome, 40)
        graph.add_edge(
            _gid(source),
            _gid(target),
            key=edge.outcome,
            label=label,
            color=HIGHLIGHT if bold else "#555555",
            penwidth="2.5" if bold else "1",
            fontcolor=HIGHLIGHT if bold else "#333333",
        )


def _use_cluster(index: Index, flow_cluster: Any, uses: dict[NodeKey, Any], use: NodeKey) -> Any:
    """The dashed cluster of a module use's copies, made on first need. A use inside a module
    (itself a copy) gets its cluster inside the cluster of the use that copied it."""
    found = uses.get(use)
    if found is not None:
        return found
    outer = index.expanded.get(use)
    parent = flow_cluster if outer is None else _use_cluster(index, flow_cluster, uses, outer)
    use_node = index.nodes[use]
    module = use_node.module.name if isinstance(use_node, ir.Use) else "module"
    uses[use] = parent.add_subgraph(
        name=f"cluster_{use[0]}_{use[1]}",
        label=f"{use[1]}: module {module}",
        style="dashed",
        color="#9999cc",
        fontname=FONT,
    )
    return uses[use]


def _legend(graph: pgv.AGraph) -> None:
    """One node per kind, in a cluster of its own."""
    legend = graph.add_subgraph(
        name="cluster_legend",
        label="legend",
        style="rounded",
        color="#bbbbbb",
        fontname=FONT,
        fontsize="11",
        rank="sink",
    )
    previous = None
    for kind, style in STYLES.items():
        name = f"legend/{kind}"
        legend.add_node(
            name, label=style.meaning, shape=style.shape, fillcolor=style.fill, fontsize="9"
        )
        if previous is not None:
            legend.add_edge(previous, name, style="invis")
        previous = name


def path_from_trace(index: Index, trace: Iterable[str]) -> list[NodeKey]:
    """The nodes a call went through, read from its trace (`... -> flow/node`)."""
    keys: list[NodeKey] = []
    for line in trace:
        if line.startswith("entry "):
            number = line.split()[1]
            keys.append((ENTRY, number))
        if " -> " in line:
            target = line.rsplit(" -> ", 1)[1]
            flow, _, node = target.partition("/")
            if (flow, node) in index.nodes:
                keys.append((flow, node))
    return keys


def render(graph: pgv.AGraph, fmt: str) -> bytes:
    """Lay the graph out and draw it: SVG, PNG or DOT."""
    if fmt == "dot":
        return str(graph.string()).encode("utf-8")
    graph.layout(prog="dot")
    return bytes(graph.draw(format=fmt))


def _render_in_child(dot: str, fmt: str, queue: Any) -> None:
    queue.put(render(pgv.AGraph(string=dot), fmt))


def render_with_timeout(graph: pgv.AGraph, fmt: str, seconds: float) -> bytes:
    """Render in a worker process, killed after `seconds` (dot can take minutes on big maps)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(
        target=_render_in_child, args=(graph.string(), fmt, queue), daemon=True
    )
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        worker.kill()
        worker.join()
        raise TimeoutError(f"the diagram took longer than {seconds:g}s; draw one flow at a time")
    data = queue.get(timeout=5)
    return bytes(data)


def stamped_svg(graph: pgv.AGraph) -> bytes:
    """An SVG that records the hash of the DOT source it was drawn from, so a test can tell a
    stale diagram without comparing pixels (fonts differ between machines; the source does
    not)."""
    source = str(graph.string())
    svg = render(graph, "svg").decode("utf-8")
    stamp = f"<!-- routing-engine diagram source sha256: {source_hash(source)} -->\n"
    head, _, rest = svg.partition("\n")
    return (head + "\n" + stamp + rest).encode("utf-8")


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def stamp_of(svg: bytes) -> str | None:
    """The source hash recorded in a stamped SVG, if any."""
    match = re.search(rb"diagram source sha256: ([0-9a-f]{64})", svg)
    return match.group(1).decode() if match else None


def main(argv: list[str]) -> int:
    """`python -m routing_engine.review.render DEPLOYMENT OUT.svg`: the deployment's stamped
    diagram."""
    from routing_engine.api import load_deployment
    from routing_engine.core.analysis import build_index

    deployment, out = argv[1], argv[2]
    graph = build(build_index(load_deployment(deployment).compiled.deployment))
    Path(out).write_bytes(stamped_svg(graph))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
