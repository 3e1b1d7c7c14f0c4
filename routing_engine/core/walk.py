"""The walk: the mutable scratchpad of one step of one call, from a call state and an event
to the next call state and decision.

It holds what the step has decided so far (actions, trace, awaited events, variables) and
answers what conditions and nodes ask of the call (`lookup`, targets' availability, schedules).
How it moves from node to node is visits.py; the events a waiting node takes, events.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from routing_engine.core.calls import CallState, Status, iso_utc
from routing_engine.core.compiled import (
    CBranch,
    CNode,
    CompiledDeployment,
    CTicket,
    CVoicemail,
    TargetInfo,
)
from routing_engine.core.geography import CallerInfo, caller_info
from routing_engine.core.schedules import CompiledSchedule
from routing_engine.core.story import story


class LoopGuard(Exception):
    """The call took more steps than the deployment's max_steps: a loop that never waits."""


# Live state, as snapshots the caller of `start`/`step` passes in, so the runtime stays pure:
# target name -> available now, or {"available": bool, "skills": [...]} (absent = as declared)
TargetStates = Mapping[str, bool | Mapping[str, Any]]
ScheduleOverrides = Mapping[str, str]  # schedule name -> "open" or "closed" (emergency override)


class Walk:
    """The mutable scratchpad of one step; turned into the next CallState and Decision."""

    __slots__ = (
        "actions",
        "at",
        "attempt",
        "awaits",
        "caller",
        "caller_gone_at",
        "compiled",
        "deadlines",
        "end_reason",
        "entered",
        "flow_now",
        "node",
        "overrides",
        "report_due",
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
        self.entered = state.entered
        self.flow_now = state.flow if state.node else ""  # a new call enters its first flow
        self.caller: CallerInfo | None = None
        # the caller hung up in wrap-up: nothing more is played to them (visits.go)
        self.caller_gone_at = state.caller_gone_at
        self.report_due = state.report_due

    # -- conditions read the call through this ------------------------------------------------
    def lookup(self, path: tuple[str, ...]) -> Any:
        """What a condition's name reads: `caller.state`, `dialed`, `vars.tries`, ..."""
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
        """Whether the target of that name is available now (an unknown name is not)."""
        return self.available(self.compiled.targets.get(name))

    def schedule(self, name: str) -> CompiledSchedule | None:
        """The deployment's schedule of that name, or None."""
        return self.compiled.schedules.get(name)

    def available(self, target: TargetInfo | None) -> bool:
        """Whether `target` is available now: as the live state says, else as declared."""
        if target is None:
            return False
        live = self.targets.get(target.name) if self.targets is not None else None
        if isinstance(live, Mapping):
            return bool(live.get("available", target.available))
        return target.available if live is None else bool(live)

    def skills(self, target: TargetInfo) -> frozenset[str]:
        """The skills `target` has now: as the live state says, else as declared."""
        live = self.targets.get(target.name) if self.targets is not None else None
        if isinstance(live, Mapping) and live.get("skills") is not None:
            return frozenset(live["skills"])
        return frozenset(target.skills)

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

    def admit(self, node: CNode) -> bool:
        """Count one more entry into a bounded node: False when its attempts are used up."""
        count = self.entered.get(node.label, 0)
        if count >= node.attempts:
            return False
        self.entered = {**self.entered, node.label: count + 1}
        return True

    def end(self, reason: str, note: str) -> None:
        """The call ends here, for `reason`; `note` (when given) says why in the trace."""
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

    def ticket(
        self, node: CTicket | CVoicemail, summary: str, recording: str = ""
    ) -> dict[str, Any]:
        """A ticket for the board. Its SLA, and its escalation steps, run from now, or from the
        next opening of the node's `sla_from` schedule. While that schedule is open, an `sla`
        runs from now (in the current open period), and without one the ticket is due when
        the schedule next opens after this open period, never at once."""
        start = self.at
        if node.sla_from is not None:
            schedule, override = node.sla_from, self.overrides.get(node.sla_from.name, "")
            if node.sla_s is None:
                start = schedule.next_opening(self.at, override) or self.at
            else:
                start = schedule.next_open(self.at, override) or self.at
        timed = node.sla_s is not None or node.sla_from is not None
        action: dict[str, Any] = {
            "type": "ticket",
            "board": node.board,
            "node": node.label,
            "caller": self.state.caller,
            "summary": summary or self.summary(),
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

    def summary(self) -> str:
        """A ticket's summary when its node gives none: who called where, and the last moves."""
        steps = [line.split(" -> ")[0] for line in self.trace if " -> " in line]
        return f"call from {self.state.caller} to {self.state.dialed}: " + "; ".join(steps[-6:])
