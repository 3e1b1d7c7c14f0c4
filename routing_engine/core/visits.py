"""How a walk moves through compiled nodes: `go`, and each node kind's visit.

A visit does what its node does (an action for the telephony system, variables, a ticket) and
says where the call goes next and why, or that it stops there: it waits for an event (menu,
ring, queue, voicemail) or has ended. VISIT holds one visit a compiled node class and is
checked complete when this module loads, so a kind without a visit fails at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routing_engine.core.compiled import (
    COMPILED,
    CBranch,
    CHangup,
    CHours,
    CMenu,
    CNode,
    CQueue,
    CRing,
    CSay,
    CSet,
    CTicket,
    CUse,
    CVoicemail,
    TargetInfo,
)
from routing_engine.core.edges import EXHAUSTED
from routing_engine.core.nodes import require_every_kind
from routing_engine.core.schedules import HOLIDAY, OPEN
from routing_engine.core.walk import LoopGuard, Walk

# The events each waiting node awaits (a decision's `await`).
AWAIT_MENU = ("digits", "no-input", "hangup")
AWAIT_RING = ("dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup")
AWAIT_QUEUE = ("dial.answered", "queue.timeout", "hangup")
AWAIT_VOICEMAIL = ("recording.done", "hangup")
AWAIT_CONNECTED = ("hangup",)
AWAIT_REPORTING = ("outcome", "hangup")
AWAIT_WRAP_UP = ("outcome",)  # the caller hung up; the agent's report is still to come

# The nodes that play to or ring the caller: once the caller has hung up (wrap-up), the first
# the walk reaches ends the call instead.
MEETS_CALLER: frozenset[type[CNode]] = frozenset({CSay, CMenu, CRing, CQueue, CVoicemail})

# The word a bounded node's kind has in the trace.
BOUNDED: dict[type[CNode], str] = {CMenu: "menu", CRing: "ring", CQueue: "queue"}

# Where a walk goes from a node: the next node (None: the flow ends) and why, or None when the
# call stops at this node (it waits for an event, or has ended).
Moved = tuple[CNode | None, str] | None


def go(walk: Walk, node: CNode | None, why: str) -> None:
    """Move to `node` and run until the call waits for an event or ends."""
    while node is not None:
        walk.steps += 1
        if walk.steps > walk.compiled.max_steps:
            raise LoopGuard
        if node.attempts and not walk.admit(node):  # entered `attempts` times already
            kind = BOUNDED[type(node)]
            why = f"{kind} {node.id}: {EXHAUSTED} ({node.attempts} attempts used up)"
            node = node.exhausted
            continue
        walk.trace.append(f"{why} -> {node.label}")
        walk.node, walk.attempt = node, 0
        if node.flow != walk.flow_now:
            walk.enter(node.flow)
        if walk.caller_gone_at and type(node) in MEETS_CALLER:
            walk.end("caller had hung up", f"{node.label}: caller had hung up; the call ends")
            return
        moved = VISIT[type(node)](walk, node)
        if moved is None:  # the call waits for an event, or has ended
            return
        node, why = moved
    walk.end("hangup", "the flow ends here")


# -- the nodes that go on at once ---------------------------------------------------------------


def _say(walk: Walk, node: CSay) -> Moved:
    walk.actions.append({"type": "say", "text": node.text})
    return node.next, f"say {node.id}"


def _set(walk: Walk, node: CSet) -> Moved:
    walk.variables = {**walk.variables, **dict(node.values)}
    return node.next, f"set {node.id}"


def _use(walk: Walk, node: CUse) -> Moved:
    return node.next, f"use {node.id}: module {node.module}"


def _ticket(walk: Walk, node: CTicket) -> Moved:
    walk.actions.append(walk.ticket(node, node.summary))
    return node.next, f"ticket {node.id}"


def _branch(walk: Walk, node: CBranch) -> Moved:
    i = walk.case_taken(node)
    if i is None:
        return node.otherwise, f"branch {node.id}: else"
    condition, to = node.cases[i]
    return to, f"branch {node.id}: when {condition.source} (case {i + 1})"


def _hours(walk: Walk, node: CHours) -> Moved:
    schedule = node.schedule
    if schedule is None:
        return node.closed, f"hours {node.id}: no schedule"
    state = schedule.state(walk.at, walk.overrides.get(schedule.name, ""))
    to = node.open if state == OPEN else node.holiday if state == HOLIDAY else node.closed
    why = f"{state} ({schedule.holiday_name(walk.at)})" if state == HOLIDAY else state
    return to, f"hours {node.id}: {schedule.name} {why}"


def _hangup(walk: Walk, node: CHangup) -> Moved:
    walk.end(node.reason or "hangup", "")
    return None


# -- the nodes that wait for an event -----------------------------------------------------------


def menu(walk: Walk, node: CMenu, attempt: int) -> None:
    """Play a menu's prompt (its `attempt`th time) and wait for digits."""
    walk.attempt = attempt
    walk.actions.append(
        {
            "type": "menu",
            "prompt": node.prompt,
            "options": list(node.options),
            "max_digits": node.max_digits,
            "timeout_s": node.timeout_s,
            "attempt": attempt,
        }
    )
    walk.awaits = AWAIT_MENU


def _menu(walk: Walk, node: CMenu) -> Moved:
    menu(walk, node, 1)
    return None


def _choose(walk: Walk, node: CRing) -> tuple[TargetInfo, ...]:
    """The targets a ring node rings for this call: the available ones its preference picks,
    else its own."""
    if node.prefer_skills is None:
        return node.targets
    region = node.prefer_region
    if region == "caller":
        region = walk.lookup(("caller", "region"))
        if not region:
            return node.targets
    picked = tuple(
        t
        for t in walk.compiled.targets.values()
        if t.kind != "queue"
        and (not region or t.region == region)
        and node.prefer_skills <= walk.skills(t)
        and walk.available(t)
    )
    return picked or node.targets


def _first_available(walk: Walk, targets: tuple[TargetInfo, ...], start: int) -> int:
    """The index of the first available target from `start` on, or -1."""
    for index in range(start, len(targets)):
        if walk.available(targets[index]):
            return index
    return -1


def ring(walk: Walk, node: CRing, start: int, last: str = "no-answer") -> Moved:
    """Ring from target `start` on; returns where to go instead when nobody can be rung
    (with `failed` when no target could ring at all, else `last`: the outcome of the last
    target that rang)."""
    if start == 0:
        targets = _choose(walk, node)
        walk.ringing = tuple([t.name for t in targets])
    else:
        targets = tuple([walk.compiled.targets[name] for name in walk.ringing])
    if node.simultaneous:
        rung = [t for t in targets if walk.available(t)] if start == 0 else []
        index = 0
    else:
        index = _first_available(walk, targets, start)
        rung = [targets[index]] if index >= 0 else []
    if not rung:
        outcome = "failed" if start == 0 else last
        to = node.on.get(outcome)
        problem = "no target available" if start == 0 else "nobody answered"
        why = f"ring {node.id}: {problem} ({outcome})"
        if to is None:
            walk.end(outcome, f"{why}: no handler")
            return None
        return to, why
    walk.attempt = index
    action: dict[str, Any] = {
        "type": "ring",
        "targets": [t.to_json() for t in rung],
        "timeout_s": node.timeout_s,
        "strategy": "simultaneous" if node.simultaneous else "sequential",
    }
    if node.reports:  # what the party who answers reports (the service adds their link)
        action["reports"] = list(node.reports)
    walk.actions.append(action)
    walk.awaits = AWAIT_RING
    return None


def _ring(walk: Walk, node: CRing) -> Moved:
    return ring(walk, node, 0)


def _queue(walk: Walk, node: CQueue) -> Moved:
    queue = node.queue
    walk.actions.append(
        {
            "type": "queue",
            "queue": queue.to_json() if queue else None,
            "skills": list(node.skills),
            "priority": node.priority,
            "max_wait_s": node.max_wait_s,
            "region": walk.lookup(("caller", "region")) if node.region == "caller" else node.region,
        }
    )
    walk.awaits = AWAIT_QUEUE
    return None


def _voicemail(walk: Walk, node: CVoicemail) -> Moved:
    walk.actions.append(
        {
            "type": "voicemail",
            "prompt": node.prompt,
            "board": node.board,
            "max_length_s": node.max_length_s,
        }
    )
    walk.awaits = AWAIT_VOICEMAIL
    return None


# Each kind of compiled node and how the walk visits it: one dict lookup a node, where a match
# on the node's class tests the kinds one by one (about 0.5 us a node for a ring).
VISIT: dict[type[CNode], Callable[[Walk, Any], Moved]] = {
    CSay: _say,
    CSet: _set,
    CBranch: _branch,
    CHours: _hours,
    CUse: _use,
    CTicket: _ticket,
    CMenu: _menu,
    CRing: _ring,
    CQueue: _queue,
    CVoicemail: _voicemail,
    CHangup: _hangup,
}
require_every_kind(VISIT, "the runtime (visits.VISIT)", COMPILED.values())
