"""Decision cost in process: our compiled runtime against two hand-written if/else floors and
against SpiffWorkflow running the same process as BPMN.

The comparison is on the hospital's billing flow (branch on the caller's state, office hours,
ring the office, on no answer ring the overflow center; handled / needs-office / no-answer): its
scenarios (`examples/hospital/scenarios/billing.yaml`, the calls to the billing line) give the
mix of calls and events. Each engine is timed on what it produces at each step:

- runtime: the call state to persist and the whole decision the HTTP API sends (actions with
  the targets' JSON, timeouts, tickets with due times and escalations; awaited events; node;
  sequence number; fallback), plus its trace and the tickets' story read from it.
- hand-written-full (benchmarks/floor.py): the billing flow by hand, building the same reply and
  a small persisted state (node, seq, status, awaited events, ringing, attempt). It is the floor
  the goal compares with: the same work without an engine. It builds no trace, so no ticket
  story or summary either: the check leaves out exactly those three fields.
- hand-written-minimal: the routing logic alone, a 5-tuple per step (node, targets rung, ticket
  and voicemail boards, hangup) and no reply. Shown for reference; no goal uses it, as it does
  a fraction of the work.
- spiffworkflow: the process as BPMN, read for the same 5-tuple.

Before timing, a checker asserts all four decide the same 5-tuple at every step, and that the
full hand-written floor's reply equals the runtime's decision field by field (and its state the
runtime's call state on the fields it keeps). The compiled runtime is also timed on the whole
hospital's scenario mix, for reference.

    python -m benchmarks.decision [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.floor import (
    HandState,
    Reply,
    Signature,
    caller_kind,
    full_floor,
    minimal_play,
    office_open,
)
from routing_engine import load_deployment
from routing_engine.core.calls import CallState, Decision, Event, EventType, NewCall
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.runtime import start, step
from routing_engine.review.scenario_format import read_scenarios, scenario_files

ROOT = Path(__file__).resolve().parent.parent
HOSPITAL = ROOT / "examples" / "hospital"
BPMN = Path(__file__).resolve().parent / "hospital.bpmn"
BILLING_LINE = "+12125550140"


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
            kept = [e for e in spec.events if not (e.targets or e.overrides)]
            events = tuple(  # numbered as the runtime's decisions are: event n answers seq n
                Event(
                    EventType(e.kind),
                    n,
                    spec.call.at + timedelta(seconds=n),
                    digits=e.digits or "",
                    outcome=e.outcome or "",
                    recording=e.recording or "",
                )
                for n, e in enumerate(kept, start=1)
            )
            mix.append(Call(new, events))
    return mix


def signature(decision: Decision) -> Signature:
    """The runtime's decision as the engines are compared on."""
    return _signature(f"{decision.flow}/{decision.node}", decision.actions)


def _signature(node: str, actions: tuple[dict[str, Any], ...]) -> Signature:
    return (
        node,
        tuple(t["name"] for a in actions if a["type"] == "ring" for t in a["targets"]),
        tuple(a["board"] for a in actions if a["type"] == "ticket"),
        tuple(a["board"] for a in actions if a["type"] == "voicemail"),
        any(a["type"] == "hangup" for a in actions),
    )


@dataclass(frozen=True, slots=True)
class Engine:
    """An engine under test: `play` yields what it produces at each step of a call (timed as
    is); `signature` reads one step's product for the cross-engine check."""

    play: Callable[[Call], Iterator[Any]]
    signature: Callable[[Any], Signature]


# -- (a) the compiled runtime ------------------------------------------------------------------
def runtime_engine(compiled: CompiledDeployment) -> Engine:
    """The runtime yields (call state, decision) at each step. The mix's events carry the
    sequence numbers the runtime's decisions give."""

    def play(call: Call) -> Iterator[tuple[CallState, Decision]]:
        state, decision = start(compiled, call.call)
        yield state, decision
        for event in call.events:
            state, decision = step(compiled, state, event)
            yield state, decision

    return Engine(play, lambda made: signature(made[1]))


# -- (b) the floors: billing by hand (benchmarks/floor.py) -------------------------------------
def full_floor_engine(compiled: CompiledDeployment) -> Engine:
    """The full decision by hand: yields (reply, persisted state) at each step."""
    floor = full_floor(compiled)

    def play(call: Call) -> Iterator[tuple[Reply, HandState]]:
        return floor(call.call, call.events)

    return Engine(play, lambda made: _signature(f"billing/{made[0]['node']}", made[0]["actions"]))


def minimal_floor_engine() -> Engine:
    """Where the call goes by hand, nothing else: yields signatures."""

    def play(call: Call) -> Iterator[Signature]:
        return minimal_play(call.call, call.events)

    return Engine(play, lambda made: made)


# -- (c) SpiffWorkflow running benchmarks/hospital.bpmn ----------------------------------------
def spiff_engine() -> Engine:
    """SpiffWorkflow yields signatures: what it decides is read from its task data."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("billing")  # parsed once, as a server would

    def play(call: Call) -> Iterator[Signature]:
        kind, state = caller_kind(call.call)
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

    return Engine(play, lambda made: made)


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
def engines(compiled: CompiledDeployment) -> dict[str, Engine]:
    return {
        "runtime": runtime_engine(compiled),
        "hand-written-full": full_floor_engine(compiled),
        "hand-written-minimal": minimal_floor_engine(),
        "spiffworkflow": spiff_engine(),
    }


def check_identical(compiled: CompiledDeployment | None = None) -> int:
    """Assert that the engines decide the same at every step of the billing mix, and that the
    full hand-written floor gives the runtime's very reply and state; return the number of
    decisions compared."""
    compiled = compiled or load_deployment(HOSPITAL).compiled
    mix = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)
    players = engines(compiled)
    count = 0
    for call in mix:
        made = {name: list(engine.play(call)) for name, engine in players.items()}
        signatures = {name: [players[name].signature(m) for m in got] for name, got in made.items()}
        reference = signatures["runtime"]
        for name, got in signatures.items():
            if got != reference:
                raise AssertionError(f"{call.call.call_id}: {name} decided {got}, not {reference}")
        for (state, decision), (reply, hand) in zip(made["runtime"], made["hand-written-full"],
                                                    strict=True):  # fmt: skip
            _same_reply(call.call.call_id, decision, reply)
            _same_state(call.call.call_id, state, hand)
        count += len(reference)
    return count


# Left out of the full floor's comparison: the runtime's trace (the engine's explanation of its
# steps) and the two ticket fields read from it, `story` and `summary`.
NOT_BY_HAND = ("trace",)
NOT_BY_HAND_IN_TICKETS = ("story", "summary")


def _same_reply(call_id: str, decision: Decision, reply: Reply) -> None:
    """The hand-written reply against the runtime's decision, field by field."""
    fields = [name for name in Decision._fields if name not in NOT_BY_HAND]
    if sorted(reply) != sorted(fields):
        raise AssertionError(f"{call_id}: the hand-written reply has {sorted(reply)}")
    for name in fields:
        expected = getattr(decision, name)
        if name == "actions":
            expected = tuple(
                {k: v for k, v in a.items() if k not in NOT_BY_HAND_IN_TICKETS}
                if a["type"] == "ticket" else a
                for a in expected
            )  # fmt: skip
        if reply[name] != expected:
            raise AssertionError(f"{call_id}: by hand {name} = {reply[name]}, not {expected}")


def _same_state(call_id: str, state: CallState, hand: HandState) -> None:
    """What the hand-written server persists against the same fields of the call state."""
    pairs = {
        "call_id": (hand.call_id, state.call_id),
        "caller": (hand.caller, state.caller),
        "node": (hand.node, state.node),
        "seq": (hand.seq, state.seq),
        "status": (hand.status, state.status.value),
        "awaits": (hand.awaits, state.awaiting),
        "ringing": (hand.ringing, state.ringing),
        "attempt": (hand.attempt, state.attempt),
    }
    for name, (got, expected) in pairs.items():
        if got != expected:
            raise AssertionError(f"{call_id}: by hand the state's {name} is {got}, not {expected}")


def _time(play: Callable[[Call], Iterator[Any]], mix: list[Call], runs: int,
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
    for name, engine in engines(compiled).items():
        rounds_here = max(1, rounds // 20) if name == "spiffworkflow" else rounds
        runs_here = _time(engine.play, billing, runs, rounds_here)
        results.append(_result(f"decision/{name}", runs_here, note))
    everything = load_mix(scenario_files(HOSPITAL))
    count = sum(1 + len(c.events) for c in everything)
    hospital_note = f"whole hospital mix: {len(everything)} calls, {count} decisions"
    hospital_runs = _time(runtime_engine(compiled).play, everything, runs, max(1, rounds // 4))
    results.append(_result("decision/runtime-hospital", hospital_runs, hospital_note))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, small runs")
    results = run(parser.parse_args().quick)
    floor = next(r["median"] for r in results if r["name"] == "decision/hand-written-full")
    print(f"{'name':32} {'min':>10} {'median':>10} {'x full floor':>12}  note")
    for r in results:
        print(f"{r['name']:32} {r['min']:10.2f} {r['median']:10.2f} "
              f"{r['median'] / floor:12.1f}  {r['note']}")  # fmt: skip
    print("unit: us/decision")


if __name__ == "__main__":
    main()
