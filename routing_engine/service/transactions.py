"""The store transactions of the service's decisions, named after the `Service` methods that
run them: a new call decided and inserted, an event read, stepped on the call and stored. Each
runs through `Store.transaction`, off the event loop, whole or not at all: a refusal (or
VersionNeeded) raised inside writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from routing_engine.contract import EventRequest, NewCallRequest
from routing_engine.core.calls import NewCall, iso_utc
from routing_engine.core.clock import call_time
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.decisions import new_state
from routing_engine.core.runtime import CallState, EventRejected, check_event, start, step
from routing_engine.service.http import Refusal
from routing_engine.service.links import Links
from routing_engine.store.call_rows import (
    Conflict,
    StoredCall,
    insert_call,
    read_answered,
    read_call,
    read_targets,
    update_call,
)
from routing_engine.store.tables import iso

REJECTION_STATUS = {"bad-event": 422}


class VersionNeeded(Exception):
    """The call is pinned to a deployment version that is not in memory."""

    def __init__(self, digest: str):
        super().__init__(digest)
        self.digest = digest


def start_call(
    connection: Connection,
    compiled: CompiledDeployment,
    call: NewCall,
    now: str,
    links: Links | None = None,
) -> dict[str, Any]:
    """Decide a new call on the live target states and store it as started `now` (the
    server's clock; IntegrityError when its id is taken): the transaction of
    `Service.start_call`. `links` signs the disposition links the decision carries (stored
    with it, so a retry gets the same)."""
    state, decision = start(compiled, call, read_targets(connection))
    decision_json = decision.to_json()
    if links is not None:
        links.add(decision_json)
    insert_call(connection, state.to_json(), decision_json, now)
    return decision_json


def apply_event(
    connection: Connection,
    versions: Callable[[str], CompiledDeployment | None],
    call_id: str,
    request: dict[str, Any],
    event: EventRequest,
    now: datetime,
    links: Links | None = None,
) -> dict[str, Any]:
    """The transaction of `Service.apply_event`: a retried event's stored decision, or the
    event stepped on the call as stored and its outcome stored (with the disposition links
    `links` signs). An event with no `at` is timed on the call's clock (`clock.call_time`).
    Refusals (and VersionNeeded) are raised, so nothing is written."""
    event_id = event.event_id
    done = read_answered(connection, call_id, event_id)
    if done is not None:
        earlier, answered = done
        if earlier != request:
            raise Refusal(
                409, "event-id-reused", f"event_id '{event_id}' was already used for another event"
            )
        return answered
    stored = read_call(connection, call_id)
    if stored is None:
        raise Refusal(404, "unknown-call", f"no call '{call_id}'; start it with POST /v1/calls")
    pinned = versions(stored.digest)
    if pinned is None:
        raise VersionNeeded(stored.digest)
    live = read_targets(connection)
    state = CallState.from_json(stored.state)
    at = _event_time(event, state, datetime.fromisoformat(stored.started_at), now)
    try:
        new, decision = step(pinned, state, event.to_runtime(at), live)
    except EventRejected as rejected:
        status = REJECTION_STATUS.get(rejected.reason, 409)
        raise Refusal(status, rejected.reason, rejected.message) from None
    decision_json = decision.to_json()
    if links is not None:
        links.add(decision_json)
    try:
        update_call(
            connection, stored.seq, event_id, request, new.to_json(), decision_json, iso(now)
        )
    except Conflict:
        raise Refusal(
            409, "conflict", "the call changed meanwhile; retry with the call's seq"
        ) from None
    return decision_json


def _event_time(
    event: EventRequest, state: CallState, started: datetime, now: datetime
) -> datetime:
    """When an event happened: its own `at`, refused (422) when it is before the call's
    previous event; else the time on the call's clock (`clock.call_time`)."""
    previous = datetime.fromisoformat(state.updated_at)
    if event.at is None:
        return call_time(datetime.fromisoformat(state.started_at), started, previous, now)
    if event.at < previous:
        raise Refusal(
            422,
            "bad-request",
            f"'at' {event.at.isoformat()} is before the call's previous event "
            f"({state.updated_at}); events happen in order",
            [{"field": "at", "problem": "before the call's previous event"}],
        )
    return event.at


def same_call(stored: StoredCall, caller: str, dialed: str) -> dict[str, Any]:
    """A retried start of a call returns its first decision; a different call with a used id
    is refused."""
    if stored.state.get("from") != caller or stored.state.get("to") != dialed:
        raise Refusal(409, "call-id-reused", "this call_id is already used by another call")
    return stored.first_decision


def read_standing(
    connection: Connection, call_id: str, event_id: str | None
) -> tuple[StoredCall | None, tuple[dict[str, Any], dict[str, Any]] | None]:
    """Where a call stands for an event that missed its deadline: the call as stored, and the
    event's stored request and decision if it was answered already (a read, apart from the
    writer)."""
    answered = None if event_id is None else read_answered(connection, call_id, event_id)
    return read_call(connection, call_id), answered


def settled(
    standing: tuple[StoredCall | None, tuple[dict[str, Any], dict[str, Any]] | None],
    event: EventRequest | None,
    call: NewCallRequest | None,
    now: datetime,
) -> dict[str, Any] | None:
    """What the store answers a request whose transaction missed its deadline, when a read
    tells (`read_standing`): a retry's stored decision, or the refusal (raised) of an event
    that does not fit the call (a stale or future seq, an ended call) or of a reused id.
    None when only the transaction could decide: the fallback answers."""
    stored, answered = standing
    if event is not None and answered is not None:
        earlier, decision = answered
        if earlier != event_request(event):
            message = f"event_id '{event.event_id}' was already used for another event"
            raise Refusal(409, "event-id-reused", message)
        return decision
    if stored is None:
        return None
    if call is not None:
        return same_call(stored, call.caller, call.dialed)
    if event is None:
        return None
    try:
        state = CallState.from_json(stored.state)
    except (KeyError, TypeError, ValueError):  # a state the runtime cannot read: a fault
        return None
    try:
        check_event(state, event.to_runtime(now))
    except EventRejected as rejected:
        status = REJECTION_STATUS.get(rejected.reason, 409)
        raise Refusal(status, rejected.reason, rejected.message) from None
    return None


def event_request(event: EventRequest) -> dict[str, Any]:
    """An event as stored with its decision: what a retry of its `event_id` must repeat."""
    return event.model_dump(mode="json", by_alias=True, exclude={"at"})


def record_event_fallback(
    connection: Connection,
    call_id: str,
    event_id: str,
    request: dict[str, Any],
    decision: dict[str, Any],
    now: datetime,
) -> bool:
    """Store a fallback answered to an event as the event's decision, the call ended with it
    (`ended_with`), so a retry gets it again and the call does not move on. False, writing
    nothing, when the store's answer stands: the event was answered meanwhile, or the call is
    no longer at the seq the fallback followed."""
    if read_answered(connection, call_id, event_id) is not None:
        return False
    stored = read_call(connection, call_id)
    if stored is None or stored.seq != decision["seq"] - 1:
        return False
    state = ended_with(stored.state, decision, now)
    update_call(connection, stored.seq, event_id, request, state, decision, iso(now))
    return True


def record_call_fallback(
    connection: Connection,
    compiled: CompiledDeployment,
    call: NewCall,
    decision: dict[str, Any],
    now: datetime,
) -> bool:
    """Store a fallback answered to a new call as its first decision, the call ended with it;
    False, writing nothing, when the call id is in the store already (its answer stands)."""
    if read_call(connection, call.call_id) is not None:
        return False
    started = new_state(compiled, call, decision["flow"]["name"] or "").to_json()
    state = ended_with(started, decision, now)
    insert_call(connection, state, decision, iso(now))
    return True


def ended_with(state: dict[str, Any], decision: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A stored state (`CallState.to_json`) ended with the fallback `decision`, as the
    runtime ends a call it cannot decide (`decisions.fallback`): its seq, nothing awaited,
    the fallback's reason in its trace and as its end."""
    reason = f"fallback: {decision['fallback_reason']}"
    try:
        updated = max(datetime.fromisoformat(state["updated_at"]), now)
    except (KeyError, TypeError, ValueError):  # a state the runtime cannot read: now, then
        updated = now
    return {
        **state,
        "status": "ended",
        "seq": decision["seq"],
        "await": [],
        "updated_at": iso_utc(updated),
        "trace": [*state.get("trace", ()), reason],
        "end_reason": reason,
    }
