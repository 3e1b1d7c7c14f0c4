"""A call's rows in the store: plain synchronous functions over a SQLAlchemy `Connection`,
the one definition of the hot path's SQL for every backend.

`Store.transaction` runs them in one transaction: on a SQLite file in a thread of its own (one
thread hop per transaction, not one per statement), elsewhere (PostgreSQL through asyncpg)
through `AsyncConnection.run_sync`. `Store.read` runs the reads alone on the async engine.
The statements are built once; each run executes them with its row of values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from routing_engine.core.calls import CallState
from routing_engine.core.runtime import end_wrap_up
from routing_engine.store.tables import calls, decisions, events, target_states
from routing_engine.store.tickets import call_ended, raise_tickets

_TARGETS = select(target_states)
_CALL = select(calls).where(calls.c.call_id == bindparam("id"))
_ANSWERED = select(events.c.request, events.c.decision).where(
    events.c.call_id == bindparam("id"), events.c.event_id == bindparam("event")
)
_INSERT_CALL = insert(calls)
_INSERT_EVENT = insert(events)
_INSERT_AUDIT = insert(decisions)


@dataclass(slots=True)
class StoredCall:
    call_id: str
    digest: str
    seq: int
    state: dict[str, Any]
    first_decision: dict[str, Any]
    started_at: str  # the server's clock when the call started (the store's form of a time)


class Conflict(Exception):
    """Another request changed the call first; nothing was written."""


def read_targets(connection: Connection) -> dict[str, dict[str, Any]]:
    """Live target state, as the runtime's snapshot: name -> {"available", "skills"}. Read
    once per transaction: the calls a batch commits together share it (none of their
    transactions changes it, and each was asked for before the batch began, so none misses
    a change made before it was asked). Not to be changed by the caller. Outside a
    transaction (a standalone read) it reads every time."""
    transaction = connection.get_transaction()
    if transaction is None:
        return _read_targets(connection)
    memo = connection.info.get("targets")
    if memo is not None and memo[0] is transaction:
        found: dict[str, dict[str, Any]] = memo[1]
        return found
    out = _read_targets(connection)
    connection.info["targets"] = (transaction, out)
    return out


def _read_targets(connection: Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in connection.execute(_TARGETS):
        live: dict[str, Any] = {}
        if row.available is not None:
            live["available"] = bool(row.available)
        if row.skills is not None:
            live["skills"] = json.loads(row.skills)
        out[row.name] = live
    return out


def read_call(connection: Connection, call_id: str) -> StoredCall | None:
    """A call as stored, or None."""
    row = connection.execute(_CALL, {"id": call_id}).first()
    if row is None:
        return None
    return StoredCall(
        row.call_id,
        row.digest,
        row.seq,
        json.loads(row.state),
        json.loads(row.first_decision),
        row.started_at,
    )


def read_answered(
    connection: Connection, call_id: str, event_id: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The request and decision stored for an event already processed, if any."""
    row = connection.execute(_ANSWERED, {"id": call_id, "event": event_id}).first()
    return None if row is None else (json.loads(row.request), json.loads(row.decision))


def insert_call(
    connection: Connection, state: dict[str, Any], decision: dict[str, Any], now: str
) -> None:
    """Store a new call, its first decision in the audit log, and what the decision raises
    (tickets, timers), as of `now` (the server's clock, the store's form of a time).
    IntegrityError when the call id is taken."""
    decision_text = json.dumps(decision)  # once: the call's first decision and its audit row
    connection.execute(
        _INSERT_CALL,
        {
            "call_id": state["call_id"],
            "digest": state["hash"],
            "seq": state["seq"],
            "status": state["status"],
            "state": json.dumps(state),
            "first_decision": decision_text,
            "started_at": now,
            "updated_at": now,
        },
    )
    connection.execute(_INSERT_AUDIT, _audit(decision, decision_text, state["hash"], now))
    raise_tickets(connection, state, decision, now)


def update_call(
    connection: Connection,
    old_seq: int,
    event_id: str,
    request: dict[str, Any],
    state: dict[str, Any],
    decision: dict[str, Any],
    now: str,
) -> None:
    """Store an event's outcome as of `now`, if the call is still at `old_seq` (else Conflict,
    and the transaction must roll back): the call's new state, the event with its decision
    (what a retry answers), the audit row, and what the decision raises."""
    call_id = state["call_id"]
    changed = connection.execute(
        update(calls)
        .where(calls.c.call_id == call_id, calls.c.seq == old_seq)
        .values(seq=state["seq"], status=state["status"], state=json.dumps(state), updated_at=now)
    )
    if changed.rowcount != 1:
        raise Conflict(call_id)
    decision_text = json.dumps(decision)
    try:
        connection.execute(
            _INSERT_EVENT,
            {
                "call_id": call_id,
                "event_id": event_id,
                "request": json.dumps(request),
                "decision": decision_text,
                "received_at": now,
            },
        )
        connection.execute(_INSERT_AUDIT, _audit(decision, decision_text, state["hash"], now))
        raise_tickets(connection, state, decision, now)
    except IntegrityError:  # the event was stored meanwhile by another process
        raise Conflict(call_id) from None


def end_wrapped_up(connection: Connection, call_id: str, now: str) -> bool:
    """End a call still in wrap-up when its wrap-up timer fires (the agent's report never
    came; `runtime.end_wrap_up`), as of `now`; False, writing nothing, when it is not in
    wrap-up any more (the report came) or changed meanwhile."""
    stored = read_call(connection, call_id)
    if stored is None:
        return False
    try:
        ended = end_wrap_up(CallState.from_json(stored.state))
    except (KeyError, TypeError, ValueError):  # a state the runtime cannot read: left as is
        return False
    if ended is None:
        return False
    state = ended.to_json()
    changed = connection.execute(
        update(calls)
        .where(calls.c.call_id == call_id, calls.c.seq == stored.seq)
        .values(status=state["status"], state=json.dumps(state), updated_at=now)
    )
    if changed.rowcount != 1:
        return False
    call_ended(connection, state, now)
    return True


def _audit(decision: dict[str, Any], text: str, digest: str, now: str) -> dict[str, Any]:
    return {
        "call_id": decision["call_id"],
        "seq": decision["seq"],
        "digest": digest,
        "node": decision["node"] or "",  # null in a decision before any node
        "fallback_reason": decision.get("fallback_reason"),
        "decision": text,
        "decided_at": now,
    }
