"""Scenario tests: play each scenario's call against a deployment with a fake clock and check
what it expects; measure the coverage all of them give together.

The call runs through the real runtime (`start`, `step`), exactly as the service would run it,
with the scenario's target states and schedule overrides as the live state. The clock starts
at the call's `at` and moves on with each event: by the event's `after`, or by the wait the
previous decision set up (a ring's timeout before `dial.no-answer`, and so on).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from routing_engine.core.analysis import build_index
from routing_engine.core.calls import CallState, Decision, Event, EventRejected, EventType, NewCall
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.diagnostics import Diagnostic, did_you_mean
from routing_engine.core.ir import Span
from routing_engine.core.runtime import start, step
from routing_engine.review.coverage import Coverage, measure
from routing_engine.review.scenario_format import (
    CallExpect,
    DeadlineExpect,
    DecisionExpect,
    EventSpec,
    Scenario,
    TargetState,
    TicketExpect,
    read_scenarios,
    scenario_files,
)

# the wait a decision sets up, by the event that ends it: (action type, field with seconds)
_WAITS = {
    "dial.no-answer": ("ring", "timeout_s"),
    "no-input": ("menu", "timeout_s"),
    "queue.timeout": ("queue", "max_wait_s"),
}


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


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Scenario
    failures: tuple[Failure, ...]
    decisions: tuple[dict[str, Any], ...]
    state: dict[str, Any]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def trace(self) -> list[str]:
        return list(self.state.get("trace", []))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "file": self.scenario.span.file,
            "line": self.scenario.span.line,
            "passed": self.passed,
            "failures": [f.to_json() for f in self.failures],
            "seconds": round(self.seconds, 6),
            "trace": self.trace,
        }


@dataclass(slots=True)
class Report:
    """Every scenario's result, the problems of files that could not be read, and coverage."""

    results: list[Result] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    coverage: Coverage | None = None
    min_coverage: float = 0.0  # edge coverage (percent) below which the run fails

    @property
    def coverage_low(self) -> bool:
        return self.coverage is not None and self.coverage.edge_ratio * 100 < self.min_coverage

    @property
    def passed(self) -> bool:
        return (
            bool(self.results)
            and not self.problems
            and not self.coverage_low
            and all(r.passed for r in self.results)
        )

    def to_json(self) -> dict[str, Any]:
        failed = sum(1 for r in self.results if not r.passed)
        return {
            "passed": self.passed,
            "scenarios": len(self.results),
            "failed": failed,
            "results": [r.to_json() for r in self.results],
            "problems": [d.to_json() for d in self.problems],
            "coverage": self.coverage.to_json() if self.coverage else None,
            "min_coverage": self.min_coverage,
            "coverage_low": self.coverage_low,
        }


class _Play:
    """One scenario being played: the call, the live state and what went wrong so far."""

    def __init__(self, compiled: CompiledDeployment, scenario: Scenario):
        self.compiled = compiled
        self.scenario = scenario
        self.failures: list[Failure] = []
        self.targets: dict[str, Any] = {}
        self.overrides: dict[str, str] = {}
        self.decisions: list[Decision] = []

    def fail(self, what: str, message: str, *path: str | int) -> None:
        self.failures.append(Failure(what, message, self.scenario.span_of(*path)))

    def live(self, targets: Mapping[str, bool | TargetState], path: tuple[str | int, ...]) -> None:
        known = self.compiled.targets
        for name, value in targets.items():
            if name not in known:
                hint = did_you_mean(name, known) or f"targets: {', '.join(known)}"
                self.fail("targets", f"no target '{name}' in the deployment; {hint}", *path)
            elif isinstance(value, TargetState):
                change = {k: v for k, v in value.model_dump().items() if v is not None}
                self.targets[name] = {**self._target(name), **change}
            else:
                self.targets[name] = {**self._target(name), "available": value}

    def _target(self, name: str) -> dict[str, Any]:
        """A target's live state so far, as a mapping."""
        current = self.targets.get(name)
        if isinstance(current, bool):
            return {"available": current}
        return dict(current) if isinstance(current, Mapping) else {}

    def schedules(self, overrides: Mapping[str, str], path: tuple[str | int, ...]) -> None:
        known = self.compiled.schedules
        for name, value in overrides.items():
            if name not in known:
                hint = did_you_mean(name, known) or f"schedules: {', '.join(known)}"
                self.fail("overrides", f"no schedule '{name}' in the deployment; {hint}", *path)
            self.overrides[name] = value

    def run(self) -> CallState | None:
        spec = self.scenario.spec
        self.live(spec.targets, ("targets",))
        self.schedules(spec.overrides, ("overrides",))
        if self.failures:
            return None
        call = NewCall(
            f"scenario-{self.scenario.index + 1}",
            spec.call.caller,
            spec.call.dialed,
            spec.call.at,
            dict(spec.call.attributes),
        )
        state, decision = start(self.compiled, call, self.targets, self.overrides)
        self.decisions.append(decision)
        if spec.call.expect is not None:
            self.check(spec.call.expect, decision, "the first decision", ("call", "expect"))
        clock = spec.call.at
        for number, event in enumerate(spec.events, start=1):
            where: tuple[str | int, ...] = ("events", number - 1)
            self.live(event.targets or {}, (*where, "targets"))
            self.schedules(event.overrides or {}, (*where, "overrides"))
            clock = self.advance(clock, event, decision)
            what = f"event {number} ({describe_event(event)})"
            try:
                state, decision = step(
                    self.compiled, state, _event(event, state.seq, clock), self.targets,
                    self.overrides,
                )  # fmt: skip
            except EventRejected as refused:
                self.fail(what, f"refused ({refused.reason}): {refused.message}", *where)
                return state
            self.decisions.append(decision)
            if event.expect is not None:
                self.check(event.expect, decision, f"the decision after {what}", (*where, "expect"))
        return state

    def advance(self, clock: datetime, event: EventSpec, decision: Decision) -> datetime:
        if event.after is not None:
            return clock + timedelta(seconds=event.after.seconds(_cadence(self.compiled)))
        wait = _WAITS.get(event.kind)
        if wait is None:
            return clock
        kind, key = wait
        waited = [float(a.get(key) or 0) for a in decision.actions if a["type"] == kind]
        return clock + timedelta(seconds=waited[-1] if waited else 0.0)

    # -- checking -----------------------------------------------------------------------------
    def check(
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

    def check_call(self, expect: CallExpect, state: CallState) -> None:
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
            raised = [a for d in self.decisions for a in d.actions if a["type"] == "ticket"]
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
            problems = _ticket_problems(expect, ticket, _cadence(self.compiled))
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


def _cadence(compiled: CompiledDeployment) -> float:
    return compiled.deployment.ring_cadence.seconds(1.0)


def describe_event(event: EventSpec) -> str:
    value = event.digits or event.outcome or event.recording
    return f"{event.kind} {value}" if value is not None else event.kind


def _event(spec: EventSpec, seq: int, at: datetime) -> Event:
    return Event(
        EventType(spec.kind),
        seq,
        at,
        digits=spec.digits or "",
        outcome=spec.outcome or "",
        recording=spec.recording or "",
    )


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


def run_scenario(compiled: CompiledDeployment, scenario: Scenario) -> Result:
    """Play one scenario and check everything it expects."""
    began = time.perf_counter()
    play = _Play(compiled, scenario)
    try:
        state = play.run()
        if state is not None and not any(f.what.startswith("event ") for f in play.failures):
            play.check_call(scenario.spec.expect, state)
    except Exception as error:  # one scenario that cannot be played must not stop the others
        play.fail("scenario", f"could not be played: {type(error).__name__}: {error}")
        state = None
    decisions = tuple(d.to_json() for d in play.decisions)
    return Result(
        scenario,
        tuple(play.failures),
        decisions,
        state.to_json() if state is not None else {},
        time.perf_counter() - began,
    )


def run_files(
    compiled: CompiledDeployment,
    files: Iterable[Path],
    *,
    match: str = "",
    min_coverage: float = 0.0,
) -> Report:
    """Read and play every scenario of these files (those whose name contains `match`);
    measure coverage over all of them."""
    report = Report(min_coverage=min_coverage)
    for path in files:
        scenarios, problems, text = read_scenarios(path, str(path))
        report.problems.extend(problems)
        report.sources[str(path)] = text
        chosen = [s for s in scenarios if match.lower() in s.name.lower()]
        report.results.extend(run_scenario(compiled, s) for s in chosen)
    index = build_index(compiled.deployment)
    report.coverage = measure(index, (r.trace for r in report.results))
    return report


def scenario_trace(compiled: CompiledDeployment, path: Path, name: str | None = None) -> list[str]:
    """The trace of one scenario of a file (by name; the first by default), for drawing its
    path. Raises ValueError saying what is wrong with the file or the name."""
    scenarios, problems, _ = read_scenarios(path, str(path))
    if problems:
        first = problems[0]
        raise ValueError(f"{first.span}: {first.code} {first.message}")
    chosen = [s for s in scenarios if name is None or s.name == name]
    if not chosen:
        names = "; ".join(s.name for s in scenarios) or "none"
        raise ValueError(f"no scenario named {name!r} in {path}; scenarios: {names}")
    return run_scenario(compiled, chosen[0]).trace


def run_deployment(compiled: CompiledDeployment, deployment: Path) -> Report:
    """Play the scenarios in the deployment's `scenarios/` folder."""
    return run_files(compiled, scenario_files(deployment))
