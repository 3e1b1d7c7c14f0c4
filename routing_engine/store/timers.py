"""The timer runner: fires durable timers when they fall due.

Timers live in the store (`timers`), written with the ticket or call they belong to, so they
survive restarts. Every server process runs a runner; each claims a due timer with a
conditional UPDATE (pending -> fired), so exactly one process fires it however many share the
store (on PostgreSQL the row is locked first with `FOR UPDATE SKIP LOCKED`: a timer another
process is firing is skipped, not waited for). Firing records `sla-missed` (level 0) or
`escalated` (level 1, 2, ...) on the ticket and writes one delivery per contact and channel to
the outbox, in the same transaction; the delivery worker (notify.py) sends them. A flow's
`resolve_within` timer fires as `call-unresolved`: it has no ticket, and its deliveries carry
the call; it falls due at once when the call ends with nobody answering it and no ticket
(tickets.unanswered_call). A
`wrap-up` timer ends a call whose caller hung up and whose agent never reported by the
deployment's `wrap_up` (call_rows.end_wrapped_up); it tells nobody.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from routing_engine.core import ir
from routing_engine.core.calls import answered
from routing_engine.core.clock import Clock, system_clock
from routing_engine.store.call_rows import end_wrapped_up, read_call
from routing_engine.store.notify import NotifySettings
from routing_engine.store.tables import deliveries, iso, tickets, timers
from routing_engine.store.tickets import ENGINE, WRAP_UP, record, ticket_json

log = logging.getLogger("routing_engine.store.timers")

TIMERS_FIRED = Counter("routing_timers_fired", "Timers fired, by kind", ["kind"])
EVENTS = {"sla": "sla-missed", "escalation": "escalated", "resolve-within": "call-unresolved"}
TICKET_FIELDS = ("id", "board", "call_id", "caller", "region", "call_type", "node", "summary",
                 "story", "recording", "status", "assignee", "sla_s", "due",
                 "created_at")  # fmt: skip


class TimerRunner:
    """Fires the due timers of the store, each once."""

    def __init__(
        self,
        engine: AsyncEngine,
        deployment: Callable[[], ir.Deployment],
        settings: NotifySettings,
        worker: str,
        clock: Clock = system_clock,
        batch: int = 50,
    ):
        self.engine = engine
        self.deployment = deployment  # the current one: its contacts' addresses are used
        self.settings = settings
        self.worker = worker
        self.clock = clock
        self.batch = batch

    async def tick(self) -> int:
        """Fire every timer due now; returns how many this process fired."""
        now = self.clock()
        query = (
            select(timers.c.id)
            .where(timers.c.state == "pending", timers.c.due_at <= iso(now))
            .order_by(timers.c.due_at, timers.c.id)
            .limit(self.batch)
        )
        async with self.engine.connect() as connection:
            due = [row.id for row in await connection.execute(query)]
        fired = 0
        for timer_id in due:
            try:
                fired += await self.fire(timer_id, now)
            except Exception as error:  # one timer that cannot fire must not hold up the rest
                log.exception("timer %s could not fire; it is parked as failed", timer_id)
                await self.park(timer_id, now, f"{type(error).__name__}: {error}")
        return fired

    async def park(self, timer_id: int, now: datetime, error: str) -> None:
        """Set a timer that fails aside (state `failed`), recorded on its ticket, so the timers
        due after it still fire."""
        async with self.engine.begin() as connection:
            timer = await self._claim(connection, timer_id, "failed", now)
            if timer is None or timer.ticket_id is None:
                return
            row = (
                await connection.execute(select(tickets).where(tickets.c.id == timer.ticket_id))
            ).first()
            if row is not None:
                detail = {"level": timer.level, "error": error[:500]}
                await record(connection, ticket_json(row), "timer-failed", ENGINE, iso(now), detail)

    async def _claim(
        self, connection: AsyncConnection, timer_id: int, state: str, now: datetime
    ) -> Any:
        """Move a pending timer to `state` and return it; None when it is not pending (another
        process took it, or it was cancelled). The conditional update is what lets exactly one
        of several processes have it. On PostgreSQL the row is first locked, skipping it if
        another process holds it (`FOR UPDATE SKIP LOCKED`), so a runner never waits for
        another's transaction to find it fired; SQLite has no row locks (its writers take
        turns), so there the lock is left out and the conditional update decides alone."""
        free = await connection.execute(
            select(timers.c.id)
            .where(timers.c.id == timer_id, timers.c.state == "pending")
            .with_for_update(skip_locked=True)
        )
        if free.first() is None:
            return None
        claimed = await connection.execute(
            update(timers)
            .where(timers.c.id == timer_id, timers.c.state == "pending")
            .values(state=state, fired_at=iso(now), fired_by=self.worker)
        )
        if claimed.rowcount != 1:
            return None
        return (await connection.execute(select(timers).where(timers.c.id == timer_id))).one()

    async def fire(self, timer_id: int, now: datetime) -> bool:
        """Claim one timer and do what it is for; False when another process had it, or it
        was cancelled meanwhile (its ticket resolved, its call resolved)."""
        async with self.engine.begin() as connection:
            timer = await self._claim(connection, timer_id, "fired", now)
            if timer is None:
                return False
            if timer.ticket_id is not None:
                await self._ticket_timer(connection, timer, now)
            elif timer.kind == WRAP_UP:
                await connection.run_sync(end_wrapped_up, timer.call_id, iso(now))
            else:
                await self._call_timer(connection, timer, now)
        TIMERS_FIRED.labels(timer.kind).inc()
        return True

    async def _ticket_timer(self, connection: AsyncConnection, timer: Any, now: datetime) -> None:
        row = (
            await connection.execute(select(tickets).where(tickets.c.id == timer.ticket_id))
        ).first()
        if row is None:
            return
        ticket = ticket_json(row)
        event = EVENTS[timer.kind]
        notify = list(json.loads(timer.notify))
        detail = {"level": timer.level, "due": timer.due_at, "notify": notify}
        await record(connection, ticket, event, ENGINE, iso(now), detail)
        board = ticket["board"]
        if timer.level == 0:
            title = f"SLA missed: ticket {ticket['id']} on the {board} board"
            what = f"its SLA passed at {timer.due_at}"
        else:
            title = f"Escalation {timer.level}: ticket {ticket['id']} on the {board} board"
            what = f"escalation step {timer.level} fell due at {timer.due_at}"
        holder = f", claimed by {ticket['assignee']}" if ticket["assignee"] else ""
        text = (
            f"Ticket {ticket['id']} on the {board} board ({ticket['call_type']} call from "
            f"{ticket['caller']}) is still {ticket['status']}{holder}: {what}. "
            f"{ticket['summary']}"
        )
        payload = {
            "event": event,
            "level": timer.level,
            "due": timer.due_at,
            "fired_at": iso(now),
            "notify": notify,
            "ticket": {key: ticket[key] for key in TICKET_FIELDS},
            "title": title,
            "text": text,
        }
        await self._deliver(connection, timer, payload, ticket)

    async def _call_timer(self, connection: AsyncConnection, timer: Any, now: datetime) -> None:
        stored = await connection.run_sync(read_call, timer.call_id)
        if stored is None:
            return
        state = stored.state
        limits = state.get("deadlines", [])
        limit = limits[timer.level] if timer.level < len(limits) else {}
        flow = limit.get("flow", state.get("entry_flow", ""))
        open_tickets = [
            r.id
            for r in await connection.execute(
                select(tickets.c.id).where(
                    tickets.c.call_id == timer.call_id, tickets.c.status != "resolved"
                )
            )
        ]
        heard = answered(state.get("trace", ()))
        title, what = _unresolved(timer.call_id, flow, state, limit, open_tickets, heard)
        payload = {
            "event": EVENTS[timer.kind],
            "level": timer.level,
            "due": timer.due_at,
            "fired_at": iso(now),
            "notify": list(json.loads(timer.notify)),
            "call": {
                "call_id": timer.call_id,
                "flow": flow,
                "from": state.get("from"),
                "to": state.get("to"),
                "started_at": state.get("started_at"),
                "status": state["status"],
                "node": state.get("node"),
                "open_tickets": open_tickets,
                "answered": heard,
                "end_reason": state.get("end_reason") or None,
            },
            "title": title,
            "text": (
                f"The {flow} call {timer.call_id} from {state.get('from')} to {state.get('to')} "
                f"{what}."
            ),
        }
        await self._deliver(connection, timer, payload, None)

    async def _deliver(
        self,
        connection: AsyncConnection,
        timer: Any,
        payload: dict[str, Any],
        ticket: Mapping[str, Any] | None,
    ) -> None:
        """One delivery per contact and channel; a contact that cannot be reached is recorded
        on the ticket (or logged, for a call)."""
        contacts = {contact.name: contact for contact in self.deployment().contacts}
        for name in dict.fromkeys(payload["notify"]):  # a contact named twice is told once
            contact = contacts.get(name)
            channels = self._channels(contact)
            if not channels:
                problem = (
                    "not a contact of the current deployment"
                    if contact is None
                    else "no webhook, and e-mail is not configured ($ROUTING_SMTP_HOST)"
                    if contact.email
                    else "no webhook and no e-mail address"
                )
                log.warning("cannot notify %s of %s: %s", name, payload["event"], problem)
                if ticket is not None:
                    detail = {"event": payload["event"], "contact": name, "error": problem}
                    await record(
                        connection, ticket, "notify-failed", ENGINE, iso(self.clock()), detail
                    )
                continue
            shown = {"name": name, "display_name": contact.display_name if contact else ""}
            body = json.dumps({**payload, "contact": shown}, ensure_ascii=False)
            for channel, address in channels:
                await connection.execute(
                    insert(deliveries).values(
                        timer_id=timer.id,
                        ticket_id=timer.ticket_id,
                        call_id=timer.call_id or (ticket["call_id"] if ticket else None),
                        event=payload["event"],
                        contact=name,
                        channel=channel,
                        address=address,
                        payload=body,
                        status="pending",
                        attempts=0,
                        next_attempt_at=payload["fired_at"],
                    )
                )

    def _channels(self, contact: ir.Contact | None) -> list[tuple[str, str]]:
        if contact is None:
            return []
        found = [("webhook", contact.webhook)] if contact.webhook else []
        if contact.email and self.settings.smtp is not None:
            found.append(("email", contact.email))
        return found


def _unresolved(
    call_id: str,
    flow: str,
    state: Mapping[str, Any],
    limit: Mapping[str, Any],
    open_tickets: list[int],
    heard: bool,
) -> tuple[str, str]:
    """A `call-unresolved` delivery's title, and what its text says of the call: it ended with
    nobody answering it (fired when it ended), or it is not resolved in time."""
    if state["status"] == "ended" and not heard and not open_tickets:
        end = state.get("end_reason") or "hangup"
        where = f"{state.get('flow')}/{state.get('node')}"
        return (
            f"Call ended unanswered: {call_id} ({flow})",
            f"ended with nobody answering it ({end}, at {where})",
        )
    how = (
        f"it is still {state['status']}"
        if state["status"] != "ended"
        else f"it ended, but ticket(s) {', '.join(map(str, open_tickets))} are not resolved"
    )
    minutes = float(limit.get("after_s", 0)) / 60
    return (
        f"Call not resolved in time: {call_id} ({flow})",
        f"is not resolved {minutes:g} minutes after it entered the flow: {how}",
    )
