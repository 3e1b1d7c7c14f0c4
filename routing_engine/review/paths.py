"""Paths through a deployment: every way a call can go, for review and for diffs.

`enumerate_paths` walks the compiled links symbolically, with no clock and no caller: every
branch case, every hours state with a link of its own, every menu digit and the menu's
fallback, every ring or queue outcome that leads somewhere distinct, and every outcome an
answering party reports is a fork. A path's outcome names targets, boards and reasons, never
node ids, so renaming a node changes neither the outcome nor the path's `key()`.

`explore.explore_call` is the concrete counterpart: the real runtime, at one time, for one
caller, trying every menu option, every ring answered and not, every reported outcome.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from routing_engine.core import ir
from routing_engine.core.analysis import Index, NodeKey, build_index
from routing_engine.core.compile import (
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
)
from routing_engine.core.context import Context
from routing_engine.core.waits import Wait, Waits, say_seconds
from routing_engine.core.waits import to_json as wait_json

# Moves a node makes whatever happens: they do not tell one path from another.
FORCED = frozenset({"next", "enter", "recorded", "end"})
STOPPED = "stopped: path bound reached"
FLOW_ENDS = "hangup (the flow ends here)"
MENU_FALLBACK = "no input (retries used up)"
LOOPED = "stopped: the call comes back here again (a loop)"
ANONYMOUS = "anonymous"  # a withheld number, as the contract spells it


@dataclass(frozen=True, slots=True)
class Step:
    """One node on a path and how the path leaves it."""

    node: str  # "flow/node-id" (a module copy: "flow/use-id.node-id")
    kind: str  # the node's kind keyword: menu, ring, branch, hours, say, ...
    choice: str  # how the path leaves this node, in words ('digit 3', 'closed', 'no-answer')
    detail: str = ""  # what the node does, for people: 'rings billing-ny for 12s'; not in key()

    def to_json(self) -> dict[str, str]:
        return {"node": self.node, "kind": self.kind, "choice": self.choice, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CallPath:
    """One way through the deployment from a dialed number to the call's end."""

    entry: str  # the dialed number
    flow: str  # the flow that number enters
    steps: tuple[Step, ...]
    outcome: str  # how the call ends, naming targets, boards and reasons (never node ids)

    def key(self) -> tuple[str, ...]:
        """The entry and the choices that tell this path from others (forced moves such as
        'next' and 'enter' left out): how a diff matches a path of one version to the same
        path of another."""
        return (self.entry, *(step.choice for step in self.steps if step.choice not in FORCED))

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "flow": self.flow,
            "steps": [step.to_json() for step in self.steps],
            "outcome": self.outcome,
            "key": list(self.key()),
        }


@dataclass(frozen=True, slots=True)
class WorstWait:
    """The longest a caller of a number (or of a flow, entered at its start) may ring, queue
    and listen unanswered, by the deployment's bounds (see core/waits.py)."""

    entry: str  # the dialed number; "" for a flow's own figure
    flow: str
    wait: Wait

    def line(self) -> str:
        where = f"{self.entry} -> {self.flow}" if self.entry else f"flow {self.flow}"
        return f"{where}: a caller waits at most {say_seconds(self.wait.seconds)} unanswered"

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry or None, "flow": self.flow, **wait_json(self.wait)}


def worst_waits(compiled: CompiledDeployment, number: str | None = None) -> tuple[WorstWait, ...]:
    """Each entry's worst wait (or `number`'s alone), then each flow's (for all entries)."""
    waits = Waits(Context.of(compiled.deployment))
    found = [
        WorstWait(entry.number, entry.flow.name, wait)
        for entry, wait in waits.entries()
        if number is None or entry.number == number
    ]
    if number is None:
        found.extend(WorstWait("", name, wait) for name, wait in waits.flows())
    return tuple(found)


@dataclass(frozen=True, slots=True)
class PathReport:
    paths: tuple[CallPath, ...]
    truncated: bool  # True when a bound cut the enumeration short
    waits: tuple[WorstWait, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": [path.to_json() for path in self.paths],
            "count": len(self.paths),
            "truncated": self.truncated,
            "waits": [wait.to_json() for wait in self.waits],
        }


class UnknownNumber(LookupError):
    """A dialed number no entry of the deployment takes."""

    def __init__(self, number: str, numbers: tuple[str, ...]):
        super().__init__(f"no entry for {number}; the numbers are: {', '.join(numbers)}")
        self.number = number
        self.numbers = numbers


def entry_numbers(compiled: CompiledDeployment) -> tuple[str, ...]:
    """The deployment's dialed numbers and prefixes, in file order."""
    return tuple(dict.fromkeys(entry.number for entry in compiled.deployment.entries))


# --- symbolic paths ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Move:
    """One way out of a node: where it leads, what it does that matters, or how the call ends."""

    choice: str
    to: CNode | None
    effect: str = ""
    end: str = ""


def _who(node: CRing) -> str:
    names = " or ".join(target.name for target in node.targets)
    if node.prefer_skills is None:
        return names
    skills = ", ".join(sorted(node.prefer_skills))
    where = {"": "", "caller": " in the caller's region"}.get(
        node.prefer_region, f" in {node.prefer_region}"
    )
    return f"an available target with skills {skills}{where} (else {names})"


def _answer_moves(on: Mapping[str, CNode], who: str, reports: tuple[str, ...]) -> list[_Move]:
    if "answered" in on:
        return [_Move("answered", on["answered"], f"answered by {who}")]
    if not reports:
        return [_Move("answered", None, end=f"connected to {who}")]
    return [
        _Move(f"outcome {report}", on.get(report), f"{who} answered and reported {report}")
        for report in reports
    ]


def _dial_moves(on: Mapping[str, CNode]) -> list[_Move]:
    """No answer, then busy and failed only where they lead elsewhere than no answer does."""
    nobody = on.get("no-answer")
    moves = [_Move("no-answer", nobody, end="" if nobody else "hangup (nobody answered)")]
    moves.extend(_Move(o, on[o]) for o in ("busy", "failed") if on.get(o) is not nobody)
    return moves


def _moves(node: CNode, reports: tuple[str, ...]) -> list[_Move]:
    match node:
        case CSay() | CSet():
            return [_Move("next", node.next)]
        case CTicket():
            return [_Move("next", node.next, f"ticket on board {node.board}")]
        case CUse():
            return [_Move("enter", node.next)]
        case CBranch():
            cases = [_Move(f"when {cond.source}", to) for cond, to in node.cases]
            return [*cases, _Move("else", node.otherwise)]
        case CHours():
            moves = [_Move("open", node.open), _Move("closed", node.closed)]
            if node.holiday is not node.closed:
                moves.append(_Move("holiday", node.holiday))
            return moves
        case CMenu():
            digits = [_Move(f"digit {digits}", to) for digits, to in node.options.items()]
            return [*digits, _Move(MENU_FALLBACK, node.fallback)]
        case CRing():
            return [*_answer_moves(node.on, _who(node), reports), *_dial_moves(node.on)]
        case CQueue():
            who = f"an agent of queue {node.queue.name if node.queue else '?'}"
            return [*_answer_moves(node.on, who, reports), _Move("timeout", node.on.get("timeout"))]
        case CVoicemail():
            left = f"voicemail for board {node.board}"
            if node.next is None:
                return [_Move("recorded", None, end=left)]
            return [_Move("recorded", node.next, left)]
        case CHangup():
            return [_Move("end", None, end=f"hangup ({node.reason})" if node.reason else "hangup")]
    raise TypeError(f"unknown node {type(node).__name__}")  # pragma: no cover - closed union


def _detail(node: CNode) -> str:
    """What a node does, in a few words (targets, boards, schedules), for people reading."""
    match node:
        case CRing():
            names = [target.name for target in node.targets]
            if node.prefer_skills is not None:
                return f"rings {_who(node)} for {node.timeout_s:g}s"
            if node.simultaneous and len(names) > 1:
                return f"rings {', '.join(names)} at once for {node.timeout_s:g}s"
            each = " each" if len(names) > 1 else ""
            return f"rings {', then '.join(names)} for {node.timeout_s:g}s{each}"
        case CQueue():
            return f"queue {node.queue.name if node.queue else '?'} up to {node.max_wait_s:g}s"
        case CHours():
            return f"schedule {node.schedule.name}" if node.schedule else ""
        case CTicket() | CVoicemail():
            return f"board {node.board}"
        case CUse():
            return f"module {node.module}"
        case CMenu():
            return f"options {', '.join(node.options)}"
    return ""


@dataclass(frozen=True, slots=True)
class _Partial:
    """A path under way: the node it is about to enter (None once it has ended)."""

    node: CNode | None
    steps: tuple[Step, ...]
    effects: tuple[str, ...]
    visits: Mapping[NodeKey, int]
    end: str = ""


def _outcome(effects: tuple[str, ...], end: str) -> str:
    return f"{', '.join(effects)}, then {end}" if effects else end


def _children(index: Index, partial: _Partial, node: CNode) -> Iterator[_Partial]:
    ir_node = index.nodes[node.key]
    reports = ir_node.reports if isinstance(ir_node, (ir.Ring, ir.Queue)) else ()
    entered = partial.visits.get(node.key, 0)
    visits = {**partial.visits, node.key: entered + 1}
    detail = _detail(node)
    moves = _moves(node, reports)
    if node.exhausted is not None and entered >= node.attempts:  # its attempts are used up
        moves = [_Move(f"exhausted (after {node.attempts} attempts)", node.exhausted)]
    for move in moves:
        steps = (*partial.steps, Step(node.label, ir_node.KIND, move.choice, detail))
        effects = (*partial.effects, move.effect) if move.effect else partial.effects
        if move.end or move.to is None:
            yield _Partial(None, steps, effects, visits, move.end or FLOW_ENDS)
        else:
            yield _Partial(move.to, steps, effects, visits)


def _start_of(compiled: CompiledDeployment, dialed: str) -> tuple[str, CNode] | None:
    """Where a dialed number enters; an entry's own prefix (`+1666*`) names that entry, even
    when an exact entry has the same digits."""
    if dialed.endswith("*"):
        prefix = dialed[:-1]
        return next(((flow, start) for p, flow, start in compiled.prefixes if p == prefix), None)
    return compiled.entry(dialed)


def _starts(compiled: CompiledDeployment, number: str | None) -> list[tuple[str, str, CNode]]:
    """(dialed number, flow, first node) for every entry, or for `number` alone."""
    if number is not None:
        found = _start_of(compiled, number)
        if found is None:
            raise UnknownNumber(number, entry_numbers(compiled))
        return [(number, *found)]
    starts = []
    for dialed in entry_numbers(compiled):
        found = _start_of(compiled, dialed)
        if found is not None:
            starts.append((dialed, *found))
    return starts


def enumerate_paths(
    compiled: CompiledDeployment,
    number: str | None = None,
    *,
    max_paths: int = 5000,
    max_visits: int = 2,
) -> PathReport:
    """Every distinct path from each entry (or the entry `number` takes) to the call's end,
    a node entered at most `max_visits` times on one path and at most `max_paths` paths in
    all; `truncated` says when either bound cut the enumeration short. Raises UnknownNumber
    when no entry takes `number`."""
    index = build_index(compiled.deployment)
    paths: list[CallPath] = []
    truncated = False
    for dialed, flow, first in _starts(compiled, number):
        stack = [_Partial(first, (), (), {})]
        while stack:
            partial = stack.pop()
            node = partial.node
            entered = 0 if node is None else partial.visits.get(node.key, 0)
            used_up = node is not None and node.exhausted is not None and entered >= node.attempts
            if node is not None and (entered < max_visits or used_up):
                stack.extend(reversed(list(_children(index, partial, node))))
                continue
            if node is not None:  # entered too often on this path: it stops here
                truncated = True
                partial = replace(partial, node=None, end=STOPPED)
            if len(paths) >= max_paths:
                return PathReport(tuple(paths), True, worst_waits(compiled, number))
            outcome = _outcome(partial.effects, partial.end)
            paths.append(CallPath(dialed, flow, partial.steps, outcome))
    return PathReport(tuple(paths), truncated, worst_waits(compiled, number))
