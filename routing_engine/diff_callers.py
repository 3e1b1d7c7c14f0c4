"""Which callers a rewritten branch sends another way.

Paths are matched across versions by the choices along them, and a branch's choice is its
condition's text: rewrite `caller.state == "NY"` as `caller.state in ["NY", "NJ"]` and every
path through it looks gone in one version and new in the other, though New York callers go
where they went before. What changed is who takes which case. So for each branch whose
conditions were rewritten, both versions' conditions are evaluated for sample callers (one
number per state or province of the shipped area-code table, toll-free, international,
unknown, withheld) and the callers whose case changes are reported with where each case leads.
Conditions on the time (`open()`, `holiday()`) are evaluated at the time given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing_engine.calls import CallState, Status
from routing_engine.compile import CBranch, CompiledDeployment
from routing_engine.geography import area_codes
from routing_engine.paths import CallPath
from routing_engine.runtime import _Walk

# callers that are no state's: (what they are, a sample number)
_OTHER_CALLERS = (
    ("toll-free", "+18005550100"),
    ("international", "+442079460100"),
    ("withheld", "anonymous"),
)


@dataclass(frozen=True, slots=True)
class CallerMove:
    """Callers a rewritten branch sends down another case: which, and where each case leads."""

    node: str  # the branch, flow/node
    callers: tuple[str, ...]  # who: 'US-NJ', 'toll-free', ...
    example: str  # one of their numbers
    old_choice: str  # 'when caller.state == "NY"', or 'else'
    new_choice: str
    old_outcomes: tuple[str, ...]  # how calls through the old case can end
    new_outcomes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "callers": list(self.callers),
            "example": self.example,
            "old_choice": self.old_choice,
            "new_choice": self.new_choice,
            "old_outcomes": list(self.old_outcomes),
            "new_outcomes": list(self.new_outcomes),
        }


def sample_callers() -> list[tuple[str, str]]:
    """(who, number): one geographic number per region of the area-code table, then others."""
    regions: dict[str, str] = {}
    for code, entry in sorted(area_codes().items()):
        region = entry.get("region", "")
        if entry.get("type") == "geographic" and region:
            regions.setdefault(region, f"+1{code}5550100")
    return [*sorted(regions.items()), *_OTHER_CALLERS]


def rewritten_choices(old: CompiledDeployment, new: CompiledDeployment) -> dict[str, str]:
    """Each rewritten condition's choice in the old version -> its choice in the new (case by
    case, at branches present in both)."""
    found: dict[str, str] = {}
    for before, after in rewritten_branches(old, new):
        for (was, _), (now, _) in zip(before.cases, after.cases, strict=False):
            if was.source != now.source:
                found[f"when {was.source}"] = f"when {now.source}"
    return found


def rewritten_branches(
    old: CompiledDeployment, new: CompiledDeployment
) -> Iterator[tuple[CBranch, CBranch]]:
    """Branch nodes (module copies included) in both versions whose conditions differ."""
    for key, node in new.nodes.items():
        before = old.nodes.get(key)
        if isinstance(node, CBranch) and isinstance(before, CBranch):
            conditions = [c.source for c, _ in node.cases]
            if conditions != [c.source for c, _ in before.cases]:
                yield before, node


def _choice(compiled: CompiledDeployment, node: CBranch, caller: str, at: datetime) -> str:
    """The case a caller takes at a branch: `when CONDITION`, or `else`."""
    state = CallState(
        call_id="diff",
        caller=caller,
        dialed="",
        deployment=compiled.name,
        digest=compiled.digest,
        entry_flow=node.flow,
        flow=node.flow,
        node=node.id,
        status=Status.ACTIVE,
        seq=0,
        steps=0,
        attempt=0,
        awaiting=(),
        variables={},
        attributes={},
        started_at="",
        updated_at="",
        trace=(),
    )
    walk = _Walk(compiled, state, at, None)
    for condition, _ in node.cases:
        if condition.test(walk):
            return f"when {condition.source}"
    return "else"


def _outcomes(paths: Iterable[CallPath], node: str, choice: str) -> tuple[str, ...]:
    """How the calls that leave `node` by `choice` can end, each once."""
    found = (
        path.outcome
        for path in paths
        if any(step.node == node and step.choice == choice for step in path.steps)
    )
    return tuple(dict.fromkeys(found))


def caller_moves(
    old: CompiledDeployment,
    new: CompiledDeployment,
    old_paths: Iterable[CallPath],
    new_paths: Iterable[CallPath],
    at: datetime,
) -> tuple[CallerMove, ...]:
    """For each rewritten branch, the groups of sample callers whose case changed."""
    was, now = tuple(old_paths), tuple(new_paths)
    callers = sample_callers()
    moves: list[CallerMove] = []
    for before, after in rewritten_branches(old, new):
        groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for who, number in callers:
            old_choice = _choice(old, before, number, at)
            new_choice = _choice(new, after, number, at)
            old_to = _destination(before, old_choice)
            new_to = _destination(after, new_choice)
            if old_to != new_to:
                groups.setdefault((old_choice, new_choice), []).append((who, number))
        label = after.label
        for (old_choice, new_choice), members in groups.items():
            moves.append(
                CallerMove(
                    label,
                    tuple(who for who, _ in members),
                    members[0][1],
                    old_choice,
                    new_choice,
                    _outcomes(was, label, old_choice),
                    _outcomes(now, label, new_choice),
                )
            )
    return tuple(moves)


def _destination(node: CBranch, choice: str) -> str:
    """Where a case leads, as a node label ('' when nowhere)."""
    for condition, to in node.cases:
        if choice == f"when {condition.source}":
            return to.label
    return node.otherwise.label if node.otherwise is not None else ""


def describe_callers(move: CallerMove) -> str:
    """'callers from US-NJ (e.g. +12015550100)'; many regions are counted, not listed."""
    shown = list(move.callers[:6])
    more = len(move.callers) - len(shown)
    names = ", ".join(shown) + (f" and {more} more" if more else "")
    return f"callers from {names} (e.g. {move.example})"
