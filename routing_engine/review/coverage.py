"""Node and edge coverage: which parts of a deployment's flows some call went through.

A call's trace says every move it made (`WHY -> flow/node`, written by core/visits.py); each
move is matched to the edge of the map it took: the dialed number into its flow, a menu digit, a
branch case, an hours state, a ring outcome... Module templates are not counted (their copies in
the flows are), so a module used twice must be exercised through both uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from routing_engine.core.analysis import ENTRY, EXIT, MODULE, Index, NodeKey
from routing_engine.core.ir import Span

_CASE = re.compile(r"\(case (\d+)\)$")
_IN_PARENS = re.compile(r"\(([a-z-]+)\)(?::.*)?$")
HOURS_STATES = ("open", "closed", "holiday")
# outcomes a node without its own link for them sends where another outcome's link goes
IMPLIED = {"holiday": "closed", "busy": "no-answer", "failed": "no-answer"}


@dataclass(frozen=True, slots=True)
class EdgeRef:
    """One edge of the map: from `source`, on `outcome`, to `target`."""

    source: NodeKey
    outcome: str
    target: NodeKey
    label: str
    span: Span

    def describe(self) -> str:
        label = f" ({self.label})" if self.label and self.label != self.outcome else ""
        return f"{_name(self.source)} --{self.outcome}{label}--> {_name(self.target)}"


def _name(key: NodeKey) -> str:
    return key[1] if key[0] == ENTRY else f"{key[0]}/{key[1]}"


def map_nodes(index: Index) -> list[NodeKey]:
    """Every node of the deployment's flows, module copies included, templates not."""
    return [key for key in index.nodes if not key[0].startswith(MODULE)]


def map_edges(index: Index) -> list[EdgeRef]:
    """Every edge of the deployment's flows: each dialed number into its flow, then each way
    out of each node that leads to a node."""
    edges: list[EdgeRef] = []
    for entry in index.deployment.entries:
        start = index.start_of(entry.flow.name)
        if start is not None:
            edges.append(EdgeRef((ENTRY, entry.number), "entry", start, "", entry.span))
    for source, edge, target in index.edges():
        if (
            target is None
            or source[0].startswith(MODULE)
            or target[0].startswith(MODULE)
            or target[1].startswith(EXIT)
        ):
            continue
        where = edge.to.span if edge.to.span.line else index.nodes[source].span
        edges.append(EdgeRef(source, edge.outcome, target, edge.label, where))
    return edges


def trace_moves(trace: Iterable[str]) -> list[tuple[NodeKey, str, NodeKey]]:
    """The moves a trace records: (from, outcome as the runtime said it, to)."""
    moves: list[tuple[NodeKey, str, NodeKey]] = []
    here: NodeKey | None = None
    for line in trace:
        if " -> " not in line:
            continue
        why, label = line.rsplit(" -> ", 1)
        flow, _, node = label.partition("/")
        there = (flow, node)
        if why.startswith("entry "):
            moves.append(((ENTRY, why.split()[1]), "entry", there))
        elif here is not None:
            moves.append((here, move_outcome(why), there))
        here = there
    return moves


def move_outcome(why: str) -> str:
    """The outcome named by the reason of a move (`branch check: when ... (case 2)` -> case:2)."""
    head, _, rest = why.partition(": ")
    kind = head.split(" ", 1)[0]
    if rest.startswith("outcome "):
        return rest.removeprefix("outcome ")
    match kind:
        case "use":
            return "enter"
        case "branch":
            case = _CASE.search(rest)
            return f"case:{case.group(1)}" if case else "else"
        case "menu":
            digits = rest.removeprefix("digit ")
            return f"digit:{digits}" if digits != rest else "fallback"
        case "hours":
            words = rest.split()
            return words[1] if len(words) > 1 and words[1] in HOURS_STATES else "closed"
        case "ring" | "queue":
            named = _IN_PARENS.search(rest)
            return named.group(1) if named else rest.split()[0]
    return "next"


def _where(span: Span | None) -> dict[str, object]:
    if span is None:
        return {"file": "", "line": 0, "column": 0}
    return {"file": span.file, "line": span.line, "column": span.column}


@dataclass(frozen=True, slots=True)
class Coverage:
    nodes: tuple[NodeKey, ...]
    edges: tuple[EdgeRef, ...]
    nodes_hit: frozenset[NodeKey]
    edges_hit: frozenset[EdgeRef]
    spans: dict[NodeKey, Span]  # where each node is written

    @property
    def missed_nodes(self) -> list[NodeKey]:
        return [key for key in self.nodes if key not in self.nodes_hit]

    @property
    def missed_edges(self) -> list[EdgeRef]:
        return [edge for edge in self.edges if edge not in self.edges_hit]

    @staticmethod
    def percent(hit: int, total: int) -> float:
        """Rounded down to a tenth, so anything short of all reads under 100."""
        return 100.0 if total == 0 else math.floor(1000 * hit / total) / 10

    @property
    def node_percent(self) -> float:
        return self.percent(len(self.nodes_hit), len(self.nodes))

    @property
    def edge_percent(self) -> float:
        return self.percent(len(self.edges_hit), len(self.edges))

    @property
    def edge_ratio(self) -> float:
        """Edges covered over edges, unrounded (1.0 when there are none)."""
        return 1.0 if not self.edges else len(self.edges_hit) / len(self.edges)

    def to_json(self) -> dict[str, object]:
        return {
            "nodes": {
                "total": len(self.nodes),
                "covered": len(self.nodes_hit),
                "percent": self.node_percent,
                "missed": [
                    {"node": _name(key), **_where(self.spans.get(key))} for key in self.missed_nodes
                ],
            },
            "edges": {
                "total": len(self.edges),
                "covered": len(self.edges_hit),
                "percent": self.edge_percent,
                "missed": [
                    {
                        "from": _name(e.source),
                        "outcome": e.outcome,
                        "label": e.label,
                        "to": _name(e.target),
                        **_where(e.span),
                    }
                    for e in self.missed_edges
                ],
            },
        }


def measure(index: Index, traces: Iterable[Iterable[str]]) -> Coverage:
    """The coverage of the deployment's map by these calls' traces."""
    nodes = map_nodes(index)
    edges = map_edges(index)
    known_nodes = set(nodes)
    by_source: dict[NodeKey, list[EdgeRef]] = {}
    for edge in edges:
        by_source.setdefault(edge.source, []).append(edge)
    nodes_hit: set[NodeKey] = set()
    edges_hit: set[EdgeRef] = set()
    entry_of = _entry_matcher(index)
    for trace in traces:
        for source, outcome, target in trace_moves(trace):
            if source[0] == ENTRY:
                source = (ENTRY, entry_of(source[1]))
            if target in known_nodes:
                nodes_hit.add(target)
            taken = _match(by_source.get(source, []), outcome, target)
            if taken is not None:
                edges_hit.add(taken)
    spans = {key: index.nodes[key].span for key in nodes}
    return Coverage(tuple(nodes), tuple(edges), frozenset(nodes_hit), frozenset(edges_hit), spans)


def _entry_matcher(index: Index) -> Callable[[str], str]:
    """Dialed number -> the entry that takes it, as the compiler matches: the exact number,
    else the longest prefix (`+1666*`)."""
    exact = {e.number for e in index.deployment.entries if not e.is_prefix}
    prefixes = sorted(
        (e.number for e in index.deployment.entries if e.is_prefix), key=len, reverse=True
    )

    def entry_of(dialed: str) -> str:
        if dialed in exact:
            return dialed
        return next((p for p in prefixes if dialed.startswith(p[:-1])), dialed)

    return entry_of


def _match(candidates: list[EdgeRef], outcome: str, target: NodeKey) -> EdgeRef | None:
    """The edge a move took: the one with its outcome and target; else (an outcome the map
    leaves to another's handler, such as busy taking no-answer's, or a holiday taking closed's)
    the first to that target."""
    to_target = [edge for edge in candidates if edge.target == target]
    for wanted in (outcome, IMPLIED.get(outcome)):
        for edge in to_target:
            if edge.outcome == wanted:
                return edge
    return to_target[0] if to_target else None
