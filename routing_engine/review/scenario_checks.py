"""A scenario's expectations checked against what its call did: each decision (node, actions,
rings, awaits, fallback, announcements, tickets), and the call as a whole (path, visits,
tickets, deadlines, how it ends). Every expectation not met is a failure naming where it is
written; the playing is scenarios.py's."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing_engine.core.calls import CallState, Decision
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.diagnostics import did_you_mean
from routing_engine.core.ir import Span
from routing_engine.review.scenario_format import (
    CallExpect,
    DeadlineExpect,
    DecisionExpect,
    Scenario,
    TicketExpect,
)


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation a scenario did not meet."""

    what: str  # which part: "decision 2 (after dial.no-answer)", "path", "tickets", ...
    message: str  # what differs, possibly several lines
    span: Span  # where the expectation is written

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
        }


class Checks:
    """One scenario's expectations, checked as its call is played; `failures` so far."""

    def __init__(self, compiled: CompiledDeployment, scenario: Scenario):
        self.compiled = compiled
        self.scenario = scenario
        self.failures: list[Failure] = []

    def fail(self, what: str, message: str, *path: str | int) -> None:
        self.failures.append(Failure(what, message, self.scenario.span_of(*path)))

    def check_decision(
        self, expect: DecisionExpect, decision: Decision, what: str, path: tuple[str | int, ...]
    ) -> None:
        actions = decision.actions
        got: dict[str, Any] = {
            "node": f"{decision.flow}/{decision.node}",
            "actions": [a["type"] for a in actions],
            "ring": [t["name"] for a in actions if a["type"] == "ring" for t in a["targets"]],
            "await": list(decision.awaits),
            "fallback": decision.fallback_reason or "none",
        }
        wanted: dict[str, Any] = {
            "node": expect.node and _qualify([expect.node], decision.flow)[0],
            "actions": expect.actions,
            "ring": expect.ring,
            "await": expect.await_,
            "fallback": expect.fallback,
        }
        for key, value in wanted.items():
            if value is not None and value != got[key]:
                self.fail(what, f"{key}: expected {_show(value)}, got {_show(got[key])}", *path)
        if expect.say is not None:
            said = [
                str(a.get("text") or a.get("prompt") or "")
                for a in actions
                if a["type"] in ("say", "menu", "voicemail")
            ]
            if not any(expect.say in text for text in said):
                self.fail(what, f"say: no announcement contains {expect.say!r}; said {said}", *path)
        if expect.ticket is not None:
            boards = [a["board"] for a in actions if a["type"] == "ticket"]
            if expect.ticket not in boards:
                message = f"ticket: expected one on board {expect.ticket!r}, got {boards}"
                self.fail(what, message, *path)

    def known_nodes(self, field: str, items: list[str], flow: str) -> bool:
        """Whether every node an expectation names exists; a failure names each that does not."""
        labels = {node.label for node in self.compiled.nodes.values()}
        unknown = [item for item in _qualify(items, flow) if item not in labels]
        for item in unknown:
            hint = did_you_mean(item, labels) or "nodes are named flow/node (flow/use.node)"
            message = f"no node '{item}' in the deployment; {hint}"
            self.fail(field, message, "expect", field)
        return not unknown

    def check_call(
        self, expect: CallExpect, state: CallState, decisions: Iterable[Decision]
    ) -> None:
        entry = state.entry_flow
        visited = [line.rsplit(" -> ", 1)[1] for line in state.trace if " -> " in line]
        named = (("path", expect.path), ("visits", expect.visits), ("avoids", expect.avoids))
        if not all(self.known_nodes(field, items, entry) for field, items in named if items):
            return
        if expect.path is not None:
            wanted = _qualify(expect.path, entry)
            if wanted != visited:
                self.fail("path", _list_diff(wanted, visited), "expect", "path")
        if expect.visits is not None:
            wanted = _qualify(expect.visits, entry)
            missing = _not_in_order(wanted, visited)
            if missing is not None:
                message = f"visits: {missing} not visited in this order; the call went\n  " + (
                    "\n  ".join(visited)
                )
                self.fail("path", message, "expect", "visits")
        for item in _qualify(expect.avoids or [], entry):
            if item in visited:
                self.fail("path", f"avoids: the call visited {item}", "expect", "avoids")
        if expect.tickets is not None:
            raised = [a for d in decisions for a in d.actions if a["type"] == "ticket"]
            self.check_tickets(expect.tickets, raised)
        if expect.deadlines is not None:
            self.check_deadlines(expect.deadlines, state.deadlines)
        if expect.status is not None and expect.status != state.status.value:
            message = f"status: expected {expect.status}, got {state.status.value}"
            if state.end_reason:
                message += f" ({state.end_reason})"
            self.fail("end", message, "expect", "status")
        if expect.ends is not None and expect.ends != state.end_reason:
            got = state.end_reason or f"(not ended: {state.status.value})"
            self.fail("end", f"ends: expected {expect.ends!r}, got {got!r}", "expect", "ends")

    def check_tickets(self, wanted: list[TicketExpect], raised: list[dict[str, Any]]) -> None:
        if len(wanted) != len(raised):
            boards = [t["board"] for t in raised]
            message = f"expected {len(wanted)} ticket(s), the call raised {len(raised)}: {boards}"
            self.fail("tickets", message, "expect", "tickets")
        for i, (expect, ticket) in enumerate(zip(wanted, raised, strict=False)):
            problems = _ticket_problems(expect, ticket, cadence(self.compiled))
            for problem in problems:
                self.fail(f"ticket {i + 1}", problem, "expect", "tickets", i)

    def check_deadlines(
        self, wanted: list[DeadlineExpect], started: tuple[Mapping[str, Any], ...]
    ) -> None:
        got, flows = [d["flow"] for d in started], [d.flow for d in wanted]
        if flows != got:
            message = f"expected flows {flows}, the call started {got}"
            self.fail("deadlines", message, "expect", "deadlines")
            return
        for i, (expect, deadline) in enumerate(zip(wanted, started, strict=True)):
            for problem in _timed_problems(expect.due, expect.notify, deadline):
                self.fail(f"deadline {i + 1}", problem, "expect", "deadlines", i)


def _timed_problems(
    due: datetime | None, notify: list[str] | None, got: Mapping[str, Any]
) -> list[str]:
    """How an escalation step or a deadline differs from its expected due time and contacts."""
    problems = []
    if due is not None and datetime.fromisoformat(got["due"]) != due:
        shown = datetime.fromisoformat(got["due"]).astimezone(due.tzinfo).isoformat()
        problems.append(f"due: expected {due.isoformat()}, got {shown}")
    if notify is not None and notify != list(got["notify"]):
        problems.append(f"notify: expected {notify}, got {list(got['notify'])}")
    return problems


def _ticket_problems(expect: TicketExpect, ticket: dict[str, Any], cadence: float) -> list[str]:
    problems = []
    if expect.board != ticket["board"]:
        problems.append(f"board: expected {expect.board!r}, got {ticket['board']!r}")
    if expect.node is not None and not (
        ticket["node"] == expect.node or ticket["node"].endswith("/" + expect.node)
    ):
        problems.append(f"node: expected {expect.node!r}, got {ticket['node']!r}")
    if expect.due is not None:
        due = ticket.get("due")
        if due is None or datetime.fromisoformat(due) != expect.due:
            got = (
                "none"
                if due is None
                else datetime.fromisoformat(due).astimezone(expect.due.tzinfo).isoformat()
            )  # in the expected offset, so the two read alike
            problems.append(f"due: expected {expect.due.isoformat()}, got {got}")
    if expect.sla is not None and expect.sla.seconds(cadence) != ticket.get("sla_s"):
        problems.append(f"sla: expected {expect.sla.seconds(cadence):g}s, got {ticket['sla_s']}")
    if expect.managers is not None and expect.managers != ticket["managers"]:
        problems.append(f"managers: expected {expect.managers}, got {ticket['managers']}")
    if expect.summary is not None and expect.summary not in ticket["summary"]:
        problems.append(f"summary: {ticket['summary']!r} does not contain {expect.summary!r}")
    if expect.recording is not None and expect.recording != ticket.get("recording"):
        problems.append(f"recording: expected {expect.recording!r}, got {ticket.get('recording')}")
    if expect.escalations is not None:
        steps = ticket.get("escalations", [])
        if len(steps) != len(expect.escalations):
            problems.append(
                f"escalations: expected {len(expect.escalations)} step(s), got {len(steps)}"
            )
        for level, (step, got) in enumerate(zip(expect.escalations, steps, strict=False), 1):
            problems += [
                f"escalation {level} {p}" for p in _timed_problems(step.due, step.notify, got)
            ]
    return problems


def cadence(compiled: CompiledDeployment) -> float:
    """Seconds per ring: what a duration in rings counts in."""
    return compiled.deployment.ring_cadence.seconds(1.0)


def _qualify(items: list[str], flow: str) -> list[str]:
    """`node` means `flow/node` in the flow of the item before it (the entry flow first)."""
    out: list[str] = []
    for item in items:
        if "/" in item:
            flow = item.partition("/")[0]
            out.append(item)
        else:
            out.append(f"{flow}/{item}")
    return out


def _not_in_order(wanted: list[str], visited: list[str]) -> str | None:
    """The first of `wanted` not found, in order, in `visited`; None when all are."""
    position = 0
    for item in wanted:
        try:
            position = visited.index(item, position) + 1
        except ValueError:
            return item
    return None


def _list_diff(wanted: list[str], got: list[str]) -> str:
    lines = [
        line
        for line in difflib.ndiff(wanted, got)
        if not line.startswith("?")  # ndiff's intraline hints
    ]
    return "path differs (- expected, + actual):\n  " + "\n  ".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
