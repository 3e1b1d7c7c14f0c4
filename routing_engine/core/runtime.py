"""The runtime: `start` and `step`, pure functions from (compiled deployment, call state, event)
to (new call state, decision). No I/O, no clock: time arrives with the event.

A decision tells the telephony system what to do now (`actions`), which events may come back
(`await`), and what to do if it cannot reach us (`fallback`); `trace` says how it was reached.
Each reply replaces the remaining plan, as in jambonz, Vonage NCCO and FreeSWITCH httapi.
"""

from __future__ import annotations

from datetime import datetime

from routing_engine.core.calls import (
    CallState,
    Decision,
    Event,
    EventRejected,
    EventType,
    NewCall,
    Status,
    iso_utc,
)
from routing_engine.core.compiled import CBranch, CompiledDeployment
from routing_engine.core.decisions import Where, fallback, fallback_decision, finish, new_state
from routing_engine.core.events import dispatch
from routing_engine.core.visits import go
from routing_engine.core.walk import LoopGuard, ScheduleOverrides, TargetStates, Walk

# The call's data lives in calls.py, the live-state types in walk.py and the building of states
# and decisions in decisions.py: importing them from here still works.
__all__ = [
    "CallState",
    "Decision",
    "Event",
    "EventRejected",
    "EventType",
    "NewCall",
    "ScheduleOverrides",
    "Status",
    "TargetStates",
    "Where",
    "branch_case",
    "check_event",
    "end_wrap_up",
    "fallback_decision",
    "new_state",
    "start",
    "step",
]


def branch_case(compiled: CompiledDeployment, node: CBranch, call: NewCall) -> int | None:
    """Which case of a branch a new call (caller, dialed number, attributes, time) takes,
    as the runtime decides it: the index of the case, or None for else. For tools that ask
    without placing the call (the diff's sample callers)."""
    state = new_state(compiled, call, node.flow)._replace(node=node.id)
    return Walk(compiled, state, call.at, state.updated_at, None).case_taken(node)


def start(
    compiled: CompiledDeployment,
    call: NewCall,
    targets: TargetStates | None = None,
    overrides: ScheduleOverrides | None = None,
) -> tuple[CallState, Decision]:
    """A new call: find the flow for the dialed number and run it to the first wait."""
    found = compiled.entry(call.dialed)
    flow, first = found if found is not None else ("", None)
    state = new_state(compiled, call, flow)
    if first is None:
        return fallback(
            compiled, state, call.at, "no-entry", [f"no flow for dialed number {call.dialed}"]
        )
    walk = Walk(compiled, state, call.at, state.updated_at, targets, overrides)
    try:
        go(walk, first, f"entry {call.dialed}")
    except LoopGuard:
        return fallback(compiled, state, call.at, "loop-guard", walk.trace)
    return finish(walk, 1)


def check_event(state: CallState, event: Event) -> None:
    """Refuse an event that does not fit the call as it stands (raises EventRejected)."""
    if event.seq < state.seq:
        raise EventRejected(
            "stale-seq",
            f"event seq {event.seq} answers an old decision; the call is at seq {state.seq}",
        )
    if event.seq > state.seq:
        raise EventRejected(
            "future-seq", f"event seq {event.seq} is ahead of the call, which is at seq {state.seq}"
        )
    if state.status is Status.ENDED:
        raise EventRejected("ended", f"the call has ended ({state.end_reason or 'hangup'})")
    if state.wrapping_up and event.at >= datetime.fromisoformat(state.report_due):
        raise EventRejected(
            "wrap-up-over",
            f"the agent's report came after the wrap-up ended ({state.report_due}; the caller "
            f"hung up at {state.caller_gone_at}): {WRAP_UP_OVER}, the call ends",
        )
    if event.type.value not in state.awaiting:
        raise EventRejected(
            "unexpected-event",
            f"'{event.type.value}' is not awaited now; the call awaits {', '.join(state.awaiting)}",
        )


WRAP_UP_OVER = "the agent's report never came"


def end_wrap_up(state: CallState) -> CallState | None:
    """A call in wrap-up ended at its bound (`report_due`), the report never having come: the
    store's wrap-up timer ends it so. None when the call is not in wrap-up (it has ended, or
    moved on). The seq stays: a late report answers the same decision, and is refused as
    for an ended call."""
    if not state.wrapping_up:
        return None
    return state._replace(
        status=Status.ENDED,
        awaiting=(),
        updated_at=state.report_due,
        trace=(*state.trace, f"wrap-up ended at {state.report_due}: {WRAP_UP_OVER}"),
        end_reason=WRAP_UP_OVER,
    )


def step(
    compiled: CompiledDeployment,
    state: CallState,
    event: Event,
    targets: TargetStates | None = None,
    overrides: ScheduleOverrides | None = None,
) -> tuple[CallState, Decision]:
    """Apply one event to a call and decide what happens next."""
    if state.digest != compiled.digest:
        raise EventRejected(
            "wrong-version",
            f"the call is pinned to deployment version {state.digest[:12]}, not {compiled.version}",
        )
    check_event(state, event)
    node = compiled.nodes.get((state.flow, state.node))
    walk = Walk(compiled, state, event.at, iso_utc(event.at), targets, overrides)
    if node is None:
        return fallback(compiled, state, event.at, "unknown-node", walk.trace)
    try:
        dispatch(walk, node, event)
    except LoopGuard:
        return fallback(compiled, state, event.at, "loop-guard", walk.trace)
    return finish(walk, state.seq + 1)
