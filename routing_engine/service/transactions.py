"""The store transactions of the service's decisions, named after the `Service` methods that
run them: a new call decided and inserted, an event read, stepped on the call and stored. Each
runs through `Store.transaction`, off the event loop, whole or not at all: a refusal (or
VersionNeeded) raised inside writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from routing_engine.contract import EventRequest
from routing_engine.core.calls import NewCall
from routing_engine.core.clock import call_time
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.runtime import CallState, EventRejected, start, step
from routing_engine.service.http import Refusal
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
    connection: Connection, compiled: CompiledDeployment, call: NewCall, now: str
) -> dict[str, Any]:
    """Decide a new call on the live target states and store it as started `now` (the
    server's clock; IntegrityError when its id is taken): the transaction of
    `Service.start_call`."""
    state, decision = start(compiled, call, read_targets(connection))
    decision_json = decision.to_json()
    insert_call(connection, state.to_json(), decision_json, now)
    return decision_json


def apply_event(
    connection: Connection,
    versions: Callable[[str], CompiledDeployment | None],
    call_id: str,
    request: dict[str, Any],
    event: EventRequest,
    now: datetime,
) -> dict[str, Any]:
    """The transaction of `Service.apply_event`: a retried event's stored decision, or the
    event stepped on the call as stored and its outcome stored. An event with no `at` is timed
    on the call's clock (`clock.call_time`). Refusals (and VersionNeeded) are raised, so
    nothing is written."""
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
