"""The runtime: `start` and `step`, pure functions from (compiled deployment, call state, event)
to (new call state, decision). No I/O, no clock: time arrives with the event.

A decision tells the telephony system what to do now (`actions`), which events may come back
(`await`), and what to do if it cannot reach us (`fallback`); `trace` says how it was reached.
Each reply replaces the remaining plan, as in jambonz, Vonage NCCO and FreeSWITCH httapi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from routing_engine.core.calls import (
    DIAL_OUTCOMES,
    CallState,
    Decision,
    Event,
    EventRejected,
    EventType,
    NewCall,
    Status,
    iso_utc,
)
from routing_engine.core.compiled import (
    AWAIT_CONNECTED,
    AWAIT_MENU,
    AWAIT_QUEUE,
    AWAIT_REPORTING,
    AWAIT_RING,
    AWAIT_VOICEMAIL,
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
    TargetInfo,
)
from routing_engine.core.geography import CallerInfo, caller_info
from routing_engine.core.schedules import HOLIDAY, OPEN, CompiledSchedule
from routing_engine.core.story import story

__all__ = [  # the call's data lives in calls.py; importing it from here still works
    "CallState",
    "Decision",
    "Event",
    "EventRejected",
    "EventType",
    "NewCall",
    "ScheduleOverrides",
    "Status",
    "TargetStates",
    "branch_case",
    "check_event",
    "fallback_decision",
    "new_state",
    "start",
    "step",
]


class _LoopGuard(Exception):
    pass


# Live state, as snapshots the caller of `start`/`step` passes in, so the runtime stays pure:
# target name -> available now, or {"available": bool, "skills": [...]} (absent = as declared)
TargetStates = Mapping[str, bool | Mapping[str, Any]]
ScheduleOverrides = Mapping[str, str]  # schedule name -> "open" or "closed" (emergency override)


# Where a walk goes from a node: the next node (None: the flow ends) and why, or None when the
# call stops at this node (it waits for an event, or has ended).
Moved = tuple[CNode | None, str] | None


class _Walk:
    """The mutable scratchpad of one step; turned into the next CallState and Decision."""

    __slots__ = (
        "actions",
        "at",
        "attempt",
        "awaits",
        "caller",
        "compiled",
        "deadlines",
        "end_reason",
        "flow_now",
        "node",
        "overrides",
        "ringing",
        "stamp",
        "state",
        "status",
        "steps",
        "targets",
        "trace",
        "variables",
    )

    def __init__(
        self,
        compiled: CompiledDeployment,
        state: CallState,
        at: datetime,
        stamp: str,
        targets: TargetStates | None,
        overrides: ScheduleOverrides | None = None,
    ):
        self.compiled = compiled
        self.state = state
        self.at = at
        self.stamp = stamp  # iso_utc(at), made once a step
        self.targets = targets
        self.overrides: ScheduleOverrides = overrides or {}
        self.actions: list[dict[str, Any]] = []
        self.trace: list[str] = list(state.trace)
        self.variables: Mapping[str, Any] = state.variables
        self.steps = state.steps
        self.status = state.status
        self.attempt = state.attempt
        self.awaits: tuple[str, ...] = state.awaiting
        self.node: CNode | None = compiled.nodes.get((state.flow, state.node))
        self.end_reason = state.end_reason
        self.ringing = state.ringing
        self.deadlines = state.deadlines
        self.flow_now = state.flow if state.node else ""  # a new call enters its first flow
        self.caller: CallerInfo | None = None

    # -- conditions read the call through this ------------------------------------------------
    def lookup(self, path: tuple[str, ...]) -> Any:
        root = path[0]
        if root == "caller":
            info = self.caller
            if info is None:  # looked up once a step: conditions often ask twice
                region = self.state.attributes.get("region", "")
                info = caller_info(self.state.caller, region if isinstance(region, str) else "")
                self.caller = info
            return getattr(info, path[1], "") if len(path) == 2 else None
        if root == "dialed":
            return self.state.dialed
        if root == "call":
            return self.state.call_id if path[1:] == ("id",) else None
        source = self.variables if root == "vars" else self.state.attributes
        value: Any = source
        for name in path[1:]:
            value = value.get(name) if isinstance(value, Mapping) else None
        return value

    def target_available(self, name: str) -> bool:
        return self.available(self.compiled.targets.get(name))

    def schedule(self, name: str) -> CompiledSchedule | None:
        return self.compiled.schedules.get(name)

    def available(self, target: TargetInfo | None) -> bool:
        if target is None:
            return False
        live = self.targets.get(target.name) if self.targets is not None else None
        if isinstance(live, Mapping):
            return bool(live.get("available", target.available))
        return target.available if live is None else bool(live)

    def skills(self, target: TargetInfo) -> frozenset[str]:
        live = self.targets.get(target.name) if self.targets is not None else None
        if isinstance(live, Mapping) and live.get("skills") is not None:
            return frozenset(live["skills"])
        return frozenset(target.skills)

    # -- walking ---------------------------------------------------------------------------------
    def go(self, node: CNode | None, why: str) -> None:
        """Move to `node` and run until the call waits for an event or ends."""
        while node is not None:
            self.steps += 1
            if self.steps > self.compiled.max_steps:
                raise _LoopGuard
            self.trace.append(f"{why} -> {node.label}")
            self.node, self.attempt = node, 0
            if node.flow != self.flow_now:
                self.enter(node.flow)
            moved = _VISIT[type(node)](self, node)
            if moved is None:  # the call waits for an event, or has ended
                return
            node, why = moved
        self.end("hangup", "the flow ends here")

    # Each kind of node, visited: where the call goes next and why, or None when it stops here.
    def _say(self, node: CSay) -> Moved:
        self.actions.append({"type": "say", "text": node.text})
        return node.next, f"say {node.id}"

    def _set(self, node: CSet) -> Moved:
        self.variables = {**self.variables, **dict(node.values)}
        return node.next, f"set {node.id}"

    def _use(self, node: CUse) -> Moved:
        return node.next, f"use {node.id}: module {node.module}"

    def _raise_ticket(self, node: CTicket) -> Moved:
        self.actions.append(self._ticket(node, node.summary))
        return node.next, f"ticket {node.id}"

    def _wait_menu(self, node: CMenu) -> Moved:
        self._menu(node, 1)
        return None

    def _wait_ring(self, node: CRing) -> Moved:
        return self._ring(node, 0)

    def _wait_queue(self, node: CQueue) -> Moved:
        self._queue(node)
        return None

    def _voicemail(self, node: CVoicemail) -> Moved:
        self.actions.append(
            {
                "type": "voicemail",
                "prompt": node.prompt,
                "board": node.board,
                "max_length_s": node.max_length_s,
            }
        )
        self.awaits = AWAIT_VOICEMAIL
        return None

    def _hangup(self, node: CHangup) -> Moved:
        self.end(node.reason or "hangup", "")
        return None

    def enter(self, flow: str) -> None:
        """The call enters `flow`: the first time, its `resolve_within` starts counting."""
        self.flow_now = flow
        limit = self.compiled.limits.get(flow)
        if limit is None or any(d["flow"] == flow for d in self.deadlines):
            return
        deadline = {
            "flow": flow,
            "after_s": limit.seconds,
            "due": iso_utc(self.at + timedelta(seconds=limit.seconds)),
            "notify": list(limit.notify),
            "seq": self.state.seq + 1,  # the decision this walk makes
        }
        self.deadlines = (*self.deadlines, deadline)

    def end(self, reason: str, note: str) -> None:
        self.actions.append({"type": "hangup", "reason": reason})
        if note:
            self.trace.append(note)
        self.status, self.awaits, self.end_reason = Status.ENDED, (), reason

    def case_taken(self, node: CBranch) -> int | None:
        """The index of the first case of a branch whose condition holds; None: else."""
        for i, (condition, _) in enumerate(node.cases):
            if condition.test(self):
                return i
        return None

    def _branch(self, node: CBranch) -> Moved:
        i = self.case_taken(node)
        if i is None:
            return node.otherwise, f"branch {node.id}: else"
        condition, to = node.cases[i]
        return to, f"branch {node.id}: when {condition.source} (case {i + 1})"

    def _hours(self, node: CHours) -> Moved:
        schedule = node.schedule
        if schedule is None:
            return node.closed, f"hours {node.id}: no schedule"
        state = schedule.state(self.at, self.overrides.get(schedule.name, ""))
        to = node.open if state == OPEN else node.holiday if state == HOLIDAY else node.closed
        why = f"{state} ({schedule.holiday_name(self.at)})" if state == HOLIDAY else state
        return to, f"hours {node.id}: {schedule.name} {why}"

    def _menu(self, node: CMenu, attempt: int) -> None:
        self.attempt = attempt
        self.actions.append(
            {
                "type": "menu",
                "prompt": node.prompt,
                "options": list(node.options),
                "max_digits": node.max_digits,
                "timeout_s": node.timeout_s,
                "attempt": attempt,
            }
        )
        self.awaits = AWAIT_MENU

    def _choose(self, node: CRing) -> tuple[TargetInfo, ...]:
        """The targets a ring node rings for this call: the available ones its preference picks,
        else its own."""
        if node.prefer_skills is None:
            return node.targets
        region = node.prefer_region
        if region == "caller":
            region = self.lookup(("caller", "region"))
            if not region:
                return node.targets
        picked = tuple(
            t
            for t in self.compiled.targets.values()
            if t.kind != "queue"
            and (not region or t.region == region)
            and node.prefer_skills <= self.skills(t)
            and self.available(t)
        )
        return picked or node.targets

    def _ring(self, node: CRing, start: int, last: str = "no-answer") -> Moved:
        """Ring from target `start` on; returns where to go instead when nobody can be rung
        (with `failed` when no target could ring at all, else `last`: the outcome of the last
        target that rang)."""
        if start == 0:
            targets = self._choose(node)
            self.ringing = tuple([t.name for t in targets])
        else:
            targets = tuple([self.compiled.targets[name] for name in self.ringing])
        if node.simultaneous:
            rung = [t for t in targets if self.available(t)] if start == 0 else []
            index = 0
        else:
            index = self._first_available(targets, start)
            rung = [targets[index]] if index >= 0 else []
        if not rung:
            outcome = "failed" if start == 0 else last
            to = node.on.get(outcome)
            problem = "no target available" if start == 0 else "nobody answered"
            why = f"ring {node.id}: {problem} ({outcome})"
            if to is None:
                self.end(outcome, f"{why}: no handler")
                return None
            return to, why
        self.attempt = index
        self.actions.append(
            {
                "type": "ring",
                "targets": [t.to_json() for t in rung],
                "timeout_s": node.timeout_s,
                "strategy": "simultaneous" if node.simultaneous else "sequential",
            }
        )
        self.awaits = AWAIT_RING
        return None

    def _first_available(self, targets: tuple[TargetInfo, ...], start: int) -> int:
        """The index of the first available target from `start` on, or -1."""
        for index in range(start, len(targets)):
            if self.available(targets[index]):
                return index
        return -1

    def _queue(self, node: CQueue) -> None:
        queue = node.queue
        self.actions.append(
            {
                "type": "queue",
                "queue": queue.to_json() if queue else None,
                "skills": list(node.skills),
                "priority": node.priority,
                "max_wait_s": node.max_wait_s,
                "region": self.lookup(("caller", "region"))
                if node.region == "caller"
                else node.region,
            }
        )
        self.awaits = AWAIT_QUEUE

    def _ticket(
        self, node: CTicket | CVoicemail, summary: str, recording: str = ""
    ) -> dict[str, Any]:
        """A ticket for the board. Its SLA, and its escalation steps, run from now, or from the
        next opening of the node's `sla_from` schedule (now, when it is open)."""
        start = self.at
        if node.sla_from is not None:
            override = self.overrides.get(node.sla_from.name, "")
            start = node.sla_from.next_open(self.at, override) or self.at
        timed = node.sla_s is not None or node.sla_from is not None
        action: dict[str, Any] = {
            "type": "ticket",
            "board": node.board,
            "node": node.label,
            "caller": self.state.caller,
            "summary": summary or self._summary(),
            "story": story(self.compiled, self.trace),  # what happened so far, in plain words
            "managers": list(node.managers),
            "sla_s": node.sla_s,
            "due": iso_utc(start + timedelta(seconds=node.sla_s or 0)) if timed else None,
            "escalations": [  # counted as the SLA is: from `start`
                {
                    "level": level,
                    "after_s": after_s,
                    "due": iso_utc(start + timedelta(seconds=after_s)),
                    "notify": list(notify),
                }
                for level, (after_s, notify) in enumerate(node.escalations, start=1)
            ],
        }
        if recording:
            action["recording"] = recording
        return action

    def _summary(self) -> str:
        steps = [line.split(" -> ")[0] for line in self.trace if " -> " in line]
        return f"call from {self.state.caller} to {self.state.dialed}: " + "; ".join(steps[-6:])


# Each kind of compiled node and how the walk visits it: one dict lookup a node, where a match
# on the node's class tests the kinds one by one (about 0.5 us a node for a ring).
_VISIT: dict[type[CNode], Callable[[_Walk, Any], Moved]] = {
    CSay: _Walk._say,
    CSet: _Walk._set,
    CBranch: _Walk._branch,
    CHours: _Walk._hours,
    CUse: _Walk._use,
    CTicket: _Walk._raise_ticket,
    CMenu: _Walk._wait_menu,
    CRing: _Walk._wait_ring,
    CQueue: _Walk._wait_queue,
    CVoicemail: _Walk._voicemail,
    CHangup: _Walk._hangup,
}


def _fallback(
    compiled: CompiledDeployment, state: CallState, at: datetime, reason: str, trace: list[str]
) -> tuple[CallState, Decision]:
    done = (*trace, f"fallback: {reason}")
    new = state._replace(
        status=Status.ENDED,
        seq=state.seq + 1,
        awaiting=(),
        updated_at=iso_utc(at),
        trace=done,
        end_reason=f"fallback: {reason}",
    )
    decision = Decision(
        state.call_id,
        new.seq,
        compiled.name,
        state.flow,
        state.node,
        compiled.digest,
        tuple(compiled.fallback["actions"]),
        (),
        compiled.fallback,
        done,
        reason,
    )
    return new, decision


def fallback_decision(
    compiled: CompiledDeployment, call_id: str, seq: int, reason: str
) -> dict[str, Any]:
    """The deployment's fallback as a whole decision, for when the engine could not decide
    (a fault, a deadline passed): what a telephony system does instead."""
    decision = Decision(
        call_id,
        seq,
        compiled.name,
        "",
        "",
        compiled.digest,
        tuple(compiled.fallback["actions"]),
        (),
        compiled.fallback,
        (f"fallback: {reason}",),
        reason,
    )
    return decision.to_json()


def _finish(walk: _Walk, seq: int) -> tuple[CallState, Decision]:
    """The walk's outcome: the next call state and the decision. The state is built whole,
    its fields in order (by keyword it takes twice as long, by `_replace` four times)."""
    state, node = walk.state, walk.node
    flow, node_id = (node.flow, node.id) if node is not None else (state.flow, state.node)
    trace = tuple(walk.trace)
    new = CallState(
        state.call_id,
        state.caller,
        state.dialed,
        state.deployment,
        state.digest,
        state.entry_flow,
        flow,
        node_id,
        walk.status,
        seq,
        walk.steps,
        walk.attempt,
        walk.awaits,
        walk.variables,
        state.attributes,
        state.started_at,
        walk.stamp,  # updated_at
        trace,
        walk.end_reason,
        walk.ringing,
        walk.deadlines,
    )
    decision = Decision(
        state.call_id,
        seq,
        walk.compiled.name,
        flow,
        node_id,
        walk.compiled.digest,
        tuple(walk.actions),
        walk.awaits,
        walk.compiled.fallback,
        trace,
    )
    return new, decision


def new_state(compiled: CompiledDeployment, call: NewCall, flow: str) -> CallState:
    """A call's state before its first step, entering `flow`."""
    at = iso_utc(call.at)
    return CallState(  # by position, as in _finish
        call.call_id,
        call.caller,
        call.dialed,
        compiled.name,
        compiled.digest,
        flow,  # entry_flow
        flow,
        "",  # node: none yet
        Status.ACTIVE,
        0,  # seq
        0,  # steps
        0,  # attempt
        (),  # awaiting
        {},  # variables
        dict(call.attributes),
        at,  # started_at
        at,  # updated_at
        (),  # trace
    )


def branch_case(compiled: CompiledDeployment, node: CBranch, call: NewCall) -> int | None:
    """Which case of a branch a new call (caller, dialed number, attributes, time) takes,
    as the runtime decides it: the index of the case, or None for else. For tools that ask
    without placing the call (the diff's sample callers)."""
    state = new_state(compiled, call, node.flow)._replace(node=node.id)
    return _Walk(compiled, state, call.at, state.updated_at, None).case_taken(node)


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
        return _fallback(
            compiled, state, call.at, "no-entry", [f"no flow for dialed number {call.dialed}"]
        )
    walk = _Walk(compiled, state, call.at, state.updated_at, targets, overrides)
    try:
        walk.go(first, f"entry {call.dialed}")
    except _LoopGuard:
        return _fallback(compiled, state, call.at, "loop-guard", walk.trace)
    return _finish(walk, 1)


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
    if event.type.value not in state.awaiting:
        raise EventRejected(
            "unexpected-event",
            f"'{event.type.value}' is not awaited now; the call awaits {', '.join(state.awaiting)}",
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
    walk = _Walk(compiled, state, event.at, iso_utc(event.at), targets, overrides)
    if node is None:
        return _fallback(compiled, state, event.at, "unknown-node", walk.trace)
    try:
        _dispatch(walk, node, event)
    except _LoopGuard:
        return _fallback(compiled, state, event.at, "loop-guard", walk.trace)
    return _finish(walk, state.seq + 1)


def _dispatch(walk: _Walk, node: CNode, event: Event) -> None:
    kind = event.type
    if kind is EventType.HANGUP:
        walk.status, walk.awaits, walk.end_reason = Status.ENDED, (), "caller hung up"
        walk.trace.append(f"{node.label}: caller hung up")
        return
    if walk.status is Status.CONNECTED:
        _connected(walk, node, event)
        return
    match node:
        case CMenu():
            _menu_event(walk, node, event)
        case CRing():
            _ring_event(walk, node, event)
        case CQueue():
            if kind is EventType.DIAL_ANSWERED:
                _answered(walk, node, node.reports, node.on, f"queue {node.id}")
            else:
                walk.go(node.on.get("timeout"), f"queue {node.id}: timeout")
        case CVoicemail():
            walk.actions.append(
                walk._ticket(node, f"voicemail from {walk.state.caller}", event.recording)
            )
            if node.next is None:
                walk.end("voicemail recorded", f"voicemail {node.id}: recorded, call ends")
            else:
                walk.go(node.next, f"voicemail {node.id}: recorded")
        case _:
            raise EventRejected("unexpected-event", f"node {node.label} awaits no events")


def _menu_event(walk: _Walk, node: CMenu, event: Event) -> None:
    if event.type is EventType.DIGITS:
        to = node.options.get(event.digits)
        if to is not None:
            walk.go(to, f"menu {node.id}: digit {event.digits}")
            return
        problem = f"no option '{event.digits}'"
    else:
        problem = "no input"
    attempt = walk.attempt + 1
    if attempt > node.retries + 1:
        walk.go(node.fallback, f"menu {node.id}: {problem}, retries used up")
        return
    walk.trace.append(f"menu {node.id}: {problem}, replay ({attempt} of {node.retries + 1})")
    walk._menu(node, attempt)


def _ring_event(walk: _Walk, node: CRing, event: Event) -> None:
    if event.type is EventType.DIAL_ANSWERED:
        _answered(walk, node, node.reports, node.on, f"ring {node.id}")
        return
    outcome = DIAL_OUTCOMES[event.type]
    if not node.simultaneous and walk.attempt + 1 < len(walk.ringing):
        ringing = walk.ringing[walk.attempt]
        walk.trace.append(f"ring {node.id}: {outcome} from {ringing}, next target")
        instead = walk._ring(node, walk.attempt + 1, outcome)
        if instead is None:
            return
        walk.go(*instead)
        return
    to = node.on.get(outcome)
    if to is None:
        walk.end(outcome, f"ring {node.id}: {outcome}, no handler")
        return
    walk.go(to, f"ring {node.id}: {outcome}")


def _answered(
    walk: _Walk, node: CNode, reports: frozenset[str], on: dict[str, CNode], what: str
) -> None:
    to = on.get("answered")
    if to is not None:
        walk.go(to, f"{what}: answered")
        return
    walk.status = Status.CONNECTED
    walk.awaits = AWAIT_REPORTING if reports else AWAIT_CONNECTED
    walk.trace.append(f"{what}: answered, connected")


def _connected(walk: _Walk, node: CNode, event: Event) -> None:
    reports = node.reports if isinstance(node, (CRing, CQueue)) else frozenset()
    on = node.on if isinstance(node, (CRing, CQueue)) else {}
    if event.outcome not in reports:
        raise EventRejected(
            "bad-event",
            f"outcome '{event.outcome}' is not one node {node.label} reports; "
            f"expected one of: {', '.join(sorted(reports))}",
        )
    walk.status = Status.ACTIVE
    walk.go(on.get(event.outcome), f"{node.label}: outcome {event.outcome}")
