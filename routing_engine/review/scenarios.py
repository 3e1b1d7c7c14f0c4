"""Scenario tests: play each scenario's call against a deployment with a fake clock and check
what it expects; measure the coverage all of them give together.

The call runs through the real runtime (`start`, `step`), exactly as the service would run it,
with the scenario's target states and schedule overrides as the live state. The clock starts
at the call's `at` and moves on with each event: by the event's `after`, or by the wait the
previous decision set up (a ring's timeout before `dial.no-answer`, and so on). The files are
read by `scenario_format`; what a scenario expects is checked by `scenario_checks`.
"""

from __future__ import annotations

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
from routing_engine.core.runtime import start, step
from routing_engine.review.coverage import Coverage, measure
from routing_engine.review.scenario_checks import Checks, Failure, cadence
from routing_engine.review.scenario_format import (
    EventSpec,
    Scenario,
    TargetState,
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
    """One scenario being played: the call, the live state, and its checks so far."""

    def __init__(self, compiled: CompiledDeployment, scenario: Scenario):
        self.compiled = compiled
        self.scenario = scenario
        self.checks = Checks(compiled, scenario)
        self.targets: dict[str, Any] = {}
        self.overrides: dict[str, str] = {}
        self.decisions: list[Decision] = []

    def live(self, targets: Mapping[str, bool | TargetState], path: tuple[str | int, ...]) -> None:
        known = self.compiled.targets
        for name, value in targets.items():
            if name not in known:
                hint = did_you_mean(name, known) or f"targets: {', '.join(known)}"
                self.checks.fail("targets", f"no target '{name}' in the deployment; {hint}", *path)
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
                self.checks.fail(
                    "overrides", f"no schedule '{name}' in the deployment; {hint}", *path
                )
            self.overrides[name] = value

    def run(self) -> CallState | None:
        spec = self.scenario.spec
        self.live(spec.targets, ("targets",))
        self.schedules(spec.overrides, ("overrides",))
        if self.checks.failures:
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
            self.checks.check_decision(
                spec.call.expect, decision, "the first decision", ("call", "expect")
            )
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
                self.checks.fail(what, f"refused ({refused.reason}): {refused.message}", *where)
                return state
            self.decisions.append(decision)
            if event.expect is not None:
                self.checks.check_decision(
                    event.expect, decision, f"the decision after {what}", (*where, "expect")
                )
        return state

    def advance(self, clock: datetime, event: EventSpec, decision: Decision) -> datetime:
        if event.after is not None:
            return clock + timedelta(seconds=event.after.seconds(cadence(self.compiled)))
        wait = _WAITS.get(event.kind)
        if wait is None:
            return clock
        kind, key = wait
        waited = [float(a.get(key) or 0) for a in decision.actions if a["type"] == kind]
        return clock + timedelta(seconds=waited[-1] if waited else 0.0)


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


def run_scenario(compiled: CompiledDeployment, scenario: Scenario) -> Result:
    """Play one scenario and check everything it expects."""
    began = time.perf_counter()
    play = _Play(compiled, scenario)
    try:
        state = play.run()
        failures = play.checks.failures
        if state is not None and not any(f.what.startswith("event ") for f in failures):
            play.checks.check_call(scenario.spec.expect, state, play.decisions)
    except Exception as error:  # one scenario that cannot be played must not stop the others
        play.checks.fail("scenario", f"could not be played: {type(error).__name__}: {error}")
        state = None
    decisions = tuple(d.to_json() for d in play.decisions)
    return Result(
        scenario,
        tuple(play.checks.failures),
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
