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
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routing_engine import __version__
from routing_engine.api import LoadedDeployment, load_deployment
from routing_engine.contract import (
    DecisionResponse,
    ErrorResponse,
    EventRequest,
    NewCallRequest,
    parse_event,
    parse_new_call,
)
from routing_engine.core.clock import (
    DEFAULT_MAX_SKEW_S,
    OFFSET_ENV,
    Clock,
    offset_clock,
    system_clock,
)
from routing_engine.service.admin import add_admin_routes
from routing_engine.service.auth import Gate, Keys
from routing_engine.service.board import add_board_routes
from routing_engine.service.core import DEFAULT_DEADLINE_S, Service
from routing_engine.service.http import Refusal, problem, read_body
from routing_engine.service.notifications import Notifications
from routing_engine.service.observability import (
    configure_logging,
    metrics_payload,
)
from routing_engine.service.sessions import Sessions
from routing_engine.service.sip import add_sip_route
from routing_engine.service.tickets import add_ticket_routes
from routing_engine.store.database import Store, StoreOutdated, sqlite_url

log = logging.getLogger("routing_engine.server")
MAX_SKEW_ENV = "ROUTING_MAX_AT_SKEW_S"


class FrontDoor:
    """Every HTTP request passes here first: the gate refuses what the caller may not do, and
    each response names the worker that served it (X-Served-By). Plain ASGI: Starlette's
    `@app.middleware("http")` wraps every request in streams and a task group, which cost more
    than a routing decision."""

    def __init__(self, app: ASGIApp, gate: Gate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served_by = (b"x-served-by", str(os.getpid()).encode())

        async def send_naming_worker(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), served_by]}
            await send(message)

        refused = self.gate.refusal(Request(scope))
        if refused is not None:
            await refused(scope, receive, send_naming_worker)
            return
        await self.app(scope, receive, send_naming_worker)


def create_app(
    deployment: str | os.PathLike[str] | LoadedDeployment,
    database_url: str | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    directory: str | os.PathLike[str] | None = None,
    keys: Keys | None = None,
    clock: Clock = system_clock,
    max_skew_s: float = DEFAULT_MAX_SKEW_S,
) -> FastAPI:
    """An app serving one deployment; a deployment with errors fails here, before binding.
    `directory` (the deployment's folder, when given a loaded deployment) is what a reload
    reads again. `clock` is the one time the service, its store, timers, deliveries, sessions
    and the board read; `max_skew_s` bounds how far a request's explicit `at` may be from it."""
    loaded = deployment if isinstance(deployment, LoadedDeployment) else load_deployment(deployment)
    path = directory if isinstance(deployment, LoadedDeployment) else deployment
    store = Store(database_url or sqlite_url(os.environ.get("ROUTING_DATA_DIR", "data")), clock)
    service = Service(loaded, store, deadline_s, max_skew_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await store.open()
        except StoreOutdated as outdated:
            log.error("cannot start: %s", outdated)
            raise
        await store.publish(loaded.name, loaded.digest, loaded.sources)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # SIGHUP: reload the directory
            loop.add_signal_handler(
                signal.SIGHUP, lambda: service.background.add(asyncio.ensure_future(reload()))
            )
        await notifications.start()  # this process's timer runner and delivery worker
        yield
        await notifications.stop()
        await store.close()

    app = FastAPI(
        title="routing-engine",
        version=__version__,
        lifespan=lifespan,
        summary="Call-routing decisions for telephony systems",
    )
    app.state.service = service

    @app.exception_handler(Refusal)
    async def refused(_request: Request, refusal: Refusal) -> Response:
        """A route refuses by raising Refusal; it answers as its 4xx problem response."""
        return refusal.response

    gate = Gate(keys or Keys.load(), Sessions.from_env(clock))
    app.add_middleware(FrontDoor, gate=gate)

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
            return problem(
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
        call = await read_body(request, parse_new_call)
        decision = await service.decision(
            lambda: service.start_call(call, compiled), call.call_id, 1, compiled
        )
        return JSONResponse(decision)

    @app.post(
        "/v1/calls/{call_id}/events",
        tags=["calls"],
        responses=documented,
        openapi_extra=body_of(EventRequest),
    )
    async def call_event(call_id: str, request: Request) -> JSONResponse:
        """Report what happened; the next decision (seq + 1)."""
        event = await read_body(request, parse_event)
        compiled = service.current.compiled
        decision = await service.decision(
            lambda: service.apply_event(call_id, event), call_id, event.seq + 1, compiled
        )
        return JSONResponse(decision)

    reload = add_admin_routes(app, service, path)
    add_sip_route(app, service)
    add_ticket_routes(app, service)
    notifications = Notifications(app, service)
    add_board_routes(app, gate)

    @app.get("/v1/calls/{call_id}", tags=["calls"])
    async def get_call(call_id: str) -> JSONResponse:
        """A call's state, pinned version, full trace and every decision made for it."""
        stored = await store.call(call_id)
        if stored is None:
            return problem(404, "unknown-call", f"no call '{call_id}'")
        return JSONResponse({**stored.state, "decisions": await store.audit(call_id)})

    return app


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
        clock=offset_clock(float(os.environ.get(OFFSET_ENV) or 0)),
        max_skew_s=float(os.environ.get(MAX_SKEW_ENV) or DEFAULT_MAX_SKEW_S),
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


def run_server(factory: str, host: str, port: int, workers: int) -> None:
    """Serve the app `factory` ("module:function") on our own socket (see `listening_socket`),
    in one process or `workers` processes, uvicorn's access log off (each decision is logged
    as JSON with its call, version and node). Blocks until the server stops."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sock = listening_socket(host, port)
    config = uvicorn.Config(
        factory, factory=True, workers=workers, log_level="info", access_log=False
    )
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
