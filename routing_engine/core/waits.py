"""The worst case of waiting: how long a caller can ring, queue and listen, unanswered, before a
person answers, for each dialed number and each flow, worked out from the process map's bounds.

What a node costs a caller: a ring node its timeout, times the number of its own targets when
they are rung one by one; a queue its `max_wait`; a menu its prompt and digit timeout, played
`retries + 1` times; a `say` its text and a voicemail its prompt, read at `WORDS_PER_SECOND`.
The wait goes on along every way out but the ones taken once someone answered (a ring's or
queue's `answered`, and the outcomes the answering party reports).

Along the map without loops the worst case is the longest path, exactly. A loop (a strongly
connected part of the map) is bounded by its bounds: a call enters each of its bounded nodes at
most `attempts` times, and between two such entries it passes through the loop's other nodes at
most once each (they form no loop of their own), so its time in the loop is at most the sum of
the loop's attempts (plus one when the call can come into the loop at a node without a bound)
times its longest such pass: a safe upper bound. A loop
without a bound (G203) waits without end: `math.inf`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from routing_engine.core import ir
from routing_engine.core.analysis import ENTRY, NodeKey
from routing_engine.core.context import Context

WORDS_PER_SECOND = 2.5  # a prompt is read at 150 words a minute
ANSWERED = "answered"


def prompt_seconds(text: str) -> float:
    """How long a prompt takes to play, estimated from its words."""
    return len(text.split()) / WORDS_PER_SECOND


def node_seconds(node: ir.Node, cadence: float) -> float:
    """The longest a caller spends at this node, unanswered, each time the call enters it."""
    match node:
        case ir.Ring():
            count = len(node.targets) if node.strategy is ir.RingStrategy.SEQUENTIAL else 1
            return node.timeout.seconds(cadence) * count
        case ir.Queue():
            return node.max_wait.seconds(cadence)
        case ir.Menu():
            each = node.timeout.seconds(cadence) + prompt_seconds(node.prompt)
            return each * (node.retries + 1)
        case ir.Say():
            return prompt_seconds(node.text)
        case ir.Voicemail():
            return prompt_seconds(node.prompt)
    return 0.0


def _answered(node: ir.Node | None) -> frozenset[str]:
    """The outcomes of a node that mean a person has the call: the wait ends there."""
    if isinstance(node, (ir.Ring, ir.Queue)):
        return frozenset({ANSWERED, *node.reports})
    return frozenset()


@dataclass(frozen=True, slots=True)
class Step:
    """One node (or one loop, at its first ring or queue) of a worst way, and the time spent
    waiting from the way's start to the end of it."""

    key: NodeKey
    seconds: float
    loop: bool = False


@dataclass(frozen=True, slots=True)
class Wait:
    """The worst wait from one node on: its total (`math.inf` without a bound) and its way."""

    seconds: float
    steps: tuple[Step, ...]


class Waits:
    """Every node's worst wait, worked out once over the map's strongly connected parts."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.cadence = ctx.deployment.ring_cadence.seconds(6.0)
        self.graph = self._graph()
        self.parts = nx.condensation(self.graph)
        self.part_of: dict[NodeKey, int] = self.parts.graph["mapping"]
        self.total: dict[int, float] = {}
        self.inside: dict[int, float] = {}
        self.onward: dict[int, NodeKey | None] = {}
        for part in reversed(list(nx.topological_sort(self.parts))):
            self._work_out(part)

    def _graph(self) -> nx.DiGraph[NodeKey]:
        graph: nx.DiGraph[NodeKey] = nx.DiGraph()
        for key in self.ctx.graph.nodes:
            node = self.ctx.index.nodes.get(key)
            graph.add_node(key, seconds=0.0 if node is None else node_seconds(node, self.cadence))
        for source, target, outcome in self.ctx.graph.edges(keys=True):
            if outcome in _answered(self.ctx.index.nodes.get(source)):
                continue
            if graph.has_edge(source, target):
                graph.edges[source, target]["outcomes"].add(outcome)
            else:
                graph.add_edge(source, target, outcomes={outcome})
        return graph

    def _work_out(self, part: int) -> None:
        members: set[NodeKey] = self.parts.nodes[part]["members"]
        first = next(iter(members))
        if len(members) == 1 and not self.graph.has_edge(first, first):
            inside = float(self.graph.nodes[first]["seconds"])
        else:
            inside = self._loop(members)
        onward: NodeKey | None = None
        best = 0.0
        for member in sorted(members):
            for target in self.graph.successors(member):
                later = self.part_of[target]
                if later != part and (onward is None or self.total[later] > best):
                    onward, best = target, self.total[later]
        self.inside[part], self.onward[part] = inside, onward
        self.total[part] = inside + best

    def _loop(self, members: set[NodeKey]) -> float:
        """A bound on the time spent in a loop: (1 + its attempts) times its longest pass."""
        bounds = {key: _attempts(self.ctx.index.nodes.get(key)) for key in members}
        passes: nx.DiGraph[NodeKey] = nx.DiGraph()  # moves no bound counts
        passes.add_nodes_from(members)
        for source, target, data in self.graph.subgraph(members).edges(data=True):
            if not bounds[source] or ir.EXHAUSTED in data["outcomes"]:
                passes.add_edge(source, target)
        if not nx.is_directed_acyclic_graph(passes):
            return math.inf
        longest: dict[NodeKey, float] = {}
        for key in reversed(list(nx.topological_sort(passes))):
            own = 0.0 if bounds[key] else float(self.graph.nodes[key]["seconds"])
            longest[key] = own + max((longest[t] for t in passes.successors(key)), default=0.0)
        widest = max(longest.values(), default=0.0)
        for key, attempts in bounds.items():
            if attempts:
                after = (longest[t] for t in self.graph.successors(key) if t in members)
                widest = max(widest, self.graph.nodes[key]["seconds"] + max(after, default=0.0))
        # a pass starts at each entry into a bounded node, and once more when the call comes
        # into the loop at a node without a bound
        into = {t for s, t in self.graph.in_edges(members) if s not in members}
        unbounded_start = any(not bounds[key] for key in into) or not into
        return (unbounded_start + sum(bounds.values())) * widest

    def of(self, key: NodeKey) -> Wait:
        """The worst wait from node `key` on, with its way."""
        steps: list[Step] = []
        spent = 0.0
        here: NodeKey | None = key
        while here is not None:
            part = self.part_of[here]
            members = self.parts.nodes[part]["members"]
            spent += self.inside[part]
            loop = len(members) > 1 or self.graph.has_edge(here, here)
            steps.append(Step(self._shown(here, members) if loop else here, spent, loop))
            here = self.onward[part]
        return Wait(self.total[self.part_of[key]], tuple(steps))

    def _shown(self, entered: NodeKey, members: set[NodeKey]) -> NodeKey:
        """Where a loop's wait is shown: its first ring or queue (from where the call comes
        in), else its first menu, else where the call comes in."""
        order = [entered, *sorted(members - {entered})]
        for kinds in ((ir.Ring, ir.Queue), (ir.Menu,)):
            for key in order:
                if isinstance(self.ctx.index.nodes.get(key), kinds):
                    return key
        return entered

    def entries(self) -> Iterator[tuple[ir.Entry, Wait]]:
        """Each dialed number's worst wait, in the deployment's order."""
        for entry in self.ctx.deployment.entries:
            key = (ENTRY, entry.number)
            if key in self.part_of and self.ctx.index.start_of(entry.flow.name) is not None:
                yield entry, self.of(key)

    def flows(self) -> Iterator[tuple[str, Wait]]:
        """Each flow's worst wait, from its start."""
        for name, flow in self.ctx.index.flows.items():
            start = (name, flow.start.name)
            if start in self.part_of:
                yield name, self.of(start)


def _attempts(node: ir.Node | None) -> int:
    if isinstance(node, (ir.Menu, ir.Ring, ir.Queue)) and node.bound is not None:
        return node.bound.attempts
    return 0


def say_seconds(seconds: float) -> str:
    """`66.0` -> `1m 6s`; `math.inf` -> `without end`."""
    if math.isinf(seconds):
        return "without end"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def to_json(wait: Wait) -> dict[str, Any]:
    """A wait as `paths --format json` gives it: seconds (null without end) and its way."""
    return {
        "seconds": None if math.isinf(wait.seconds) else round(wait.seconds, 1),
        "text": say_seconds(wait.seconds),
        "way": [
            {"flow": s.key[0], "node": s.key[1], "seconds": round(s.seconds, 1), "loop": s.loop}
            for s in wait.steps
            if s.key[0] != ENTRY
        ],
    }
