"""Decision cost in process: our compiled runtime against a hand-written if/else (the floor)
and against SpiffWorkflow running the same process as BPMN.

The comparison is on the hospital's billing flow (branch on the caller's state, office hours,
ring the office, on no answer ring the overflow center; handled / needs-office / no-answer): its
scenarios (`examples/hospital/scenarios/billing.yaml`, the calls to the billing line) give the
mix of calls and events. Before timing, a checker asserts the three engines make identical
decisions (node reached, targets rung, ticket and voicemail boards, hangup) at every step.
The compiled runtime is also timed on the whole hospital's scenario mix, for reference.

    python -m benchmarks.decision [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from routing_engine import load_deployment
from routing_engine.calls import Decision, Event, EventType, NewCall
from routing_engine.compile import CompiledDeployment
from routing_engine.geography import caller_info
from routing_engine.runtime import start, step
from routing_engine.scenario_format import read_scenarios, scenario_files

ROOT = Path(__file__).resolve().parent.parent
HOSPITAL = ROOT / "examples" / "hospital"
BPMN = Path(__file__).resolve().parent / "hospital.bpmn"
BILLING_LINE = "+12125550140"

# A decision as compared across engines: node, targets rung, ticket boards, voicemail boards,
# whether the call is hung up.
Signature = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]


@dataclass(frozen=True, slots=True)
class Call:
    """One call of the mix: how it arrives and the events it then gets."""

    call: NewCall
    events: tuple[Event, ...]


def load_mix(files: list[Path], dialed: str | None = None) -> list[Call]:
    """The calls and events of these scenario files (only calls to `dialed`, if given)."""
    mix: list[Call] = []
    for path in files:
        scenarios, problems, _ = read_scenarios(path, path.name)
        if problems:
            raise ValueError(f"{path.name}: {problems[0].message}")
        for scenario in scenarios:
            spec = scenario.spec
            if (dialed and spec.call.dialed != dialed) or spec.targets or spec.overrides:
                continue
            call_id = f"{path.stem}-{scenario.index}"
            new = NewCall(call_id, spec.call.caller, spec.call.dialed, spec.call.at,
                          dict(spec.call.attributes))  # fmt: skip
            events = tuple(
                Event(
                    EventType(e.kind),
                    n,
                    spec.call.at + timedelta(seconds=n),
                    digits=e.digits or "",
                    outcome=e.outcome or "",
                    recording=e.recording or "",
                )
                for n, e in enumerate(spec.events, start=1)
                if not (e.targets or e.overrides)
            )
            mix.append(Call(new, events))
    return mix


def signature(decision: Decision) -> Signature:
    actions = decision.actions
    return (
        f"{decision.flow}/{decision.node}",
        tuple(t["name"] for a in actions if a["type"] == "ring" for t in a["targets"]),
        tuple(a["board"] for a in actions if a["type"] == "ticket"),
        tuple(a["board"] for a in actions if a["type"] == "voicemail"),
        any(a["type"] == "hangup" for a in actions),
    )


# -- (a) the compiled runtime ------------------------------------------------------------------
def runtime_engine(compiled: CompiledDeployment) -> Callable[[Call], Iterator[Signature]]:
    def play(call: Call) -> Iterator[Signature]:
        state, decision = start(compiled, call.call)
        yield signature(decision)
        for event in call.events:
            state, decision = step(compiled, state, _seq(event, state.seq))
            yield signature(decision)

    return play


def _seq(event: Event, seq: int) -> Event:
    return Event(event.type, seq, event.at, event.digits, event.outcome, event.recording)


# -- (b) the floor: billing by hand ------------------------------------------------------------
_ZONE = ZoneInfo("America/New_York")
_HOLIDAYS = holidays.country_holidays("US")


def office_open(at: datetime) -> bool:
    """office-hours: Monday to Friday 08:00-18:00 New York time, US federal holidays closed."""
    local = at.astimezone(_ZONE)
    return local.weekday() < 5 and 8 <= local.hour < 18 and local.date() not in _HOLIDAYS


def _caller(call: NewCall) -> tuple[str, str]:
    info = caller_info(call.caller, str(call.attributes.get("region", "")))
    return info.type, info.state


def floor_play(call: Call) -> Iterator[Signature]:
    """The billing flow as plain if/else over a small state."""
    kind, state = _caller(call.call)
    prefix, office = (
        ("new-york", "billing-ny")
        if kind == "geographic" and state == "NY"
        else ("central", "billing-central")
    )
    node = f"billing/{prefix}"
    if not office_open(call.call.at):
        yield (f"{node}.after-hours.take-message", (), (), ("billing",), False)
        at = "after-hours"
    else:
        yield (f"{node}.ring-office", (office,), (), (), False)
        at = "ring-office"
    for event in call.events:
        match at, event.type:
            case ("after-hours" | "take-message", EventType.RECORDING_DONE):
                where = "after-hours.take-message" if at == "after-hours" else "take-message"
                yield (f"{node}.{where}", (), ("billing",), (), True)
            case "ring-office", EventType.DIAL_ANSWERED:
                at = "office-connected"
                yield (f"{node}.ring-office", (), (), (), False)
            case "ring-office", _:
                at = "ring-overflow"
                yield (f"{node}.ring-overflow", ("offshore-center",), (), (), False)
            case "ring-overflow", EventType.DIAL_ANSWERED:
                at = "overflow-connected"
                yield (f"{node}.ring-overflow", (), (), (), False)
            case "ring-overflow", _:
                at = "take-message"
                yield (f"{node}.take-message", (), (), ("billing",), False)
            case "overflow-connected", EventType.OUTCOME if event.outcome == "needs-office":
                yield (f"{node}.done", (), ("billing",), (), True)
            case _:
                yield (f"{node}.done", (), (), (), True)


# -- (c) SpiffWorkflow running benchmarks/hospital.bpmn ----------------------------------------
def spiff_engine() -> Callable[[Call], Iterator[Signature]]:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("billing")  # parsed once, as a server would

    def play(call: Call) -> Iterator[Signature]:
        kind, state = _caller(call.call)
        workflow = BpmnWorkflow(spec)
        first = workflow.get_next_task(state=TaskState.READY)
        first.data.update(caller_type=kind, caller_state=state,
                          hours_open=office_open(call.call.at))  # fmt: skip
        workflow.do_engine_steps()
        task = workflow.get_next_task(state=TaskState.READY, manual=True)
        data = task.data
        yield _spiff_signature(task.task_spec.bpmn_id, data, None)
        for event in call.events:
            match event.type:
                case EventType.DIAL_ANSWERED:
                    task.data["dial"] = "answered"
                case EventType.OUTCOME:
                    task.data["reported"] = event.outcome
                case _:
                    task.data["dial"] = event.type.value.removeprefix("dial.")
            was = task.task_spec.bpmn_id
            task.run()
            workflow.do_engine_steps()
            if workflow.is_completed():
                yield _spiff_signature(was, workflow.data, workflow.data["end"])
                return
            task = workflow.get_next_task(state=TaskState.READY, manual=True)
            yield _spiff_signature(task.task_spec.bpmn_id, task.data, None)

    return play


_WAITING = {  # the user task the process waits in -> node suffix, rings the office/overflow
    "ring_office": ("ring-office", "office"),
    "ring_overflow": ("ring-overflow", "offshore-center"),
    "office_connected": ("ring-office", ""),
    "overflow_connected": ("ring-overflow", ""),
}


def _spiff_signature(task: str, data: dict[str, Any], end: str | None) -> Signature:
    node = f"billing/{data['prefix']}"
    match end, task:
        case None, "take_message":
            return (f"{node}.take-message", (), (), ("billing",), False)
        case None, "after_hours":
            return (f"{node}.after-hours.take-message", (), (), ("billing",), False)
        case None, _:
            where, ring = _WAITING[task]
            rung = (data["office"],) if ring == "office" else (ring,) if ring else ()
            return (f"{node}.{where}", rung, (), (), False)
        case "message", _:
            return (f"{node}.take-message", (), ("billing",), (), True)
        case "after-hours", _:
            return (f"{node}.after-hours.take-message", (), ("billing",), (), True)
        case "needs-office", _:
            return (f"{node}.done", (), ("billing",), (), True)
    return (f"{node}.done", (), (), (), True)


# -- checking and timing -----------------------------------------------------------------------
def engines(compiled: CompiledDeployment) -> dict[str, Callable[[Call], Iterator[Signature]]]:
    return {
        "runtime": runtime_engine(compiled),
        "hand-written": floor_play,
        "spiffworkflow": spiff_engine(),
    }


def check_identical(compiled: CompiledDeployment | None = None) -> int:
    """Assert that the three engines decide the same at every step of the billing mix;
    return the number of decisions compared."""
    compiled = compiled or load_deployment(HOSPITAL).compiled
    mix = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)
    players = engines(compiled)
    count = 0
    for call in mix:
        results = {name: list(play(call)) for name, play in players.items()}
        reference = results["runtime"]
        for name, got in results.items():
            if got != reference:
                raise AssertionError(f"{call.call.call_id}: {name} decided {got}, not {reference}")
        count += len(reference)
    return count


def _time(play: Callable[[Call], Iterator[Signature]], mix: list[Call], runs: int,
          rounds: int) -> list[float]:  # fmt: skip
    decisions = sum(1 + len(c.events) for c in mix) * rounds
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        for _ in range(rounds):
            for call in mix:
                for _ in play(call):
                    pass
        samples.append((time.perf_counter() - began) / decisions * 1e6)
    return samples


def _result(name: str, runs: list[float], note: str) -> dict[str, Any]:
    return {"name": name, "unit": "us/decision", "runs": runs, "min": min(runs),
            "median": statistics.median(runs), "note": note}  # fmt: skip


def run(quick: bool) -> list[dict[str, Any]]:
    """Check identical decisions, then time each engine on the billing mix (and the runtime
    on the whole hospital mix). Ratios are left to the caller."""
    compiled = load_deployment(HOSPITAL).compiled
    compared = check_identical(compiled)
    billing = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)
    runs, rounds = (3, 20) if quick else (7, 200)
    note = f"billing flow mix: {len(billing)} calls, {compared} decisions, checked identical"
    results = []
    for name, play in engines(compiled).items():
        rounds_here = max(1, rounds // 20) if name == "spiffworkflow" else rounds
        results.append(_result(f"decision/{name}", _time(play, billing, runs, rounds_here), note))
    everything = load_mix(scenario_files(HOSPITAL))
    count = sum(1 + len(c.events) for c in everything)
    hospital_note = f"whole hospital mix: {len(everything)} calls, {count} decisions"
    hospital_runs = _time(runtime_engine(compiled), everything, runs, max(1, rounds // 4))
    results.append(_result("decision/runtime-hospital", hospital_runs, hospital_note))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, small runs")
    results = run(parser.parse_args().quick)
    floor = next(r["median"] for r in results if r["name"] == "decision/hand-written")
    print(f"{'name':32} {'min':>10} {'median':>10} {'x floor':>8}  note")
    for r in results:
        print(f"{r['name']:32} {r['min']:10.2f} {r['median']:10.2f} "
              f"{r['median'] / floor:8.1f}  {r['note']}")  # fmt: skip
    print("unit: us/decision")


if __name__ == "__main__":
    main()
