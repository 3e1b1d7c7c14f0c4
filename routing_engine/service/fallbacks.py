"""Fallbacks the service answered because its store could not commit in time (or at all), kept
so that a retry gets the same answer and the call does not move on behind the telephony
system's back (ARCHITECTURE.md, "The routing contract").

A fallback ends the call, as the runtime's own does. It is kept in memory at once (`Ledger`),
by call: a retry of the same event or of the same new call gets it again; any other event for
the call is refused (409) as the store refuses events for an ended call. It is written to the
store as soon as the store commits (`transactions.record_*`), in order, retried with backoff,
and then forgotten here: the store answers retries from then on. When the store's answer
stands (another process decided the event first), the kept fallback yields to it.

The deadline's budget (`Budget`) is measured from the request's arrival: the work gets what is
left of it less the time to read the call for its fallback and to send the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from routing_engine.contract import EventRequest, NewCallRequest
from routing_engine.core.compile import CompiledDeployment
from routing_engine.service import transactions
from routing_engine.service.http import Refusal
from routing_engine.store.database import Store

log = logging.getLogger("routing_engine.server")
READ_SHARE = 5  # a fifth of the deadline goes to reading the call's row, for its fallback
SEND_S = 0.015  # at most this much of the deadline is left to build and send the answer
KEPT_MAX = 10_000  # fallbacks kept unwritten at most (the store down for long): oldest go
RETRY_S = (0.05, 5.0)  # the first and the longest wait between tries to write a fallback


ARRIVED = "routing_engine.arrived"  # the ASGI scope's key for when a request arrived
# Every routing answer that is a fallback says so in this header, with its reason, as well as
# in its body: a platform that reads headers only (a proxy's HTTP client) still knows.
FALLBACK_HEADER = "X-Routing-Fallback"
FALLBACK_HEADERS = {
    FALLBACK_HEADER: {
        "description": "set when the answer is a fallback, not the flow's own decision: why "
        "(`deadline`, `store-unavailable`, `internal-error`, `loop-guard`, `no-entry`, ...; "
        "on /v1/route also `needs-media`: a menu or voicemail a proxy cannot play)",
        "schema": {"type": "string"},
    }
}
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._-]+")


def routing_answer(body: dict[str, Any], reason: str | None) -> JSONResponse:
    """A routing endpoint's answer, with `X-Routing-Fallback: REASON` when it is a fallback."""
    if not reason:
        return JSONResponse(body)
    return JSONResponse(body, headers={FALLBACK_HEADER: _NOT_TOKEN.sub("-", reason)})


def arrival(request: Request) -> float | None:
    """When the request arrived (`time.perf_counter`), as the app's front door noted it."""
    arrived = request.scope.get(ARRIVED)
    return arrived if isinstance(arrived, float) else None


@dataclass(frozen=True, slots=True)
class Budget:
    """When a decision's answer must leave (`end`), and when to start reading the call for an
    event's fallback (`read_at`), on `time.perf_counter`'s clock."""

    end: float
    read_at: float

    @classmethod
    def of(cls, arrived: float, deadline_s: float, reads: bool) -> Budget:
        """The budget of a request that arrived at `arrived`: the deadline less the time to
        send the answer and, when the fallback `reads` the call, less that read's."""
        end = arrived + deadline_s - min(SEND_S, deadline_s / 10)
        return cls(end, end - (deadline_s / READ_SHARE if reads else 0.0))

    @staticmethod
    def left(until: float) -> float:
        return max(0.0, until - time.perf_counter())


@dataclass(frozen=True, slots=True)
class Asked:
    """What a decision answers, as a retry must repeat it: an event or a new call."""

    event: EventRequest | None = None
    call: NewCallRequest | None = None

    @property
    def event_id(self) -> str | None:
        return None if self.event is None else self.event.event_id

    def request(self) -> dict[str, Any] | None:
        """The event as stored with its decision (what a retry must repeat)."""
        return None if self.event is None else transactions.event_request(self.event)


@dataclass(frozen=True, slots=True)
class Kept:
    """A fallback answered and kept: the decision, what it answered, the version it is of."""

    decision: dict[str, Any]
    asked: Asked
    compiled: CompiledDeployment


class Ledger:
    """The fallbacks answered and not yet written to the store, by call id, oldest first."""

    def __init__(self, store: Store):
        self.store = store
        self.kept: OrderedDict[str, Kept] = OrderedDict()
        self.writing: asyncio.Task[None] | None = None

    def replay(self, call_id: str, asked: Asked) -> dict[str, Any] | None:
        """The fallback kept for a retry of what it answered; a Refusal (409) for another
        event of the call it ended (as the store answers once it is written); None when no
        fallback is kept for the call."""
        kept = self.kept.get(call_id)
        if kept is None:
            return None
        first = kept.asked
        if asked.event_id is None and asked.call is not None:
            if first.call is None:
                return None  # a start for a call already in the store: the store answers
            if (first.call.caller, first.call.dialed) != (asked.call.caller, asked.call.dialed):
                raise Refusal(409, "call-id-reused", "this call_id is already used by another call")
            return kept.decision
        if asked.event_id == first.event_id and first.event_id is not None:
            if asked.request() != first.request():
                message = f"event_id '{asked.event_id}' was already used for another event"
                raise Refusal(409, "event-id-reused", message)
            return kept.decision
        seq, at = (-1 if asked.event is None else asked.event.seq), kept.decision["seq"]
        if seq < at:
            message = f"event seq {seq} answers an old decision; the call is at seq {at}"
            raise Refusal(409, "stale-seq", message)
        if seq > at:
            message = f"event seq {seq} is ahead of the call, which is at seq {at}"
            raise Refusal(409, "future-seq", message)
        reason = kept.decision["fallback_reason"]
        raise Refusal(409, "ended", f"the call has ended (fallback: {reason})")

    def keep(self, call_id: str, kept: Kept) -> Kept:
        """Keep a fallback (the one kept already for the call wins: answer it) and have it
        written to the store."""
        earlier = self.kept.get(call_id)
        if earlier is not None:
            return earlier
        self.kept[call_id] = kept
        while len(self.kept) > KEPT_MAX:
            dropped, _ = self.kept.popitem(last=False)
            log.warning("too many fallbacks unwritten: call %s's is forgotten", dropped)
        if self.writing is None or self.writing.done():
            self.writing = asyncio.ensure_future(self._write_all())
        return kept

    async def _write_all(self) -> None:
        """Write the kept fallbacks, oldest first; a failed write waits (doubling, up to
        RETRY_S[1]) and tries again."""
        wait = RETRY_S[0]
        while self.kept:
            call_id, kept = next(iter(self.kept.items()))
            try:
                written = await self._write(call_id, kept)
            except (SQLAlchemyError, OSError):  # the store cannot commit yet: try again later
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_S[1])
                continue
            except Exception:  # a call this cannot end (not a store fault): leave it be
                log.exception("cannot store the fallback answered to call %s", call_id)
                written = True
            wait = RETRY_S[0]
            if not written:
                log.warning(
                    "the fallback answered to call %s was not stored: the store had decided "
                    "it already",
                    call_id,
                    extra={"call_id": call_id},
                )
            if self.kept.get(call_id) is kept:
                del self.kept[call_id]

    async def _write(self, call_id: str, kept: Kept) -> bool:
        now = self.store.clock()
        asked = kept.asked
        if asked.call is not None:
            return await self.store.transaction(
                transactions.record_call_fallback,
                kept.compiled,
                asked.call.to_runtime(now),
                kept.decision,
                now,
            )
        event = asked.event
        if event is None:
            raise ValueError("a kept fallback answers an event or a new call")
        return await self.store.transaction(
            transactions.record_event_fallback,
            call_id,
            event.event_id,
            transactions.event_request(event),
            kept.decision,
            now,
        )

    async def close(self) -> None:
        """Stop writing (what is unwritten is lost with the process)."""
        if self.writing is not None:
            self.writing.cancel()
            await asyncio.gather(self.writing, return_exceptions=True)
