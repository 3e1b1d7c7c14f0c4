"""The hospital's billing flow written by hand, as plain if/else: the floors the compiled runtime
is measured against (see benchmarks/decision.py).

- `minimal_play` decides the route and says only where it went: a 5-tuple signature per step.
  It shows the cost of the routing logic alone; it builds no reply.
- `full_floor(compiled)` is what a competent engineer would write to serve the billing line
  without an engine: per event, the whole reply the telephony system gets (the actions with
  their target JSON, timeouts, ticket due times and escalations; the events awaited; the node;
  the sequence number; the deployment's version and fallback), and the small state a server
  persists between events. Constants (targets' JSON, prompts, timeouts) are built once, as a
  hand-written program would have them. It builds no trace: that is the engine's explanation
  of its steps, and the tickets' `story` and `summary` are read from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import holidays

from routing_engine.core.calls import Event, EventType, NewCall
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.geography import caller_info

# A decision as compared across engines: node, targets rung, ticket boards, voicemail boards,
# whether the call is hung up.
Signature = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]
Reply = dict[str, Any]  # the full decision, keyed as the runtime's Decision fields

_ZONE = ZoneInfo("America/New_York")
_HOLIDAYS = holidays.country_holidays("US")
_OPENS = time(8)


def office_open(at: datetime) -> bool:
    """office-hours: Monday to Friday 08:00-18:00 New York time, US federal holidays closed."""
    local = at.astimezone(_ZONE)
    return local.weekday() < 5 and 8 <= local.hour < 18 and local.date() not in _HOLIDAYS


def next_opening(at: datetime) -> datetime:
    """`at` when the office is open, else its next opening: 08:00 on the next working day."""
    if office_open(at):
        return at
    local = at.astimezone(_ZONE)
    day = local.date() if local.hour < 8 else local.date() + timedelta(days=1)
    while day.weekday() >= 5 or day in _HOLIDAYS:
        day += timedelta(days=1)
    return datetime.combine(day, _OPENS, tzinfo=_ZONE)


def caller_kind(call: NewCall) -> tuple[str, str]:
    """The caller's number type and state (the telephony system's region wins)."""
    info = caller_info(call.caller, str(call.attributes.get("region", "")))
    return info.type, info.state


def _is_new_york(call: NewCall) -> bool:
    kind, state = caller_kind(call)
    return kind == "geographic" and state == "NY"


# -- the minimal floor: where the call goes, nothing else -------------------------------------
def minimal_play(call: NewCall, events: tuple[Event, ...]) -> Iterator[Signature]:
    """The billing flow as plain if/else over a small state, yielding signatures only."""
    prefix, office = (
        ("new-york", "billing-ny") if _is_new_york(call) else ("central", "billing-central")
    )
    node = f"billing/{prefix}"
    if not office_open(call.at):
        yield (f"{node}.after-hours.take-message", (), (), ("billing",), False)
        at = "after-hours"
    else:
        yield (f"{node}.ring-office", (office,), (), (), False)
        at = "ring-office"
    for event in events:
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


# -- the full floor: the same reply and persisted state as the runtime -------------------------
RING = ("dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup")
RECORDING = ("recording.done", "hangup")
REPORTING = ("outcome", "hangup")
CONNECTED = ("hangup",)
SLA_S = 900.0  # 15 minutes: the office's tickets are due then
ESCALATE_S = 1800.0  # 30 minutes: the duty manager is told
MESSAGE = "Sorry, nobody can take your call right now. Please leave a message after the tone."
CLOSED = (
    "The Billing office is closed. Please leave a message and we will call you back when we open."
)
CALLBACK = "Thank you. The Billing office will call you back shortly."


class HandState(NamedTuple):
    """What a server persists between events of one call (a named tuple, as the runtime's
    CallState: immutable and quick to build)."""

    call_id: str
    caller: str
    prefix: str  # new-york or central
    node: str  # where the call waits, as the runtime names it
    seq: int
    status: str  # active, connected, ended
    awaits: tuple[str, ...]
    ringing: tuple[str, ...]
    attempt: int = 0


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ticket(state: HandState, node: str, at: datetime, sla_s: float | None) -> dict[str, Any]:
    """A ticket on the billing board, due `sla_s` from `at` (None: when the office opens)."""
    start = at if sla_s is not None else next_opening(at)
    return {
        "type": "ticket",
        "board": "billing",
        "node": f"billing/{state.prefix}.{node}",
        "caller": state.caller,
        "managers": ["billing-manager"],
        "sla_s": sla_s,
        "due": _utc(start + timedelta(seconds=sla_s or 0)),
        "escalations": [
            {
                "level": 1,
                "after_s": ESCALATE_S,
                "due": _utc(start + timedelta(seconds=ESCALATE_S)),
                "notify": ["duty-manager"],
            }
        ],
    }


def full_floor(
    compiled: CompiledDeployment,
) -> Callable[[NewCall, tuple[Event, ...]], Iterator[tuple[Reply, HandState]]]:
    """The billing flow by hand, yielding per step the reply and the state to persist. The
    deployment gives its constants: name, version, fallback and the targets' JSON."""
    name, digest, fallback = compiled.name, compiled.digest, compiled.fallback
    # the targets' JSON, once: (name, JSON) of each office, and of the overflow center
    offices = {
        prefix: (office, compiled.targets[office].to_json())
        for prefix, office in (("new-york", "billing-ny"), ("central", "billing-central"))
    }
    overflow = compiled.targets["offshore-center"].to_json()

    def reply(state: HandState, actions: tuple[dict[str, Any], ...]) -> Reply:
        return {
            "call_id": state.call_id,
            "seq": state.seq,
            "deployment": name,
            "flow": "billing",
            "node": state.node,
            "digest": digest,
            "actions": actions,
            "awaits": state.awaits,
            "fallback": fallback,
            "fallback_reason": None,
        }

    def first(call: NewCall) -> tuple[Reply, HandState]:
        prefix = "new-york" if _is_new_york(call) else "central"
        if office_open(call.at):
            office, target = offices[prefix]
            state = HandState(call.call_id, call.caller, prefix, f"{prefix}.ring-office", 1,
                              "active", RING, (office,))  # fmt: skip
            ring = {"type": "ring", "targets": [target], "timeout_s": 12.0,  # 2 rings
                    "strategy": "sequential"}  # fmt: skip
            return reply(state, (ring,)), state
        state = HandState(call.call_id, call.caller, prefix, f"{prefix}.after-hours.take-message",
                          1, "active", RECORDING, ())  # fmt: skip
        voicemail = {"type": "voicemail", "prompt": CLOSED, "board": "billing",
                     "max_length_s": 120.0}  # fmt: skip
        return reply(state, (voicemail,)), state

    def then(state: HandState, event: Event) -> tuple[Reply, HandState]:
        if event.seq != state.seq or event.type.value not in state.awaits:
            raise ValueError(f"{state.call_id}: event {event.type.value} does not fit")
        prefix, seq = state.prefix, state.seq + 1
        where = state.node.removeprefix(f"{prefix}.")
        kind = event.type
        if kind is EventType.HANGUP:
            new = HandState(state.call_id, state.caller, prefix, state.node, seq, "ended", (),
                            state.ringing, state.attempt)  # fmt: skip
            return reply(new, ()), new
        if where == "ring-office" and kind is EventType.DIAL_ANSWERED:
            new = HandState(state.call_id, state.caller, prefix, state.node, seq, "connected",
                            CONNECTED, state.ringing)  # fmt: skip
            return reply(new, ()), new
        if where == "ring-office":  # no answer, busy or failed: the overflow center
            new = HandState(state.call_id, state.caller, prefix, f"{prefix}.ring-overflow", seq,
                            "active", RING, ("offshore-center",))  # fmt: skip
            ring = {"type": "ring", "targets": [overflow], "timeout_s": 30.0,
                    "strategy": "sequential", "reports": ["handled", "needs-office"]}  # fmt: skip
            return reply(new, (ring,)), new
        if where == "ring-overflow" and state.status == "connected":
            return reported(state, seq, event)
        if where == "ring-overflow" and kind is EventType.DIAL_ANSWERED:
            new = HandState(state.call_id, state.caller, prefix, state.node, seq, "connected",
                            REPORTING, state.ringing)  # fmt: skip
            return reply(new, ()), new
        if where == "ring-overflow":
            new = HandState(state.call_id, state.caller, prefix, f"{prefix}.take-message", seq,
                            "active", RECORDING, state.ringing)  # fmt: skip
            voicemail = {"type": "voicemail", "prompt": MESSAGE, "board": "billing",
                         "max_length_s": 120.0}  # fmt: skip
            return reply(new, (voicemail,)), new
        # a message recorded: a ticket (after hours, due at the opening), and the call ends
        ticket = _ticket(state, where, event.at, SLA_S if where == "take-message" else None)
        ticket["recording"] = event.recording
        new = HandState(state.call_id, state.caller, prefix, state.node, seq, "ended", (),
                        state.ringing)  # fmt: skip
        return reply(new, (ticket, {"type": "hangup", "reason": "voicemail recorded"})), new

    def reported(state: HandState, seq: int, event: Event) -> tuple[Reply, HandState]:
        """The overflow agent's outcome: handled ends the call; needs-office raises a ticket."""
        if event.outcome not in ("handled", "needs-office"):
            raise ValueError(f"{state.call_id}: unknown outcome {event.outcome}")
        new = HandState(state.call_id, state.caller, state.prefix, f"{state.prefix}.done", seq,
                        "ended", (), state.ringing)  # fmt: skip
        hangup = {"type": "hangup", "reason": "hangup"}
        if event.outcome == "handled":
            return reply(new, (hangup,)), new
        ticket = _ticket(state, "office-ticket", event.at, SLA_S)
        return reply(new, (ticket, {"type": "say", "text": CALLBACK}, hangup)), new

    def play(call: NewCall, events: tuple[Event, ...]) -> Iterator[tuple[Reply, HandState]]:
        reply_now, state = first(call)
        yield reply_now, state
        for event in events:
            reply_now, state = then(state, event)
            yield reply_now, state

    return play
