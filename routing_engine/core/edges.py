"""The ways out of a node: an edge (an outcome and where it leads, where it is written) and a
node's bound (`attempts` and `exhausted`), whose edge every loop must pass (G203)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from routing_engine.core.spans import NOWHERE, Ref, Span


@dataclass(frozen=True, slots=True)
class Edge:
    """One way out of a node: the outcome that takes it and where it leads."""

    outcome: str
    to: Ref
    label: str = ""
    span: Span = field(default=NOWHERE, compare=False)  # its handler's, option's or case's line

    def at(self) -> Span:
        """Where the edge is written: its own line, else the name it leads to (`next`)."""
        return self.to.span if self.span == NOWHERE else self.span


@dataclass(frozen=True, slots=True)
class Bound:
    """`attempts: N` and `exhausted: NODE` on a menu, ring or queue: the call enters the node at
    most N times, and once more goes to `exhausted`. Every loop needs one (G203)."""

    attempts: int
    exhausted: Ref
    span: Span = field(default=NOWHERE, compare=False)  # of `attempts`


EXHAUSTED = "exhausted"  # the outcome, and the edge, of a bound used up
BOUNDED_KINDS = frozenset({"menu", "ring", "queue"})  # the kinds that may carry a bound


def exhausted_edges(bound: Bound | None) -> Iterator[Edge]:
    """The `exhausted` edge of a node with a bound; none without."""
    if bound is not None:
        yield Edge(EXHAUSTED, bound.exhausted, f"after {bound.attempts} attempts", bound.span)
