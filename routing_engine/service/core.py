"""The service's core: what every route shares. The deployment versions in memory, the store,
the deadline within which every request gets a decision, and the refusals (4xx) in one shape."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from routing_engine.api import CheckResult, LoadedDeployment, check_texts
from routing_engine.contract import BadRequest, EventRequest, NewCallRequest
from routing_engine.core.calls import NewCall
from routing_engine.core.clock import DEFAULT_MAX_SKEW_S, call_time
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.runtime import CallState, EventRejected, fallback_decision, start, step
from routing_engine.service.observability import (
    DECISIONS,
    FALLBACKS,
    LATENCY,
    REFUSALS,
)
from routing_engine.store.call_rows import (
    Conflict,
    insert_call,
    read_answered,
    read_call,
    read_targets,
    update_call,
)
from routing_engine.store.database import Store
from routing_engine.store.tables import iso

log = logging.getLogger("routing_engine.server")
Parsed = TypeVar("Parsed")
DEFAULT_DEADLINE_S = 0.5
MAX_BODY_BYTES = 64 * 1024
REJECTION_STATUS = {"bad-event": 422}


def problem(
    status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status)


async def json_body(request: Request) -> Any:
    """The request's JSON body, or BadRequest / a 4xx response for what is not JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(
            415,
            "unsupported-media-type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before reading it
        raise Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a body with no length is read up to the limit only
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = (
            f" at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise Refusal(400, "malformed-json", f"the body is not valid JSON{where}") from None


class Refusal(Exception):
    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.error = error
        self.response = problem(status, error, message, problems)


async def read_body(request: Request, parse: Callable[[Any], Parsed]) -> Parsed:
    """The request's JSON body, read by `parse` (a contract parser); a Refusal (4xx) for a body
    that is not JSON or does not fit, naming the fields."""
    body = await json_body(request)
    try:
        return parse(body)
    except BadRequest as error:
        raise Refusal(422, "bad-request", str(error), error.problems) from None


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
                return await self.store.transaction(_start, compiled, new, iso(now))
            except IntegrityError:
                stored = await self.store.call(call.call_id)  # a retry, or another's start
            if stored is None:
                raise RuntimeError("call vanished while starting")
            return same_call(stored, call.caller, call.dialed)

    async def apply_event(self, call_id: str, event: EventRequest) -> dict[str, Any]:
        """Apply an event (or answer a retried one with its stored decision), read, decided and
        stored in one transaction. A call pinned to a version not in memory is read first, the
        version loaded, then the event applied (the seq check keeps that safe)."""
        now = self.clock()
        self.checked_at(event.at, now)
        request = event.model_dump(mode="json", by_alias=True, exclude={"at"})
        async with self.lock(call_id):
            while True:
                try:
                    return await self.store.transaction(
                        _apply, self.versions.get, call_id, request, event, now
                    )
                except VersionNeeded as needed:
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
    ) -> dict[str, Any]:
        """Run `work` within the deadline; any fault answers the fallback decision. A Refusal
        (4xx) passes through, counted, for the app's handler to answer.

        At the deadline the answer goes out at once: the work is abandoned and cancelled in
        the background (a database blocked in a lock wait cannot be interrupted, only left
        behind), and its transaction rolls back when it wakes. Unless the store refuses to
        abandon it (`Store.abandon`): its decision is kept and committing with its batch, so
        it is awaited (moments more) and answered, never a fallback for a stored decision."""
        started = time.perf_counter()
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=self.deadline_s)
        if task not in done and not self.store.abandon(task):
            done, _ = await asyncio.wait({task})
        if task in done:
            try:
                decision = task.result()
                self.count(decision, compiled)
                LATENCY.observe(time.perf_counter() - started)
                return decision
            except Refusal as refusal:
                REFUSALS.labels(refusal.error).inc()
                raise
            except Exception:  # every fault still gets a decision
                log.exception(
                    "fault while deciding for call %s", call_id, extra={"call_id": call_id}
                )
                reason = "internal-error"
        else:
            task.cancel()
            self.background.add(task)
            reason = "deadline"
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
        return fallback_decision(compiled, call_id, seq, reason)

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


class VersionNeeded(Exception):
    """The call is pinned to a deployment version that is not in memory."""

    def __init__(self, digest: str):
        super().__init__(digest)
        self.digest = digest


def _start(
    connection: Connection, compiled: CompiledDeployment, call: NewCall, now: str
) -> dict[str, Any]:
    """Decide a new call on the live target states and store it as started `now` (the
    server's clock; IntegrityError when its id is taken): the transaction of
    `Service.start_call`."""
    state, decision = start(compiled, call, read_targets(connection))
    decision_json = decision.to_json()
    insert_call(connection, state.to_json(), decision_json, now)
    return decision_json


def _apply(
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


def same_call(stored: Any, caller: str, dialed: str) -> dict[str, Any]:
    """A retried start of a call returns its first decision; a different call with a used id
    is refused."""
    if stored.state.get("from") != caller or stored.state.get("to") != dialed:
        raise Refusal(409, "call-id-reused", "this call_id is already used by another call")
    first: dict[str, Any] = stored.first_decision
    return first
