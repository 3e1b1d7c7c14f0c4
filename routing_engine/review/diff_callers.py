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

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing_engine.core.calls import NewCall
from routing_engine.core.compile import CBranch, CompiledDeployment
from routing_engine.core.geography import area_codes
from routing_engine.core.runtime import branch_case
from routing_engine.review.paths import CallPath

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
    dialed: tuple[str, ...] = ()  # the numbers whose calls move; () when calls to any number
    every_caller: bool = False  # every sample caller moves (the condition is about the number)

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "callers": list(self.callers),
            "example": self.example,
            "old_choice": self.old_choice,
            "new_choice": self.new_choice,
            "old_outcomes": list(self.old_outcomes),
            "new_outcomes": list(self.new_outcomes),
            "dialed": list(self.dialed),
            "every_caller": self.every_caller,
        }


def sample_callers() -> list[tuple[str, str]]:
    """(who, number): one geographic number per region of the area-code table, then others."""
    regions: dict[str, str] = {}
    for code, entry in sorted(area_codes().items()):
        region = entry.get("region", "")
        if entry.get("type") == "geographic" and region:
            regions.setdefault(region, f"+1{code}5550100")
    return [*sorted(regions.items()), *_OTHER_CALLERS]


def rewritten_choices(
    old: CompiledDeployment, new: CompiledDeployment
) -> dict[tuple[str, str], str]:
    """(branch, old choice) -> new choice, for each rewritten case of a branch present in both
    versions. A case whose text both versions have is itself; the others pair up by where they
    lead, then in order (a case inserted before others does not shift their pairing)."""
    found: dict[tuple[str, str], str] = {}
    for before, after in rewritten_branches(old, new):
        kept = {c.source for c, _ in before.cases} & {c.source for c, _ in after.cases}
        gone = [(c.source, to.id) for c, to in before.cases if c.source not in kept]
        came = [(c.source, to.id) for c, to in after.cases if c.source not in kept]
        pairs: list[tuple[str, str]] = []
        for source, to in list(gone):
            partner = next((item for item in came if item[1] == to), None)
            if partner is not None:
                pairs.append((source, partner[0]))
                gone.remove((source, to))
                came.remove(partner)
        pairs.extend((was[0], now[0]) for was, now in zip(gone, came, strict=False))
        for was_source, now_source in pairs:
            found[(after.label, f"when {was_source}")] = f"when {now_source}"
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


def _choice(
    compiled: CompiledDeployment, node: CBranch, caller: str, dialed: str, at: datetime
) -> str:
    """The case a call takes at a branch: `when CONDITION`, or `else`."""
    case = branch_case(compiled, node, NewCall("diff", caller, dialed, at))
    return "else" if case is None else f"when {node.cases[case][0].source}"


def _outcomes(paths: Iterable[CallPath], node: str, choice: str) -> tuple[str, ...]:
    """How the calls that leave `node` by `choice` can end, each once."""
    found = (
        path.outcome
        for path in paths
        if any(step.node == node and step.choice == choice for step in path.steps)
    )
    return tuple(dict.fromkeys(found))


# what a condition may read that neither the caller's number nor the dialed number says
_UNKNOWABLE = re.compile(r"\b(vars|attributes)\.|\b(open|holiday|available)\s*\(")


def unsure_branches(old: CompiledDeployment, new: CompiledDeployment) -> tuple[str, ...]:
    """Rewritten branches whose conditions read call variables, call attributes, the time or
    live availability: which calls they move cannot be told from caller and dialed number."""
    found = []
    for before, after in rewritten_branches(old, new):
        sources = [c.source for c, _ in (*before.cases, *after.cases)]
        if any(_UNKNOWABLE.search(source) for source in sources):
            found.append(after.label)
    return tuple(found)


def caller_moves(
    old: CompiledDeployment,
    new: CompiledDeployment,
    old_paths: Iterable[CallPath],
    new_paths: Iterable[CallPath],
    at: datetime,
) -> tuple[CallerMove, ...]:
    """For each rewritten branch, the groups of sample calls (caller, and each dialed number of
    the new version) whose case changed."""
    was, now = tuple(old_paths), tuple(new_paths)
    callers = sample_callers()
    # each exact number, and a number in each prefix (`+1666*` -> +16660)
    numbers = [*new.entries, *(prefix + "0" for prefix, _, _ in new.prefixes)] or [""]
    moves: list[CallerMove] = []
    for before, after in rewritten_branches(old, new):
        groups: dict[tuple[str, str], dict[str, list[tuple[str, str]]]] = {}
        for dialed in numbers:
            for who, number in callers:
                old_choice = _choice(old, before, number, dialed, at)
                new_choice = _choice(new, after, number, dialed, at)
                if _destination(before, old_choice) != _destination(after, new_choice):
                    group = groups.setdefault((old_choice, new_choice), {})
                    group.setdefault(dialed, []).append((who, number))
        for (old_choice, new_choice), by_number in groups.items():
            members = list(dict.fromkeys(m for found in by_number.values() for m in found))
            every_number = len(by_number) == len(numbers)
            moves.append(
                CallerMove(
                    after.label,
                    tuple(who for who, _ in members),
                    members[0][1],
                    old_choice,
                    new_choice,
                    _outcomes(was, after.label, old_choice),
                    _outcomes(now, after.label, new_choice),
                    () if every_number else tuple(by_number),
                    len(members) == len(callers),
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
    """'calls from US-NJ (e.g. +12015550100)', 'calls to +12125550101'; many regions are
    counted, not listed."""
    to = f" to {', '.join(move.dialed)}" if move.dialed else ""
    if move.every_caller:
        return f"calls{to} from any caller"
    shown = list(move.callers[:6])
    more = len(move.callers) - len(shown)
    names = ", ".join(shown) + (f" and {more} more" if more else "")
    return f"calls{to} from {names} (e.g. {move.example})"
