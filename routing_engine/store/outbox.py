"""The delivery worker: drains the `deliveries` outbox (`notify.py` says how a notification is
sent, signed and retried).

Each process leases due deliveries with one conditional UPDATE (only a row whose lease has
lapsed can be taken, so of several processes sharing the store one sends each attempt; on
PostgreSQL the rows are locked first with `FOR UPDATE SKIP LOCKED`, so a process skips what
another is leasing instead of waiting for it), sends
up to `concurrency` at once, leasing more as each ends, and records the attempts that end
together in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from routing_engine.core.clock import Clock, system_clock
from routing_engine.store.notify import NOTIFICATIONS, Attempt, NotifySettings, shown_address
from routing_engine.store.tables import deliveries, iso, tickets
from routing_engine.store.tickets import ENGINE, record

log = logging.getLogger("routing_engine.store.notify")


@dataclass(frozen=True, slots=True)
class Done:
    """An attempt made, to be recorded: its delivery's row, what came of it, when."""

    row: Any
    attempt: Attempt
    attempts: int  # this one included
    result: str  # delivered, retry, failed (given up)
    at: datetime
    retry_at: datetime


class DeliveryWorker:
    """Leases due deliveries, sends them (up to `settings.concurrency` at once), and records
    each attempt."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: NotifySettings,
        send: Callable[[Any, datetime], Awaitable[Attempt]],
        worker: str,
        clock: Clock = system_clock,
        on_free: Callable[[], None] = lambda: None,
    ):
        self.engine = engine
        self.settings = settings
        self.send = send
        self.worker = worker
        self.clock = clock
        self.on_free = on_free  # told when a delivery is done: a slot is free for the next
        self.sending: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[Done, asyncio.Future[bool]]] = []  # to record, together
        self._flushing: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """Send what is due now, up to the free slots, and wait for those attempts; returns
        how many were made."""
        started = await self.fill()
        if started:
            await asyncio.gather(*started)
        return len(started)

    async def fill(self) -> list[asyncio.Task[None]]:
        """Lease what is due, as many as there are free slots, and start sending each; the
        attempts run on after this returns (`on_free` is told as each ends)."""
        free = self.settings.concurrency - len(self.sending)
        if free <= 0 or (self.sending and free < self.settings.concurrency // 4):
            return []  # a lease for every slot freed would queue one write per delivery
        now = self.clock()
        stamp = iso(now)
        query = (
            select(deliveries.c.id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at <= stamp,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < stamp),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(free)
        )
        async with self.engine.connect() as connection:
            due = [row.id for row in await connection.execute(query)]
        started = []
        for row in await self._lease(due, now):
            task = asyncio.create_task(self._attempt(row))
            self.sending.add(task)
            task.add_done_callback(self._done)
            started.append(task)
        return started

    def _done(self, task: asyncio.Task[None]) -> None:
        self.sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a delivery's attempt failed", exc_info=task.exception())
        self.on_free()

    async def drain(self, timeout: float) -> None:
        """Wait (up to `timeout` seconds) for the attempts in hand, then cancel the rest: their
        leases lapse and another process, or the next start, sends them."""
        if self.sending:
            _, pending = await asyncio.wait(set(self.sending), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _lease(self, due: list[int], now: datetime) -> list[Any]:
        """Take the deliveries of `due` whose lease has lapsed, in one conditional UPDATE (of
        several processes, the one whose UPDATE matched a row holds it), and read them. On
        PostgreSQL the free rows are locked first, skipping those another process holds (SQLite
        has no row locks and leaves that clause out: its writers take turns)."""
        if not due:
            return []
        stamp = iso(now)
        until = iso(now + timedelta(seconds=self.settings.lease_s))
        lapsed = or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < stamp)
        async with self.engine.begin() as connection:
            free = select(deliveries.c.id).where(
                deliveries.c.id.in_(due), deliveries.c.status == "pending", lapsed
            )  # on PostgreSQL, rows another process is leasing are skipped, not waited for
            due = list((await connection.execute(free.with_for_update(skip_locked=True))).scalars())
            if not due:
                return []
            await connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(due), deliveries.c.status == "pending", lapsed)
                .values(lease_until=until, leased_by=self.worker)
            )
            taken = select(deliveries).where(
                deliveries.c.id.in_(due),
                deliveries.c.leased_by == self.worker,
                deliveries.c.lease_until == until,
            )
            return list(await connection.execute(taken.order_by(deliveries.c.id)))

    async def _attempt(self, row: Any) -> None:
        attempt = await self.send(row, self.clock())
        now = self.clock()
        attempts = row.attempts + 1
        if attempt.ok:
            result = "delivered"
        elif attempt.final or attempts >= self.settings.max_attempts:
            result = "failed"
        else:
            result = "retry"
        retry_at = now + timedelta(seconds=self.settings.backoff(attempts))
        done = Done(row, attempt, attempts, result, now, retry_at)
        if not await self._commit(done):
            return  # the lease lapsed and another process took it over
        NOTIFICATIONS.labels(row.channel, result).inc()
        level = logging.INFO if attempt.ok else logging.WARNING
        log.log(
            level,
            "notification %s %s to %s (%s, attempt %d): %s",
            row.event,
            result,
            row.contact,
            row.channel,
            attempts,
            attempt.detail,
            extra={"call_id": row.call_id, "status": result},
        )

    async def _commit(self, done: Done) -> bool:
        """Record an attempt, together with the others that end meanwhile: one transaction
        for all of them (a burst's attempts would otherwise queue for the store's writer one
        by one). True when the lease was still this process's."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._finished.append((done, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._finished:
            batch, self._finished = self._finished, []
            try:
                async with self.engine.begin() as connection:
                    written = [await self._write(connection, done) for done, _ in batch]
            except Exception as error:  # none recorded: the leases lapse, and are sent again
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), ok in zip(batch, written, strict=True):
                if not future.done():
                    future.set_result(ok)

    async def _write(self, connection: AsyncConnection, done: Done) -> bool:
        row, ok = done.row, done.attempt.ok
        status = {"delivered": "delivered", "failed": "failed"}.get(done.result, "pending")
        retry = done.result == "retry"
        changed = await connection.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id, deliveries.c.leased_by == self.worker)
            .values(
                status=status,
                attempts=done.attempts,
                lease_until=None,
                leased_by=None,
                last_error=None if ok else done.attempt.detail,
                delivered_at=iso(done.at) if ok else None,
                next_attempt_at=iso(done.retry_at) if retry else row.next_attempt_at,
            )
        )
        if changed.rowcount != 1:
            return False
        if row.ticket_id is not None:
            await self._record(connection, done)
        return True

    async def _record(self, connection: AsyncConnection, done: Done) -> None:
        row, attempt, attempts, result = done.row, done.attempt, done.attempts, done.result
        retry_at = done.retry_at
        found = (
            await connection.execute(select(tickets.c.board).where(tickets.c.id == row.ticket_id))
        ).first()
        if found is None:
            return
        detail: dict[str, Any] = {
            "delivery": row.id,
            "event": row.event,
            "contact": row.contact,
            "channel": row.channel,
            "to": shown_address(row.channel, row.address),
            "attempt": attempts,
        }
        detail["status" if attempt.status is not None else "error"] = (
            attempt.status if attempt.status is not None else attempt.detail
        )
        if result == "retry":
            detail["next_attempt_at"] = iso(retry_at)
        if result == "failed":
            detail["gave_up"] = True
        kind = "notified" if attempt.ok else "notify-failed"
        ticket = {"id": row.ticket_id, "board": found.board}
        await record(connection, ticket, kind, ENGINE, iso(self.clock()), detail)
