"""Tickets in the store: raised by decisions, claimed, released and resolved by office staff,
with every change recorded in `ticket_events` (the history, the audit trail, and the board's
event stream).

A ticket changes only from the state it was read in (its `version`), so two people claiming
one ticket at once cannot both win: the second gets a conflict naming who has it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Update, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from routing_engine.core.calls import answered
from routing_engine.core.geography import caller_info
from routing_engine.store.tables import calls, iso, narrowed, ticket_events, tickets, timers

STATUSES = ("open", "claimed", "resolved")
ACTIONS = ("claim", "release", "resolve")
ENGINE = "engine"  # the actor of changes the engine makes
WRAP_UP = "wrap-up"  # the timer that ends a call whose agent never reported (call_rows)
# Built once: the hot path executes them with a row of values each time.
_INSERT_TICKET_EVENT = insert(ticket_events)
_INSERT_TIMER = insert(timers)


class TicketNotFound(LookupError):
    pass


class TicketConflict(Exception):
    """A change that does not fit the ticket as it stands (already resolved, claimed by someone
    else); nothing was written."""


def ticket_json(row: Any) -> dict[str, Any]:
    """A ticket row as the API shows it."""
    data = dict(row._asdict())
    data["managers"] = json.loads(data["managers"])
    data["story"] = json.loads(data["story"])
    return data


def write_record(
    connection: Connection,
    ticket: Mapping[str, Any],
    kind: str,
    actor: str,
    at: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add a change to a ticket's history (and so to the board's event stream), made at `at`
    (the store's form of a time, `tables.iso`)."""
    connection.execute(
        _INSERT_TICKET_EVENT,
        {
            "ticket_id": ticket["id"],
            "board": ticket["board"],
            "at": at,
            "kind": kind,
            "actor": actor,
            "detail": json.dumps(dict(detail or {})),
        },
    )


async def record(
    connection: AsyncConnection,
    ticket: Mapping[str, Any],
    kind: str,
    actor: str,
    at: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """`write_record` on an async connection."""
    await connection.run_sync(write_record, ticket, kind, actor, at, detail)


def raise_tickets(
    connection: Connection, state: Mapping[str, Any], decision: Mapping[str, Any], now: str
) -> None:
    """What a decision starts and stops, in the transaction that stores it: the tickets it
    raises, each with its `created` event, its SLA timer (level 0) when it has a due time,
    and a timer per escalation step (levels 1, 2, ...); a timer for each flow time limit
    (`resolve_within`) the call starts; and, once the call has ended, the end of its
    time-limit timers (`settle_call`), or, when nobody answered it and it raised no ticket,
    their firing at once (`unanswered_call`)."""
    _raise(connection, state, decision, now)
    call_id = decision["call_id"]
    for level, deadline in enumerate(state.get("deadlines", ())):
        if deadline.get("seq") == decision["seq"]:
            due, notify = deadline["due"], deadline["notify"]
            _timer(connection, None, call_id, "resolve-within", level, due, notify)
    if state.get("report_due"):  # the caller hung up; the agent's report is awaited
        _wrap_up(connection, state, call_id)
    if state.get("status") == "ended":
        call_ended(connection, state, now)


def call_ended(connection: Connection, state: Mapping[str, Any], now: str) -> None:
    """What a call's end stops or starts: its time-limit timers end (`settle_call`), or fall
    due at once when nobody answered it and it raised no ticket (`unanswered_call`)."""
    call_id = state["call_id"]
    limited = bool(state.get("deadlines"))
    if limited and not answered(state["trace"]) and not _raised_any(connection, call_id):
        unanswered_call(connection, call_id, now)
    else:
        settle_call(connection, call_id)


def _wrap_up(connection: Connection, state: Mapping[str, Any], call_id: str) -> None:
    """A call in wrap-up gets the timer that ends it at its bound (`report_due`); once it has
    ended (the report came), that timer stops."""
    if state.get("status") == "ended":
        connection.execute(
            update(timers)
            .where(
                timers.c.call_id == call_id,
                timers.c.kind == WRAP_UP,
                timers.c.state == "pending",
            )
            .values(state="cancelled")
        )
    else:
        _timer(connection, None, call_id, WRAP_UP, 0, state["report_due"], [])


def _raised_any(connection: Connection, call_id: str) -> bool:
    found = connection.execute(select(tickets.c.id).where(tickets.c.call_id == call_id).limit(1))
    return found.first() is not None


def unanswered_call(connection: Connection, call_id: str, now: str) -> None:
    """A call that ended with nobody answering it (no ring or queue answered: it rang out,
    the caller hung up ringing or waiting) and no ticket to follow it up is not resolved, and
    nothing can resolve it later: its time-limit timers fall due now, so their contacts are
    told at once (the delivery says how it ended)."""
    connection.execute(_pending_time_limits(call_id).values(due_at=_utc(now)))


def _pending_time_limits(call_id: str) -> Update:
    """An update of a call's pending `resolve_within` timers."""
    return update(timers).where(
        timers.c.call_id == call_id,
        timers.c.kind == "resolve-within",
        timers.c.state == "pending",
    )


def _timer(
    connection: Connection,
    ticket_id: int | None,
    call_id: str | None,
    kind: str,
    level: int,
    due: str,
    notify: list[str],
) -> None:
    connection.execute(
        _INSERT_TIMER,
        {
            "ticket_id": ticket_id,
            "call_id": call_id,
            "kind": kind,
            "level": level,
            "due_at": _utc(due),
            "notify": json.dumps(list(notify)),
            "state": "pending",
        },
    )


def settle_call(connection: Connection, call_id: str) -> None:
    """A call that has ended with every ticket it raised resolved is resolved: its time-limit
    timers stop. (The caller checks the call has ended.)"""
    open_ticket = connection.execute(
        select(tickets.c.id)
        .where(tickets.c.call_id == call_id, tickets.c.status != "resolved")
        .limit(1)
    )
    if open_ticket.first() is None:
        connection.execute(_pending_time_limits(call_id).values(state="cancelled"))


def _raise(
    connection: Connection, state: Mapping[str, Any], decision: Mapping[str, Any], now: str
) -> None:
    for action in decision["actions"]:
        if action["type"] != "ticket":
            continue
        region = state.get("attributes", {}).get("region") or ""
        if not isinstance(region, str) or not region:
            region = caller_info(action["caller"]).region
        values = {
            "board": action["board"],
            "call_id": decision["call_id"],
            "seq": decision["seq"],
            "caller": action["caller"],
            "region": region,
            "call_type": state.get("entry_flow", ""),
            "node": action["node"],
            "summary": action["summary"],
            "story": json.dumps(action.get("story", [])),
            "recording": action.get("recording"),
            "managers": json.dumps(action["managers"]),
            "sla_s": None if action.get("sla_s") is None else int(action["sla_s"]),
            "due": action["due"],
            "status": "open",
            "assignee": None,
            "note": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "resolved_at": None,
        }
        result = connection.execute(insert(tickets).values(**values))
        key = result.inserted_primary_key
        ticket = {**values, "id": key[0] if key is not None else None}
        write_record(connection, ticket, "created", ENGINE, now, {"node": action["node"]})
        if action["due"] is not None:
            _timer(connection, ticket["id"], None, "sla", 0, action["due"], action["managers"])
        for step in action.get("escalations", ()):
            level, due, notify = step["level"], step["due"], step["notify"]
            _timer(connection, ticket["id"], None, "escalation", level, due, notify)


def _utc(text: str) -> str:
    """A time as UTC ISO text, so times compare as text in the store."""
    return iso(datetime.fromisoformat(text))


async def list_tickets(
    engine: AsyncEngine,
    *,
    board: str | None = None,
    status: str | None = None,
    assignee: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Tickets, oldest first, filtered by board, status and assignee."""
    query = narrowed(
        select(tickets).order_by(tickets.c.id).limit(limit),
        (tickets.c.board, board),
        (tickets.c.status, status),
        (tickets.c.assignee, assignee),
    )
    async with engine.connect() as connection:
        return [ticket_json(row) for row in await connection.execute(query)]


async def get_ticket(engine: AsyncEngine, ticket_id: int) -> dict[str, Any]:
    """A ticket with its history, oldest change first (TicketNotFound when none)."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        if row is None:
            raise TicketNotFound(ticket_id)
        history = await connection.execute(
            select(ticket_events)
            .where(ticket_events.c.ticket_id == ticket_id)
            .order_by(ticket_events.c.id)
        )
        return {
            **ticket_json(row),
            "history": [
                {
                    "id": h.id,
                    "at": h.at,
                    "kind": h.kind,
                    "actor": h.actor,
                    "detail": json.loads(h.detail),
                }
                for h in history
            ],
        }


def _next(ticket: Mapping[str, Any], action: str, by: str, now: str) -> dict[str, Any]:
    """The ticket's changed fields after `action` by `by`, or TicketConflict saying why not."""
    status, assignee = ticket["status"], ticket["assignee"]
    if status == "resolved":
        raise TicketConflict(f"ticket {ticket['id']} is already resolved")
    match action:
        case "claim":
            if status == "claimed" and assignee != by:
                raise TicketConflict(f"ticket {ticket['id']} is claimed by {assignee}")
            return {"status": "claimed", "assignee": by}
        case "release":
            if status != "claimed":
                raise TicketConflict(f"ticket {ticket['id']} is not claimed")
            return {"status": "open", "assignee": None}
        case "resolve":
            return {"status": "resolved", "assignee": assignee or by, "resolved_at": now}
    raise ValueError(f"unknown action {action!r}")


async def change_ticket(
    engine: AsyncEngine, ticket_id: int, action: str, by: str, now: str, note: str = ""
) -> dict[str, Any]:
    """Claim, release or resolve a ticket as `by`; returns the ticket as it now is. Raises
    TicketNotFound, or TicketConflict when the change does not fit (nothing is written)."""
    async with engine.begin() as connection:
        row = (await connection.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        if row is None:
            raise TicketNotFound(ticket_id)
        ticket = ticket_json(row)
        changes = _next(ticket, action, by, now)
        if action == "resolve":
            changes["note"] = note
        done = await connection.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id, tickets.c.version == ticket["version"])
            .values(**changes, version=ticket["version"] + 1, updated_at=now)
        )
        if done.rowcount != 1:
            raise TicketConflict(f"ticket {ticket_id} changed meanwhile; try again")
        kind = {"claim": "claimed", "release": "released", "resolve": "resolved"}[action]
        await record(connection, ticket, kind, by, now, {"note": note} if note else {})
        if action == "resolve":
            await connection.execute(
                update(timers)
                .where(timers.c.ticket_id == ticket_id, timers.c.state == "pending")
                .values(state="cancelled")
            )
            call = await connection.execute(
                select(calls.c.status).where(calls.c.call_id == ticket["call_id"])
            )
            if call.scalar_one_or_none() == "ended":
                await connection.run_sync(settle_call, ticket["call_id"])
        row = (await connection.execute(select(tickets).where(tickets.c.id == ticket_id))).one()
        return ticket_json(row)


async def events_after(
    engine: AsyncEngine, last_id: int, board: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Ticket changes after event `last_id`, oldest first, each with the ticket as it is now
    (what the board's stream sends)."""
    query = (
        select(
            ticket_events.c.id.label("event_id"),
            ticket_events.c.kind.label("event_kind"),
            ticket_events.c.actor.label("event_actor"),
            ticket_events.c.at.label("event_at"),
            *tickets.columns,
        )
        .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
        .where(ticket_events.c.id > last_id)
        .order_by(ticket_events.c.id)
        .limit(limit)
    )
    query = narrowed(query, (ticket_events.c.board, board))
    found: list[dict[str, Any]] = []
    async with engine.connect() as connection:
        for row in await connection.execute(query):
            data = row._asdict()
            event = {key: data.pop(key) for key in ("event_id", "event_kind", "event_actor")}
            at = data.pop("event_at")
            data["managers"] = json.loads(data["managers"])
            data["story"] = json.loads(data["story"])
            found.append(
                {
                    "event_id": event["event_id"],
                    "kind": event["event_kind"],
                    "actor": event["event_actor"],
                    "at": at,
                    "ticket": data,
                }
            )
    return found
