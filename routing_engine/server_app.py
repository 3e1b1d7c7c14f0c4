"""The HTTP service (FastAPI): telephony systems ask "what now?" for each call and call event.

Thin: it translates HTTP to the library and the store, and back. The contract (DESIGN section
5): every request gets a decision; retries are safe (the same `event_id` returns the stored
decision and changes nothing); a stale or future `seq` is refused with 409 and changes nothing;
a call stays on the deployment version it started on; bad input gets a 4xx naming the field;
and any fault inside answers 200 with the fallback decision, marked as such, within the
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from routing_engine import __version__
from routing_engine.api import CheckResult, LoadedDeployment, check, check_texts, load_deployment
from routing_engine.auth import Keys, middleware
from routing_engine.compile import CompiledDeployment
from routing_engine.contract import (
    BadRequest,
    DecisionResponse,
    ErrorResponse,
    EventRequest,
    NewCallRequest,
    RouteRequest,
    TargetChange,
    dial_event,
    parse_event,
    parse_new_call,
    problems_of,
)
from routing_engine.observability import (
    DECISIONS,
    FALLBACKS,
    LATENCY,
    REFUSALS,
    configure_logging,
    metrics_payload,
)
from routing_engine.runtime import CallState, EventRejected, fallback_decision, start, step
from routing_engine.store import Conflict, Store, sqlite_url

log = logging.getLogger("routing_engine.server")
DEFAULT_DEADLINE_S = 0.5
MAX_BODY_BYTES = 64 * 1024
REJECTION_STATUS = {"bad-event": 422}


def _problem(
    status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status)


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or BadRequest / a 4xx response for what is not JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _Refusal(
            415,
            "unsupported-media-type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before reading it
        raise _Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a body with no length is read up to the limit only
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
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
        raise _Refusal(400, "malformed-json", f"the body is not valid JSON{where}") from None


class _Refusal(Exception):
    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.error = error
        self.response = _problem(status, error, message, problems)


class Service:
    """What the routes share: the deployment versions in memory, the store, the deadline."""

    def __init__(self, loaded: LoadedDeployment, store: Store, deadline_s: float):
        self.current = loaded
        self.versions: dict[str, CompiledDeployment] = {loaded.digest: loaded.compiled}
        self.store = store
        self.deadline_s = deadline_s
        self.locks: dict[str, asyncio.Lock] = {}
        self.fallbacks = 0
        self.background: set[asyncio.Future[JSONResponse]] = set()  # work left at its deadline

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

    async def start_call(self, call: NewCallRequest, compiled: CompiledDeployment) -> JSONResponse:
        """Start a call (or answer a retried start with its first decision)."""
        store = self.store
        async with self.lock(call.call_id):
            stored = await store.call(call.call_id)
            if stored is not None:
                return _same_call(stored, call.caller, call.dialed)
            live = await store.target_states()
            state, decision = start(compiled, call.to_runtime(datetime.now(UTC)), live)
            state_json, decision_json = state.to_json(), decision.to_json()
            if not await store.start(state_json, decision_json):
                raced = await store.call(call.call_id)  # another process started it first
                if raced is None:
                    raise RuntimeError("call vanished while starting")
                return _same_call(raced, call.caller, call.dialed)
            return JSONResponse(decision_json)

    async def apply_event(self, call_id: str, event: EventRequest) -> JSONResponse:
        """Apply an event (or answer a retried one with its stored decision)."""
        store = self.store
        request = event.model_dump(mode="json", by_alias=True, exclude={"at"})
        async with self.lock(call_id):
            done = await store.answered(call_id, event.event_id)
            if done is not None:
                earlier, answered = done
                if earlier != request:
                    raise _Refusal(
                        409,
                        "event-id-reused",
                        f"event_id '{event.event_id}' was already used for another event",
                    )
                return JSONResponse(answered)
            stored = await store.call(call_id)
            if stored is None:
                raise _Refusal(
                    404, "unknown-call", f"no call '{call_id}'; start it with POST /v1/calls"
                )
            pinned = await self.version(stored.digest)
            if pinned is None:
                raise RuntimeError(f"version {stored.digest[:12]} is not loaded")
            live = await store.target_states()
            try:
                new, decision = step(
                    pinned,
                    CallState.from_json(stored.state),
                    event.to_runtime(datetime.now(UTC)),
                    live,
                )
            except EventRejected as rejected:
                status = REJECTION_STATUS.get(rejected.reason, 409)
                raise _Refusal(status, rejected.reason, rejected.message) from None
            state_json, decision_json = new.to_json(), decision.to_json()
            try:
                await store.apply(stored.seq, event.event_id, request, state_json, decision_json)
            except Conflict:
                raise _Refusal(
                    409, "conflict", "the call changed meanwhile; retry with the call's seq"
                ) from None
            return JSONResponse(decision_json)

    def lock(self, call_id: str) -> asyncio.Lock:
        return self.locks.setdefault(call_id, asyncio.Lock())

    async def decide(
        self,
        work: Callable[[], Awaitable[JSONResponse]],
        call_id: str,
        seq: int,
        compiled: CompiledDeployment,
    ) -> JSONResponse:
        """Run `work` within the deadline; any fault answers the fallback decision (200).

        At the deadline the answer goes out at once: the work is cancelled in the background
        (a database blocked in a lock wait cannot be interrupted, only left behind), and its
        transaction rolls back when it wakes."""
        started = time.perf_counter()
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=self.deadline_s)
        if task in done:
            try:
                response = task.result()
                self.count(response, compiled)
                LATENCY.observe(time.perf_counter() - started)
                return response
            except _Refusal as refusal:
                REFUSALS.labels(refusal.error).inc()
                return refusal.response
            except Exception:  # every fault still gets a decision
                log.exception(
                    "fault while deciding for call %s", call_id, extra={"call_id": call_id}
                )
                reason = "internal-error"
        else:
            task.cancel()
            self.background.add(task)
            task.add_done_callback(self.background.discard)
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
        return JSONResponse(fallback_decision(compiled, call_id, seq, reason))

    def count(self, response: JSONResponse, compiled: CompiledDeployment) -> None:
        """Count a decision by its node's kind (read back from the response body)."""
        body = json.loads(bytes(response.body))
        node = compiled.nodes.get((body.get("flow", {}).get("name", ""), body.get("node", "")))
        kind = type(node).__name__.removeprefix("C").lower() if node is not None else "none"
        result = "fallback" if body.get("fallback_reason") else "ok"
        DECISIONS.labels(result, kind).inc()
        log.info(
            "decision",
            extra={
                "call_id": body.get("call_id"),
                "node": body.get("node"),
                "version": compiled.version,
            },
        )


def create_app(
    deployment: str | os.PathLike[str] | LoadedDeployment,
    database_url: str | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    directory: str | os.PathLike[str] | None = None,
    keys: Keys | None = None,
) -> FastAPI:
    """An app serving one deployment; a deployment with errors fails here, before binding.
    `directory` (the deployment's folder, when given a loaded deployment) is what a reload
    reads again."""
    loaded = deployment if isinstance(deployment, LoadedDeployment) else load_deployment(deployment)
    path = directory if isinstance(deployment, LoadedDeployment) else deployment
    store = Store(database_url or sqlite_url(os.environ.get("ROUTING_DATA_DIR", "data")))
    service = Service(loaded, store, deadline_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        await store.publish(loaded.name, loaded.digest, loaded.sources)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # SIGHUP: reload the directory
            loop.add_signal_handler(
                signal.SIGHUP, lambda: service.background.add(asyncio.ensure_future(reload()))
            )
        yield
        await store.close()

    app = FastAPI(
        title="routing-engine",
        version=__version__,
        lifespan=lifespan,
        summary="Call-routing decisions for telephony systems",
    )
    app.state.service = service
    app.middleware("http")(middleware(keys or Keys.load()))

    @app.middleware("http")
    async def served_by(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["X-Served-By"] = str(os.getpid())  # which worker answered
        return response

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the process is up and has a compiled deployment."""
        return {
            "status": "ok",
            "deployment": service.current.name,
            "version": service.current.compiled.version,
        }

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Readiness: the store answers and a deployment is loaded."""
        try:
            await asyncio.wait_for(store.ping(), timeout=2)
        except Exception as error:  # the store is down: not ready, say why
            return _problem(
                503, "store-unavailable", f"the store does not answer: {type(error).__name__}"
            )
        return JSONResponse(
            {
                "status": "ready",
                "deployment": service.current.name,
                "version": service.current.compiled.version,
            }
        )

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        """Prometheus metrics: decisions by result and node kind, fallbacks by reason, decision
        latency, open calls (every worker's, with $PROMETHEUS_MULTIPROC_DIR)."""
        body, content_type = metrics_payload(await store.open_calls())
        return Response(body, media_type=content_type)

    documented: dict[int | str, dict[str, Any]] = {
        200: {"model": DecisionResponse, "description": "the decision"},
        **{code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422)},
    }

    def body_of(model: Any) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        schema.pop("$defs", None)
        return {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        }

    @app.post(
        "/v1/calls", tags=["calls"], responses=documented, openapi_extra=body_of(NewCallRequest)
    )
    async def new_call(request: Request) -> JSONResponse:
        """Start a call: the first decision (seq 1)."""
        compiled = service.current.compiled
        try:
            body = await _json_body(request)
            call = parse_new_call(body)
        except _Refusal as refusal:
            return refusal.response
        except BadRequest as error:
            return _problem(422, "bad-request", str(error), error.problems)

        return await service.decide(
            lambda: service.start_call(call, compiled), call.call_id, 1, compiled
        )

    @app.post(
        "/v1/calls/{call_id}/events",
        tags=["calls"],
        responses=documented,
        openapi_extra=body_of(EventRequest),
    )
    async def call_event(call_id: str, request: Request) -> JSONResponse:
        """Report what happened; the next decision (seq + 1)."""
        try:
            body = await _json_body(request)
            event = parse_event(body)
        except _Refusal as refusal:
            return refusal.response
        except BadRequest as error:
            return _problem(422, "bad-request", str(error), error.problems)
        compiled = service.current.compiled

        return await service.decide(
            lambda: service.apply_event(call_id, event), call_id, event.seq + 1, compiled
        )

    def refused_publish(result: CheckResult) -> JSONResponse:
        problems = [d.to_json() for d in result.diagnostics if d.is_error]
        message = f"the deployment has {len(problems)} error(s); nothing was published"
        return JSONResponse(
            {
                "error": "invalid-deployment",
                "message": message,
                "diagnostics": [d.to_json() for d in result.diagnostics],
            },
            status_code=422,
        )

    async def reload() -> JSONResponse:
        result = await asyncio.to_thread(check, path) if path is not None else None
        if result is None:
            return _problem(
                409, "no-directory", "this service was not started from a deployment directory"
            )
        if result.compiled is None:
            return refused_publish(result)
        return JSONResponse(await service.publish(result))

    @app.post("/v1/flows/reload", tags=["flows"])
    async def reload_route() -> JSONResponse:
        """Re-read the deployment directory and publish it (as on SIGHUP)."""
        return await reload()

    async def files_of(request: Request) -> dict[str, str]:
        body = await _json_body(request)
        files = body.get("files") if isinstance(body, dict) else None
        if (
            not isinstance(files, dict)
            or not files
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
        ):
            raise _Refusal(
                422,
                "bad-request",
                'send {"files": {"NAME.yaml": "TEXT", ...}}',
                [{"field": "files", "problem": "a mapping of file names to their text"}],
            )
        return files

    @app.post("/v1/flows/validate", tags=["flows"])
    async def validate_route(request: Request) -> JSONResponse:
        """Check a deployment given as file texts, without publishing it."""
        try:
            files = await files_of(request)
        except _Refusal as refusal:
            return refusal.response
        result = await asyncio.to_thread(check_texts, files)
        return JSONResponse(
            {
                "ok": result.ok,
                "hash": result.digest,
                "diagnostics": [d.to_json() for d in result.diagnostics],
            }
        )

    @app.post("/v1/flows/publish", tags=["flows"])
    async def publish_route(request: Request) -> JSONResponse:
        """Check a deployment given as file texts and, when it has no errors, publish it."""
        try:
            files = await files_of(request)
        except _Refusal as refusal:
            return refusal.response
        result = await asyncio.to_thread(check_texts, files)
        if result.compiled is None:
            return refused_publish(result)
        return JSONResponse(await service.publish(result))

    @app.get("/v1/flows/versions", tags=["flows"])
    async def versions_route() -> JSONResponse:
        """Every published version, oldest first; `current` marks the one new calls get."""
        listed = await store.list_versions()
        for item in listed:
            item["current"] = item["hash"] == service.current.digest  # type: ignore[assignment]
        return JSONResponse(listed)

    @app.post("/v1/flows/rollback", tags=["flows"])
    async def rollback_route(request: Request) -> JSONResponse:
        """Make an earlier published version (by hash or version) the current one."""
        try:
            body = await _json_body(request)
        except _Refusal as refusal:
            return refusal.response
        wanted = str(body.get("hash", "")) if isinstance(body, dict) else ""
        match = [
            v["hash"]
            for v in await store.list_versions()
            if wanted and v["hash"].startswith(wanted)
        ]
        if len(match) != 1:
            return _problem(
                404 if not match else 409,
                "unknown-version",
                f"no single published version matches '{wanted}'",
            )
        files = await store.version_sources(match[0])
        result = await asyncio.to_thread(check_texts, files or {}, match[0])
        if result.compiled is None:
            return refused_publish(result)
        return JSONResponse(await service.publish(result))

    async def target_view(name: str, live: dict[str, Any]) -> dict[str, Any]:
        target = service.current.compiled.targets[name]
        state = live.get(name, {})
        return {
            "name": name,
            "kind": target.kind,
            "uri": target.uri,
            "site": target.site,
            "region": target.region,
            "capacity": target.capacity,
            "available": state.get("available", target.available),
            "skills": state.get("skills", list(target.skills)),
            "declared": {"available": target.available, "skills": list(target.skills)},
        }

    @app.get("/v1/targets", tags=["targets"])
    async def targets_route() -> JSONResponse:
        """Every target of the current deployment, with its live availability and skills."""
        live = await store.target_states()
        return JSONResponse(
            [await target_view(name, live) for name in service.current.compiled.targets]
        )

    @app.patch("/v1/targets/{name}", tags=["targets"])
    async def patch_target(name: str, request: Request) -> JSONResponse:
        """Change a target's availability and/or skills; the next decisions use it, in every
        process that shares the store."""
        if name not in service.current.compiled.targets:
            return _problem(404, "unknown-target", f"no target '{name}'")
        try:
            body = await _json_body(request)
            change = TargetChange.model_validate(body)
        except _Refusal as refusal:
            return refusal.response
        except ValidationError as error:
            return _problem(422, "bad-request", "the change does not fit", problems_of(error))
        if change.available is None and change.skills is None:
            return _problem(422, "bad-request", "give 'available' and/or 'skills'")
        await store.set_target(name, change.available, change.skills)
        return JSONResponse(await target_view(name, await store.target_states()))

    @app.post("/v1/route", tags=["calls"])
    async def route(request: Request) -> JSONResponse:
        """For SIP proxies that want destinations per INVITE: the routes in Kamailio's rtjson
        shape; report a failed leg (`failure.code`) to get the next routes."""
        try:
            body = await _json_body(request)
            asked = RouteRequest.model_validate(body)
        except _Refusal as refusal:
            return refusal.response
        except ValidationError as error:
            return _problem(422, "bad-request", "the request does not fit", problems_of(error))
        compiled = service.current.compiled
        call = NewCallRequest.model_validate(
            {"call_id": asked.call_id, "from": asked.caller, "to": asked.dialed, "at": asked.at}
        )
        if asked.failure is None:
            response = await service.decide(
                lambda: service.start_call(call, compiled), asked.call_id, 1, compiled
            )
        else:
            stored = await store.call(asked.call_id)
            if stored is None:
                return _problem(
                    404,
                    "unknown-call",
                    f"no call '{asked.call_id}'; route it first without 'failure'",
                )
            seq = asked.failure.seq or stored.seq
            event = EventRequest.model_validate(
                {
                    "event_id": f"route-{seq}",
                    "seq": seq,
                    "type": dial_event(asked.failure.code),
                    "at": asked.at,
                }
            )
            response = await service.decide(
                lambda: service.apply_event(asked.call_id, event),
                asked.call_id,
                stored.seq + 1,
                compiled,
            )
        if response.status_code != 200:
            return response
        return JSONResponse(rtjson(json.loads(bytes(response.body)), compiled))

    @app.get("/v1/calls/{call_id}", tags=["calls"])
    async def get_call(call_id: str) -> JSONResponse:
        """A call's state, pinned version, full trace and every decision made for it."""
        stored = await store.call(call_id)
        if stored is None:
            return _problem(404, "unknown-call", f"no call '{call_id}'")
        return JSONResponse({**stored.state, "decisions": await store.audit(call_id)})

    return app


def rtjson(decision: dict[str, Any], compiled: CompiledDeployment) -> dict[str, Any]:
    """A decision as Kamailio's rtjson routing document. A proxy can only ring: a decision
    that plays a menu or takes a message becomes the deployment's fallback routes."""
    rings = [a for a in decision["actions"] if a["type"] == "ring"]
    final = not decision["await"]
    if not rings and not final:
        rings = [a for a in compiled.fallback["actions"] if a["type"] == "ring"]
    routes = [
        {
            "uri": target["uri"],
            "fr_timer": 5000,
            "fr_inv_timer": int(action["timeout_s"] * 1000),
            "headers": {
                "extra": f"X-Route-Target: {target['name']}\r\nX-Call-Seq: {decision['seq']}\r\n"
            },
        }
        for action in rings
        for target in action["targets"]
    ]
    parallel = any(action.get("strategy") == "simultaneous" for action in rings)
    return {
        "version": "1.0",
        "routing": "parallel" if parallel else "serial",
        "routes": routes,
        "call_id": decision["call_id"],
        "seq": decision["seq"],
        "final": not routes,
        "fallback_reason": decision.get("fallback_reason"),
    }


def _same_call(stored: Any, caller: str, dialed: str) -> JSONResponse:
    """A retried start of a call returns its first decision; a different call with a used id
    is refused."""
    if stored.state.get("from") != caller or stored.state.get("to") != dialed:
        raise _Refusal(409, "call-id-reused", "this call_id is already used by another call")
    return JSONResponse(stored.first_decision)


def app_from_env() -> FastAPI:
    """The app of one worker, configured by the environment the `serve` command sets (workers
    are separate processes: each loads and compiles the deployment itself)."""
    configure_logging()
    keys_file = os.environ.get("ROUTING_KEYS_FILE") or None
    return create_app(
        os.environ["ROUTING_DEPLOYMENT"],
        os.environ.get("ROUTING_DATABASE") or None,
        int(os.environ.get("ROUTING_DEADLINE_MS", "500")) / 1000,
        keys=Keys.load(keys_file),
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound here with TCP_NODELAY: uvicorn's own binding for several
    workers loses it (uvicorn issue 3149), and every answer would then wait ~40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
