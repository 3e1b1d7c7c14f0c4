"""The board's live stream of ticket changes (server-sent events).

Each message's id is its `ticket_events` id, so a browser that reconnects with
`Last-Event-ID` gets exactly the changes after the last one it saw, from the store. A client
without one gets a snapshot first (the open and claimed tickets, carrying the newest event id),
then the changes after it. Every message carries the ticket as it is now, with its `version`,
so applying one twice, or an older one after a newer, changes nothing on the page. The stream
opens with a `retry:` hint; FastAPI adds a keep-alive comment after 15 quiet seconds.

One poller per process reads the store (so changes made by other workers and servers sharing
it show too) and fans each batch out to the streams connected to that process; it runs only
while someone listens. Every `SESSION_CHECK_S` it also looks up the board sessions the streams
were opened with, in one query, and ends the streams whose session no longer counts (signed
out on any server, its key removed, or expired). On SIGTERM or SIGINT every stream ends at
once, so the server's graceful shutdown does not wait on browsers that never hang up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from fastapi.sse import ServerSentEvent
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from routing_engine.core.clock import Clock
from routing_engine.store.board_sessions import live_of
from routing_engine.store.tables import iso, narrowed, ticket_events, tickets
from routing_engine.store.tickets import events_after, ticket_json

log = logging.getLogger("routing_engine.service.board")

POLL_S = 0.25  # how often the poller reads the store
RETRY_MS = 1000  # what browsers wait before reconnecting
PAGE = 500  # events read from the store at a time
BACKLOG_LIMIT = 5000  # events a slow stream may fall behind before it is ended (it resumes)
SNAPSHOT_LIMIT = 5000
SESSION_CHECK_S = 1.0  # how soon a stream ends after its session is revoked


@dataclass(eq=False, slots=True)
class Listener:
    """One connected stream: the batches the poller has for it, and a wake-up."""

    pending: deque[dict[str, Any]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False  # the server is stopping, this stream fell too far behind, or its
    # session ended
    session: str | None = None  # the board session's id it was opened with, if any

    def push(self, batch: list[dict[str, Any]]) -> None:
        if len(self.pending) + len(batch) > BACKLOG_LIMIT:
            self.end()
            return
        self.pending.extend(batch)
        self.wake.set()

    def end(self) -> None:
        self.ended = True
        self.pending.clear()
        self.wake.set()

    async def take(self) -> list[dict[str, Any]] | None:
        """The changes since the last take (waiting for some), or None once ended."""
        while not self.pending and not self.ended:
            self.wake.clear()
            await self.wake.wait()
        if self.ended:
            return None
        batch = list(self.pending)
        self.pending.clear()
        return batch


class Hub:
    """The process's poller and the streams it feeds."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        poll_s: float = POLL_S,
        session_check_s: float = SESSION_CHECK_S,
    ):
        self.engine = engine
        self.clock = clock  # the server's time: a snapshot's, and whether sessions expired
        self.poll_s = poll_s
        self.session_check_s = session_check_s
        self._sessions_checked = 0.0  # the loop's time of the last session check
        self.listeners: set[Listener] = set()
        self.cursor = 0  # the newest event handed to the listeners
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._hooked = False

    @contextlib.asynccontextmanager
    async def listen(self, session: str | None = None) -> AsyncIterator[Listener]:
        """A listener for the duration of a stream (opened with the board session `session`,
        if any); the poller runs while there is one. Every event after the cursor at the start
        reaches the listener: the ones up to it are in the store, for the stream's own first
        read."""
        listener = Listener(session=session)
        async with self._lock:
            if self._task is None:
                self.cursor = await latest_event_id(self.engine)
                self._task = asyncio.create_task(self._poll(), name="board-poller")
                self._hook_exit_signals()
            self.listeners.add(listener)
        try:
            yield listener
        finally:
            self.listeners.discard(listener)

    async def _poll(self) -> None:
        """Read the store every `poll_s` while someone listens; then stop (no cancelling: a
        query is never cut off halfway)."""
        while True:
            await asyncio.sleep(self.poll_s)
            if self.stopping or not self.listeners:
                self._task = None  # no await since the check: a new listener starts a new poller
                return
            try:
                await self._check_sessions()
                batch = await read_after(self.engine, self.cursor)
            except Exception:  # the store hiccuped: say so, try again at the next tick
                log.warning("the board's poller could not read the store", exc_info=True)
                continue
            if batch:  # handed out and the cursor moved with no await between: nothing slips
                self.cursor = batch[-1]["event_id"]
                for listener in list(self.listeners):
                    listener.push(batch)

    async def _check_sessions(self) -> None:
        """End the streams whose board session no longer counts, every `session_check_s`."""
        now = asyncio.get_running_loop().time()
        if now - self._sessions_checked < self.session_check_s:
            return
        self._sessions_checked = now
        bound = {listener.session for listener in self.listeners if listener.session}
        if not bound:
            return
        async with self.engine.connect() as connection:
            live = await connection.run_sync(live_of, bound, iso(self.clock()))
        for listener in list(self.listeners):
            if listener.session is not None and listener.session not in live:
                listener.end()

    def stop(self) -> None:
        """End every stream now (the server is shutting down)."""
        self.stopping = True
        for listener in list(self.listeners):
            listener.end()

    def _hook_exit_signals(self) -> None:
        """Chain a handler before the server's own for SIGTERM and SIGINT: uvicorn waits for
        open responses to finish before it stops, and a stream never finishes by itself."""
        if self._hooked or threading.current_thread() is not threading.main_thread():
            return
        self._hooked = True
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(number)
            if callable(previous):
                signal.signal(
                    number, _chained(lambda: loop.call_soon_threadsafe(self.stop), previous)
                )


def _chained(
    first: Callable[[], object], then: Callable[[int, FrameType | None], Any]
) -> Callable[[int, FrameType | None], None]:
    def handler(number: int, frame: FrameType | None) -> None:
        first()
        then(number, frame)

    return handler


async def latest_event_id(engine: AsyncEngine) -> int:
    """The newest ticket change's id (0 when there is none)."""
    async with engine.connect() as connection:
        found = await connection.scalar(select(func.max(ticket_events.c.id)))
    return int(found or 0)


async def read_after(
    engine: AsyncEngine, last_id: int, board: str | None = None
) -> list[dict[str, Any]]:
    """Every change after `last_id` (read a page at a time), oldest first."""
    found: list[dict[str, Any]] = []
    while True:
        page = await events_after(engine, last_id, board, limit=PAGE)
        found.extend(page)
        if len(page) < PAGE:
            return found
        last_id = page[-1]["event_id"]


async def open_tickets(engine: AsyncEngine, board: str | None) -> list[dict[str, Any]]:
    """The open and claimed tickets (of one board), oldest first."""
    query = narrowed(
        select(tickets)
        .where(tickets.c.status.in_(("open", "claimed")))
        .order_by(tickets.c.id)
        .limit(SNAPSHOT_LIMIT),
        (tickets.c.board, board),
    )
    async with engine.connect() as connection:
        return [ticket_json(row) for row in await connection.execute(query)]


def parse_event_id(text: str | None) -> int | None:
    """A Last-Event-ID as sent back; None for none or one that is not ours."""
    if text is None or not text.strip().isdigit() or len(text.strip()) > 18:
        return None
    return int(text.strip())


def change_message(event: Mapping[str, Any]) -> ServerSentEvent:
    data = {key: event[key] for key in ("kind", "actor", "at", "ticket")}
    return ServerSentEvent(event="change", id=str(event["event_id"]), data=data)


async def stream(
    hub: Hub, board: str | None, last_id: int | None, session: str | None = None
) -> AsyncIterator[ServerSentEvent]:
    """A board's messages: after `last_id` when the store has it, else a snapshot first; then
    every change as the poller reads it, each once, until the client or the server leaves, or
    the board session the stream was opened with (`session`) ends."""
    yield ServerSentEvent(retry=RETRY_MS, comment="ticket changes")
    if hub.stopping:
        return
    async with hub.listen(session) as listener:
        newest = await latest_event_id(hub.engine)
        far_behind = last_id is not None and newest - last_id > BACKLOG_LIMIT
        if last_id is None or last_id > newest or far_behind:  # new, another store's id, or
            # so far behind that replaying costs more than starting over: a snapshot
            found = await open_tickets(hub.engine, board)
            sent = newest  # read before the tickets: a change in between comes again, harmless
            snapshot = {"board": board, "now": iso(hub.clock()), "tickets": found}
            yield ServerSentEvent(event="snapshot", id=str(sent), data=snapshot)
        else:
            sent = last_id
            while True:  # a page at a time, never the whole backlog in memory
                page = await events_after(hub.engine, sent, board, limit=PAGE)
                for event in page:
                    yield change_message(event)
                    sent = event["event_id"]
                if len(page) < PAGE:
                    break
        while (batch := await listener.take()) is not None:
            for event in batch:
                if event["event_id"] > sent and board in (None, event["ticket"]["board"]):
                    yield change_message(event)
                    sent = event["event_id"]
