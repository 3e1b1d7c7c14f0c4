"""The events a waiting node takes: digits at a menu, dial outcomes at a ring or queue, a
recording at a voicemail, the outcome a connected party reports, and a hangup anywhere.

A hangup while connected at a node that takes reports does not end the call: the agent's
report usually comes after the caller hangs up (wrap-up). The call notes the caller gone and
awaits only `outcome`, until the deployment's `wrap_up` has passed; the outcome then walks on
with nothing more played to the caller (visits.go).
"""

from __future__ import annotations

from datetime import timedelta

from routing_engine.core.calls import (
    DIAL_OUTCOMES,
    Event,
    EventRejected,
    EventType,
    Status,
    iso_utc,
)
from routing_engine.core.compiled import CMenu, CNode, CQueue, CRing, CVoicemail
from routing_engine.core.visits import (
    AWAIT_CONNECTED,
    AWAIT_REPORTING,
    AWAIT_WRAP_UP,
    go,
    menu,
    ring,
)
from routing_engine.core.walk import Walk


def dispatch(walk: Walk, node: CNode, event: Event) -> None:
    """Apply `event` to `node`, where the call waits, and walk on from there. Raises
    EventRejected when the node takes no events."""
    kind = event.type
    if kind is EventType.HANGUP:
        if walk.status is Status.CONNECTED and _reports(node):
            _wrap_up(walk, node)
            return
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
                go(walk, node.on.get("timeout"), f"queue {node.id}: timeout")
        case CVoicemail():
            walk.actions.append(
                walk.ticket(node, f"voicemail from {walk.state.caller}", event.recording)
            )
            if node.next is None:
                walk.end("voicemail recorded", f"voicemail {node.id}: recorded, call ends")
            else:
                go(walk, node.next, f"voicemail {node.id}: recorded")
        case _:
            raise EventRejected("unexpected-event", f"node {node.label} awaits no events")


def _menu_event(walk: Walk, node: CMenu, event: Event) -> None:
    if event.type is EventType.DIGITS:
        to = node.options.get(event.digits)
        if to is not None:
            go(walk, to, f"menu {node.id}: digit {event.digits}")
            return
        problem = f"no option '{event.digits}'"
    else:
        problem = "no input"
    attempt = walk.attempt + 1
    if attempt > node.retries + 1:
        go(walk, node.fallback, f"menu {node.id}: {problem}, retries used up")
        return
    walk.trace.append(f"menu {node.id}: {problem}, replay ({attempt} of {node.retries + 1})")
    menu(walk, node, attempt)


def _ring_event(walk: Walk, node: CRing, event: Event) -> None:
    if event.type is EventType.DIAL_ANSWERED:
        _answered(walk, node, node.reports, node.on, f"ring {node.id}")
        return
    outcome = DIAL_OUTCOMES[event.type]
    if not node.simultaneous and walk.attempt + 1 < len(walk.ringing):
        ringing = walk.ringing[walk.attempt]
        walk.trace.append(f"ring {node.id}: {outcome} from {ringing}, next target")
        instead = ring(walk, node, walk.attempt + 1, outcome)
        if instead is None:
            return
        go(walk, *instead)
        return
    to = node.on.get(outcome)
    if to is None:
        walk.end(outcome, f"ring {node.id}: {outcome}, no handler")
        return
    go(walk, to, f"ring {node.id}: {outcome}")


def _answered(
    walk: Walk, node: CNode, reports: tuple[str, ...], on: dict[str, CNode], what: str
) -> None:
    to = on.get("answered")
    if to is not None:
        go(walk, to, f"{what}: answered")
        return
    walk.status = Status.CONNECTED
    walk.awaits = AWAIT_REPORTING if reports else AWAIT_CONNECTED
    walk.trace.append(f"{what}: answered, connected")


def _reports(node: CNode) -> tuple[str, ...]:
    """What the party a node connects may report (none but at a ring or queue)."""
    return node.reports if isinstance(node, (CRing, CQueue)) else ()


def _wrap_up(walk: Walk, node: CNode) -> None:
    """The caller hung up while the agent still has to report: the call stays connected and
    awaits only the report, until the deployment's `wrap_up` has passed."""
    due = iso_utc(walk.at + timedelta(seconds=walk.compiled.wrap_up_s))
    walk.caller_gone_at, walk.report_due, walk.awaits = walk.stamp, due, AWAIT_WRAP_UP
    walk.trace.append(f"{node.label}: caller hung up; awaiting the agent's report (until {due})")


def _connected(walk: Walk, node: CNode, event: Event) -> None:
    reports = _reports(node)
    on = node.on if isinstance(node, (CRing, CQueue)) else {}
    if event.outcome not in reports:
        raise EventRejected(
            "bad-event",
            f"outcome '{event.outcome}' is not one node {node.label} reports; "
            f"expected one of: {', '.join(sorted(reports))}",
        )
    walk.status = Status.ACTIVE
    go(walk, on.get(event.outcome), f"{node.label}: outcome {event.outcome}")
