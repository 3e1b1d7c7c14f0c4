"""The service's core: what every route shares. The deployment versions in memory, the store,
one decision at a time per call, and the deadline within which every request gets a decision
(the fallback when the work does not make it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from routing_engine.api import CheckResult, LoadedDeployment, check_texts
from routing_engine.contract import EventRequest, NewCallRequest
from routing_engine.core.clock import DEFAULT_MAX_SKEW_S
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.runtime import Where, fallback_decision
from routing_engine.service import transactions
from routing_engine.service.fallbacks import Asked, Budget, Kept, Ledger
from routing_engine.service.http import Refusal
from routing_engine.service.links import Links
from routing_engine.service.observability import (
    DECISIONS,
    FALLBACKS,
    LATENCY,
    REFUSALS,
)
from routing_engine.service.store_health import StoreHealth
from routing_engine.store.call_rows import StoredCall
from routing_engine.store.database import Store
from routing_engine.store.tables import iso

log = logging.getLogger("routing_engine.server")
DEFAULT_DEADLINE_S = 0.5
# Where a call stands as stored: the call (None: not stored) and an event's stored answer.
Standing = tuple[StoredCall | None, tuple[dict[str, Any], dict[str, Any]] | None]


@dataclass
class _CallLock:
    """A call's lock and how many decisions hold or await it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Background(set[asyncio.Future[Any]]):
    """Tasks left running, held so they are not collected mid-way; each leaves when done."""

    def add(self, task: asyncio.Future[Any]) -> None:
        super().add(task)
        task.add_done_callback(self.discard)


class Service:
    """What the routes share: the deployment versions in memory, the store, the deadline."""

    def __init__(
        self,
        loaded: LoadedDeployment,
        store: Store,
        deadline_s: float,
        max_skew_s: float = DEFAULT_MAX_SKEW_S,
    ):
        self.current = loaded
        self.versions: dict[str, CompiledDeployment] = {loaded.digest: loaded.compiled}
        self.store = store
        self.deadline_s = deadline_s
        self.max_skew_s = max_skew_s
        self.clock = store.clock  # one clock for the service and its store
        self.locks: dict[str, _CallLock] = {}  # only calls being decided now
        self.fallbacks = 0
        self.background = Background()  # work left running: past its deadline, reloads
        self.health = StoreHealth()  # whether the store could be opened for writing
        self.ledger = Ledger(store)  # fallbacks answered for what the store could not commit
        self.links: Links | None = None  # signs disposition links (set by the app)

    async def version(self, digest: str) -> CompiledDeployment | None:
        """A deployment version by its hash: in memory, else rebuilt from the store's copy of
        its files (calls stay on the version they started on, across restarts)."""
        found = self.versions.get(digest)
        if found is None:
            files = await self.store.version_sources(digest)
            if files is None:
                return None
            result = await asyncio.to_thread(check_texts, files, digest)
            if result.compiled is None:
                return None
            found = self.versions.setdefault(digest, result.compiled)
        return found

    async def publish(self, result: CheckResult) -> dict[str, Any]:
        """Make a checked deployment the one new calls get; earlier ones stay for their calls."""
        compiled = result.compiled
        if compiled is None:
            raise ValueError("only a deployment without errors is published")
        await self.store.publish(compiled.name, compiled.digest, result.sources)
        changed = compiled.digest != self.current.digest
        self.versions.setdefault(compiled.digest, compiled)
        self.current = LoadedDeployment(
            self.versions[compiled.digest], result.diagnostics, result.sources
        )
        log.info("published %s version %s", compiled.name, compiled.version)
        return {
            "published": changed,
            "name": compiled.name,
            "version": compiled.version,
            "hash": compiled.digest,
            "warnings": [d.to_json() for d in result.diagnostics],
        }

    async def start_call(
        self, call: NewCallRequest, compiled: CompiledDeployment
    ) -> dict[str, Any]:
        """Start a call (or answer a retried start with its first decision). A new call is the
        common case, so it is decided and stored in one transaction; its insert finds a retry
        (the call id is taken), which is then answered with the stored first decision."""
        now = self.clock()
        new = call.to_runtime(self.checked_at(call.at, now) or now)
        async with self.lock(call.call_id):
            try:
                return await self.store.transaction(
                    transactions.start_call, compiled, new, iso(now), self.links
                )
            except IntegrityError:
                stored = await self.store.call(call.call_id)  # a retry, or another's start
            if stored is None:
                raise RuntimeError("call vanished while starting")
            return transactions.same_call(stored, call.caller, call.dialed)

    async def apply_event(self, call_id: str, event: EventRequest) -> dict[str, Any]:
        """Apply an event (or answer a retried one with its stored decision), read, decided and
        stored in one transaction. A call pinned to a version not in memory is read first, the
        version loaded, then the event applied (the seq check keeps that safe)."""
        now = self.clock()
        self.checked_at(event.at, now)
        request = transactions.event_request(event)
        async with self.lock(call_id):
            while True:
                try:
                    return await self.store.transaction(
                        transactions.apply_event,
                        self.versions.get,
                        call_id,
                        request,
                        event,
                        now,
                        self.links,
                    )
                except transactions.VersionNeeded as needed:
                    if await self.version(needed.digest) is None:
                        raise RuntimeError(f"version {needed.digest[:12]} is not loaded") from None

    def checked_at(self, at: datetime | None, now: datetime) -> datetime | None:
        """A request's explicit `at`, refused (422, naming the field) when it is further from
        the server's clock than `max_skew_s`: a time that far off would fire the SLA timers
        it starts at once, or never."""
        if at is not None and abs((at - now).total_seconds()) > self.max_skew_s:
            raise Refusal(
                422,
                "bad-request",
                f"'at' {at.isoformat()} is more than {self.max_skew_s:g} s from the server's "
                f"clock ({iso(now)}); send the time the call or event happened",
                [{"field": "at", "problem": "too far from the server's clock"}],
            )
        return at

    @asynccontextmanager
    async def lock(self, call_id: str) -> AsyncIterator[None]:
        """One decision at a time per call in this process. The entry goes when no decision
        holds or awaits it, so the table does not grow with every call ever seen."""
        entry = self.locks.get(call_id)
        if entry is None:
            entry = self.locks[call_id] = _CallLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self.locks[call_id]

    async def decision(
        self,
        work: Callable[[], Awaitable[dict[str, Any]]],
        call_id: str,
        seq: int,
        compiled: CompiledDeployment,
        dialed: str | None = None,
        *,
        asked: Asked | None = None,
        arrived: float | None = None,
    ) -> dict[str, Any]:
        """Run `work` within the deadline, counted from `arrived` (the request's arrival, on
        `time.perf_counter`; else now); any fault answers the call's fallback decision (its
        line's: for a new call, `dialed`, the number it dialed; for an event, the call as
        stored). A Refusal (4xx) passes through, counted, for the app's handler to answer.

        The answer leaves within the deadline (`Budget`: less the time to read the call for
        its fallback, read meanwhile, and to send it). Then the work is abandoned, cancelled
        in the background (a database in a lock wait can only be left behind), and its
        transaction rolls back when it wakes; unless the store refuses (`Store.abandon`): its
        decision is committing, so it is awaited (moments more) and answered. A fallback for
        what the store could not commit is kept (`fallbacks.Ledger`, given `asked`): a retry
        gets it again. A store not open for writing gets no work: the fallback answers."""
        started = time.perf_counter() if arrived is None else arrived
        budget = Budget.of(started, self.deadline_s, reads=dialed is None or asked is not None)
        if asked is not None:
            replayed = self.ledger.replay(call_id, asked)
            if replayed is not None:
                return replayed
        read: asyncio.Future[Standing] | None = None
        if self.health.down is not None:
            reason = "store-unavailable"
        else:
            task = asyncio.ensure_future(work())
            read = await self._within(task, budget, call_id, asked)
            if task.done():
                decided = self._outcome(task, compiled, started, call_id, read)
                if decided is not None:
                    return decided
                reason = "internal-error"
            else:
                task.cancel()
                self.background.add(task)
                reason = "deadline"
        standing = None
        if dialed is None or asked is not None:  # a new call's fallback needs no read
            standing = await self._standing(read, call_id, asked, budget)
        if standing is not None and asked is not None and reason != "internal-error":
            found = self._settled(standing, asked)
            if found is not None:
                return found
        decision = self._fallback(compiled, call_id, seq, reason, dialed, standing)
        if asked is not None and reason != "internal-error":
            kept = self.ledger.keep(call_id, Kept(decision, asked, compiled))
            if kept.decision is not decision:  # another request's fallback was kept first
                return self.decision_kept(call_id, asked)
        self.count_fallback(call_id, reason, compiled, started)
        return decision

    def _fallback(
        self,
        compiled: CompiledDeployment,
        call_id: str,
        seq: int,
        reason: str,
        dialed: str | None,
        standing: Standing | None,
    ) -> dict[str, Any]:
        """The fallback of the call's line: a new call's by the number it dialed, an event's
        by the call as stored (on the version it is pinned to, when loaded); else the
        deployment's."""
        if dialed is not None:
            return fallback_decision(
                compiled, call_id, seq, reason, Where.of_new_call(compiled, dialed)
            )
        stored = None if standing is None else standing[0]
        if stored is None:
            return fallback_decision(compiled, call_id, seq, reason)
        pinned = self.versions.get(stored.digest, compiled)
        return fallback_decision(pinned, call_id, seq, reason, Where.of_state(stored.state))

    async def _within(
        self,
        task: asyncio.Task[dict[str, Any]],
        budget: Budget,
        call_id: str,
        asked: Asked | None,
    ) -> asyncio.Future[Standing] | None:
        """Await `task` until the budget's end; from its `read_at` on, read where the call
        stands meanwhile (for its fallback), and return that read."""
        read = None
        await asyncio.wait({task}, timeout=Budget.left(budget.read_at))
        if not task.done() and budget.read_at < budget.end:
            read = self._read_standing(call_id, asked)
            await asyncio.wait({task}, timeout=Budget.left(budget.end))
        if not task.done() and not self.store.abandon(task):
            await asyncio.wait({task})
        return read

    def _read_standing(self, call_id: str, asked: Asked | None) -> asyncio.Future[Standing]:
        event_id = None if asked is None else asked.event_id
        return asyncio.ensure_future(self.store.read(transactions.read_standing, call_id, event_id))

    async def _standing(
        self,
        read: asyncio.Future[Standing] | None,
        call_id: str,
        asked: Asked | None,
        budget: Budget,
    ) -> Standing | None:
        """Where the call stands as stored, read by the budget's end; None when unknown."""
        if read is None:
            read = self._read_standing(call_id, asked)
        done, _ = await asyncio.wait({read}, timeout=Budget.left(budget.end))
        if read not in done or read.cancelled():
            read.cancel()
            return None
        try:
            return read.result()
        except Exception as error:  # a fallback is answered whatever the store does
            log.warning("cannot read call %s for its fallback: %r", call_id, error)
            return None

    def _settled(self, standing: Standing, asked: Asked) -> dict[str, Any] | None:
        """The store's answer when a read tells it (`transactions.settled`): a retry's stored
        decision, or a refusal (a stale or future seq stays 409 when the store is slow)."""
        try:
            return transactions.settled(standing, asked.event, asked.call, self.clock())
        except Refusal as refusal:
            REFUSALS.labels(refusal.error).inc()
            raise

    def decision_kept(self, call_id: str, asked: Asked) -> dict[str, Any]:
        """The fallback kept for the call, for `asked` (or its refusal)."""
        kept = self.ledger.replay(call_id, asked)
        if kept is None:
            raise RuntimeError(f"no fallback kept for call {call_id}")
        return kept

    def _outcome(
        self,
        task: asyncio.Future[dict[str, Any]],
        compiled: CompiledDeployment,
        started: float,
        call_id: str,
        read: asyncio.Future[Standing] | None,
    ) -> dict[str, Any] | None:
        """The work's decision, counted; a Refusal raised; None for a fault (logged). The
        read made for a fallback is dropped unless the fault needs it."""
        try:
            decision = task.result()
        except Refusal as refusal:
            REFUSALS.labels(refusal.error).inc()
            if read is not None:
                read.cancel()
            raise
        except Exception:  # every fault still gets a decision
            log.exception("fault while deciding for call %s", call_id, extra={"call_id": call_id})
            return None
        if read is not None:
            read.cancel()
        self.count(decision, compiled)
        LATENCY.observe(time.perf_counter() - started)
        return decision

    def count_fallback(
        self, call_id: str, reason: str, compiled: CompiledDeployment, started: float
    ) -> None:
        """Count and log a fallback answered."""
        self.fallbacks += 1
        FALLBACKS.labels(reason).inc()
        DECISIONS.labels("fallback", "fallback").inc()
        LATENCY.observe(time.perf_counter() - started)
        log.warning(
            "fallback decision for call %s: %s",
            call_id,
            reason,
            extra={"call_id": call_id, "reason": reason, "version": compiled.version},
        )

    def count(self, decision: dict[str, Any], compiled: CompiledDeployment) -> None:
        """Count a decision by its node's kind, and log it."""
        node = compiled.nodes.get((decision["flow"]["name"], decision["node"]))
        kind = type(node).__name__.removeprefix("C").lower() if node is not None else "none"
        result = "fallback" if decision.get("fallback_reason") else "ok"
        DECISIONS.labels(result, kind).inc()
        log.info(
            "decision",
            extra={
                "call_id": decision["call_id"],
                "node": decision["node"],
                "version": compiled.version,
            },
        )
