"""Who answers: one concrete call, at one time, for one caller, run through the real runtime
down every branch (each menu option and the menu's fallback, each ring answered and not, each
outcome an answering party reports, queue timeouts, recorded messages). The symbolic
counterpart, every path whatever the time and caller, is `paths.enumerate_paths`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routing_engine.core import ir
from routing_engine.core.analysis import build_index
from routing_engine.core.compile import CRing
from routing_engine.review.paths import ANONYMOUS, LOOPED, UnknownNumber, entry_numbers

if TYPE_CHECKING:
    from routing_engine.api import LoadedDeployment


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
                *self.other_dial_outcomes(state, ", ".join(names)),
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

    def other_dial_outcomes(self, state: dict[str, Any], names: str) -> list[_Choice]:
        """Busy and failed, where the ring sends them elsewhere than no answer: at its last
        target (before that, any unanswered outcome rings the next one)."""
        node = self.loaded.compiled.nodes.get((state["flow"], state["node"]))
        if not isinstance(node, CRing):
            return []
        last = node.simultaneous or state["attempt"] + 1 >= len(state["ringing"])
        if not last:
            return []
        return [
            _Choice(label, event, {})
            for outcome, event, label in (
                ("busy", "dial.busy", f"{names} busy"),
                ("failed", "dial.failed", f"the call to {names} fails"),
            )
            if node.on.get(outcome) is not node.on.get("no-answer")
        ]

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
        return f"the fallback ({decision['fallback_reason']})"
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
