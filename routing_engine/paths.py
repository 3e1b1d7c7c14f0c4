"""Paths through a deployment: every way a call can go, for review and for diffs.

`enumerate_paths` walks the compiled links symbolically, with no clock and no caller: every
branch case, every hours state with a link of its own, every menu digit and the menu's
fallback, every ring or queue outcome that leads somewhere distinct, and every outcome an
answering party reports is a fork. A path's outcome names targets, boards and reasons, never
node ids, so renaming a node changes neither the outcome nor the path's `key()`.

`explore_call` is the concrete counterpart: the real runtime, at one time, for one caller,
trying every menu option, every ring answered and not, every reported outcome.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routing_engine import ir
from routing_engine.analysis import Index, NodeKey, build_index
from routing_engine.compile import (
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

if TYPE_CHECKING:
    from routing_engine.api import LoadedDeployment

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
class PathReport:
    paths: tuple[CallPath, ...]
    truncated: bool  # True when a bound cut the enumeration short

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": [path.to_json() for path in self.paths],
            "count": len(self.paths),
            "truncated": self.truncated,
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
    visits = {**partial.visits, node.key: partial.visits.get(node.key, 0) + 1}
    detail = _detail(node)
    for move in _moves(node, reports):
        steps = (*partial.steps, Step(node.label, ir_node.KIND, move.choice, detail))
        effects = (*partial.effects, move.effect) if move.effect else partial.effects
        if move.end or move.to is None:
            yield _Partial(None, steps, effects, visits, move.end or FLOW_ENDS)
        else:
            yield _Partial(move.to, steps, effects, visits)


def _starts(compiled: CompiledDeployment, number: str | None) -> list[tuple[str, str, CNode]]:
    """(dialed number, flow, first node) for every entry, or for `number` alone."""
    if number is not None:
        found = compiled.entry(number)
        if found is None:
            raise UnknownNumber(number, entry_numbers(compiled))
        return [(number, *found)]
    starts = []
    for dialed in entry_numbers(compiled):
        found = compiled.entry(dialed.removesuffix("*"))
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
            if node is not None and partial.visits.get(node.key, 0) < max_visits:
                stack.extend(reversed(list(_children(index, partial, node))))
                continue
            if node is not None:  # entered too often on this path: it stops here
                truncated = True
                partial = replace(partial, node=None, end=STOPPED)
            if len(paths) >= max_paths:
                return PathReport(tuple(paths), True)
            outcome = _outcome(partial.effects, partial.end)
            paths.append(CallPath(dialed, flow, partial.steps, outcome))
    return PathReport(tuple(paths), truncated)


# --- concrete calls: who answers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One decision of a concrete call, and every way the call can go on from it."""

    event: str  # what led here, in words ('' for the call's start)
    node: str  # "flow/node-id" where the call waits or ended
    reasons: tuple[str, ...]  # the runtime's trace lines for this decision
    actions: tuple[dict[str, Any], ...]
    ringing: tuple[str, ...]  # at a ring: all the node's targets, in the order they are tried
    end: str  # how the call ends here ('' when it goes on)
    then: tuple[Turn, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "node": self.node,
            "reasons": list(self.reasons),
            "actions": list(self.actions),
            "ringing": list(self.ringing),
            "end": self.end,
            "then": [turn.to_json() for turn in self.then],
        }


@dataclass(frozen=True, slots=True)
class ScheduleNow:
    """A schedule's state at the time explored, and when it next opens when it is not open."""

    name: str
    state: str  # open, closed or holiday
    holiday: str  # the holiday's name, or ''
    next_open: datetime | None


@dataclass(frozen=True, slots=True)
class Ending:
    """One leaf of an exploration: the events that lead to it and what came of them."""

    events: tuple[str, ...]
    tickets: tuple[dict[str, Any], ...]
    end: str


@dataclass(frozen=True, slots=True)
class Exploration:
    """A call explored at one time for one caller: the schedules' states then, and the tree of
    decisions from the call's start."""

    number: str
    flow: str
    caller: str
    at: datetime
    schedules: tuple[ScheduleNow, ...]
    first: Turn
    truncated: bool  # True when the turn bound cut the exploration short

    def endings(self) -> list[Ending]:
        """Every way the call can end, in tree order."""
        found: list[Ending] = []

        def walk(turn: Turn, events: tuple[str, ...], tickets: tuple[dict[str, Any], ...]) -> None:
            events = (*events, turn.event) if turn.event else events
            tickets = (*tickets, *(a for a in turn.actions if a["type"] == "ticket"))
            if not turn.then:
                found.append(Ending(events, tickets, turn.end))
            for after in turn.then:
                walk(after, events, tickets)

        walk(self.first, (), ())
        return found


@dataclass(frozen=True, slots=True)
class _Choice:
    label: str
    event: str
    data: dict[str, str]
    who: str = ""  # who answers, when this event is an answer
    until_moved: bool = False  # repeat the event while the menu replays


class _Explorer:
    """Drives the real runtime down every branch of one call."""

    def __init__(self, loaded: LoadedDeployment, at: datetime, max_turns: int):
        self.loaded, self.at, self.max_turns = loaded, at, max_turns
        self.index = build_index(loaded.compiled.deployment)
        self.turns = 0
        self.truncated = False

    def event(self, decision: dict[str, Any], kind: str, data: dict[str, str]) -> dict[str, Any]:
        self.turns += 1
        return {
            "event_id": f"explore-{self.turns}",
            "seq": decision["seq"],
            "type": kind,
            "data": data,
            "at": self.at.isoformat(),
        }

    def turn(
        self,
        label: str,
        state: dict[str, Any],
        decision: dict[str, Any],
        seen: int,
        who: str,
        visits: Mapping[tuple[Any, ...], int],
    ) -> Turn:
        awaits = tuple(decision["await"])
        ringing = tuple(state["ringing"]) if "dial.no-answer" in awaits else ()
        node = f"{decision['flow']['name']}/{decision['node']}"
        here = (label, node, tuple(decision["trace"][seen:]), tuple(decision["actions"]), ringing)
        key = (state["flow"], state["node"], state["attempt"], state["status"])
        if not awaits or awaits == ("hangup",):
            return Turn(*here, _end(decision, who), ())
        if visits.get(key, 0) >= 2 or self.turns >= self.max_turns:
            self.truncated = True
            looped = visits.get(key, 0) >= 2
            return Turn(*here, LOOPED if looped else "stopped: exploration bound reached", ())
        visits = {**visits, key: visits.get(key, 0) + 1}
        seen = len(decision["trace"])
        then = tuple(
            self.follow(choice, state, decision, seen, visits)
            for choice in self.choices(state, decision, awaits)
        )
        return Turn(*here, "", then)

    def choices(
        self, state: dict[str, Any], decision: dict[str, Any], awaits: tuple[str, ...]
    ) -> list[_Choice]:
        actions = {action["type"]: action for action in decision["actions"]}
        if "digits" in awaits:
            digits = [
                _Choice(f"digit {d}", "digits", {"digits": d}) for d in actions["menu"]["options"]
            ]
            return [*digits, _Choice("no input", "no-input", {}, until_moved=True)]
        if "outcome" in awaits:
            ir_node = self.index.nodes.get((state["flow"], state["node"]))
            reports = ir_node.reports if isinstance(ir_node, (ir.Ring, ir.Queue)) else ()
            return [_Choice(f"they report {r}", "outcome", {"outcome": r}) for r in reports]
        if "dial.no-answer" in awaits:
            names = [target["name"] for target in actions["ring"]["targets"]]
            who = " or ".join(names)
            answers = f"one of {', '.join(names)} answers" if len(names) > 1 else f"{who} answers"
            return [
                _Choice(answers, "dial.answered", {}, who),
                _Choice(f"no answer from {', '.join(names)}", "dial.no-answer", {}),
            ]
        if "queue.timeout" in awaits:
            queue = actions["queue"]["queue"]
            who = f"an agent of queue {queue['name'] if queue else '?'}"
            return [
                _Choice(f"{who} answers", "dial.answered", {}, who),
                _Choice("nobody answers in time (queue timeout)", "queue.timeout", {}),
            ]
        if "recording.done" in awaits:
            return [_Choice("message recorded", "recording.done", {})]
        return []

    def follow(
        self,
        choice: _Choice,
        state: dict[str, Any],
        decision: dict[str, Any],
        seen: int,
        visits: Mapping[tuple[Any, ...], int],
    ) -> Turn:
        new_state, new_decision = self.loaded.apply_event(
            state, self.event(decision, choice.event, choice.data)
        )
        label, times = choice.label, 1
        while choice.until_moved and _replayed(state, new_state, new_decision):
            new_state, new_decision = self.loaded.apply_event(
                new_state, self.event(new_decision, choice.event, choice.data)
            )
            times += 1
        if choice.until_moved:
            label = f"{label} ({times} times: the menu's fallback)"
        return self.turn(label, new_state, new_decision, seen, choice.who, visits)


def _replayed(before: dict[str, Any], after: dict[str, Any], decision: dict[str, Any]) -> bool:
    same = (before["flow"], before["node"]) == (after["flow"], after["node"])
    return same and "digits" in decision["await"] and "replay" in decision["trace"][-1]


def _end(decision: dict[str, Any], who: str) -> str:
    if decision["await"]:
        return f"connected to {who or 'a person'}"
    if decision.get("fallback_reason"):
        return f"the deployment's fallback ({decision['fallback_reason']})"
    hangups = [a for a in decision["actions"] if a["type"] == "hangup"]
    reason = hangups[-1]["reason"] if hangups else "caller hung up"
    return "hangup" if reason == "hangup" else f"hangup ({reason})"


def explore_call(
    loaded: LoadedDeployment,
    number: str,
    at: datetime,
    caller: str = ANONYMOUS,
    *,
    max_turns: int = 2000,
) -> Exploration:
    """Run a call to `number` from `caller` at `at` through the real runtime, down every
    branch: each menu option and the menu's fallback, each ring answered and not answered
    (one target after another), each outcome an answering party reports, queue timeouts,
    recorded messages. Raises UnknownNumber, `contract.BadRequest` for a caller that is not
    E.164 or 'anonymous', and ValueError for a time without a UTC offset."""
    compiled = loaded.compiled
    found = compiled.entry(number)
    if found is None:
        raise UnknownNumber(number, entry_numbers(compiled))
    if at.tzinfo is None:
        raise ValueError("the time needs a UTC offset")
    schedules = tuple(
        ScheduleNow(
            name,
            schedule.state(at),
            schedule.holiday_name(at),
            None if schedule.state(at) == "open" else schedule.next_open(at),
        )
        for name, schedule in compiled.schedules.items()
    )
    explorer = _Explorer(loaded, at, max_turns)
    body = {"call_id": "who-answers", "from": caller, "to": number, "at": at.isoformat()}
    state, decision = loaded.start_call(body)
    first = explorer.turn("", state, decision, 0, "", {})
    return Exploration(number, found[0], caller, at, schedules, first, explorer.truncated)
