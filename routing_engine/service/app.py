"""The HTTP service (FastAPI): telephony systems ask "what now?" for each call and call event.

Thin: it translates HTTP to the library and the store, and back. The contract (ARCHITECTURE.md,
"The routing contract"): every request gets a decision; retries are safe (the same `event_id`
returns the stored decision and changes nothing); a stale or future `seq` is refused with 409
and changes nothing; a call stays on the deployment version it started on; bad input gets a 4xx
naming the field; and any fault inside answers 200 with the fallback decision, marked as such,
within the deadline.

Here the app is assembled: the routes are module-level routers (`calls`, `admin`, `sip`,
`twilio`, `jambonz`, `freeswitch`, `tickets`, `notifications`, `board`, `disposition`,
`health`) that reach the service through the dependencies of `deps.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routing_engine import __version__
from routing_engine.api import LoadedDeployment, load_deployment
from routing_engine.core.clock import (
    DEFAULT_MAX_SKEW_S,
    OFFSET_ENV,
    Clock,
    offset_clock,
    system_clock,
)
from routing_engine.service import (
    admin,
    board,
    calls,
    disposition,
    freeswitch,
    health,
    jambonz,
    notifications,
    sip,
    tickets,
    twilio,
)
from routing_engine.service.auth import Gate, Keys
from routing_engine.service.board_stream import Hub
from routing_engine.service.core import DEFAULT_DEADLINE_S, Service
from routing_engine.service.deps import provide
from routing_engine.service.fallbacks import ARRIVED
from routing_engine.service.http import Refusal, invalid_parameters, problem
from routing_engine.service.links import Links
from routing_engine.service.notifications import Notifications
from routing_engine.service.observability import configure_logging
from routing_engine.service.openapi import openapi_of
from routing_engine.service.publishing import Publisher
from routing_engine.service.sessions import Sessions
from routing_engine.service.store_health import (
    STORE_ERRORS,
    UNOPENABLE,
    Outage,
    announce_down,
    reopen,
)
from routing_engine.service.twilio_auth import TwilioSettings
from routing_engine.store.database import Store, StoreClaimed, StoreOutdated, claim, sqlite_url

log = logging.getLogger("routing_engine.server")
MAX_SKEW_ENV = "ROUTING_MAX_AT_SKEW_S"
DATA_DIR_ENV = "ROUTING_DATA_DIR"  # where each deployment's folder of default data files is
# Every route, in the order a request's path is matched against them (a ticket's "events"
# is not a ticket id, a board's "session" not an office: each router orders its own).
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    calls.router,
    admin.router,
    sip.router,
    twilio.router,
    jambonz.router,
    freeswitch.router,
    tickets.router,
    notifications.router,
    board.router,
    disposition.router,
)


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
        scope[ARRIVED] = time.perf_counter()  # the deadline counts from here
        served_by = (b"x-served-by", str(os.getpid()).encode())

        async def send_naming_worker(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), served_by]}
            await send(message)

        refused = await self.gate.refusal(Request(scope))
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
    public_url: str | None = None,
) -> FastAPI:
    """An app serving one deployment; a deployment with errors fails here, before binding, and
    so does a store that belongs to another deployment (StoreClaimed) or an earlier version
    (StoreOutdated). The store is `database_url`, else the deployment's default one
    (`data_folder`). `directory` (the deployment's folder, when given a loaded deployment) is
    what a reload reads again. `clock` is the one time the service, its store, timers,
    deliveries, sessions and the board read; `max_skew_s` bounds how far a request's explicit
    `at` may be from it. `public_url` (else $ROUTING_PUBLIC_URL) makes disposition links
    absolute (`links.py`)."""
    loaded = deployment if isinstance(deployment, LoadedDeployment) else load_deployment(deployment)
    path = directory if isinstance(deployment, LoadedDeployment) else deployment
    url = database_url or sqlite_url(data_folder(loaded.name))
    try:
        claim(url, loaded.name, clock)
        unopenable = None
    except UNOPENABLE as error:  # serve fallbacks until it opens (store_health.py)
        unopenable = error
    store = Store(url, clock)
    service = Service(loaded, store, deadline_s, max_skew_s)
    service.links = Links.from_env(clock, data_folder(loaded.name), public_url)
    if unopenable is not None:
        announce_down(service.health, store.shown, unopenable)
    gate = Gate(keys or Keys.load(), store, Sessions.from_env(clock, data_folder(loaded.name)))
    publisher = Publisher(service, path)
    notifier = Notifications(service, folder=data_folder(loaded.name))
    app = FastAPI(
        title="routing-engine",
        version=__version__,
        lifespan=lifespan(service, publisher, notifier, gate),
        summary="Call-routing decisions for telephony systems",
        exception_handlers={
            Refusal: refused,
            RequestValidationError: invalid_parameters,
            **dict.fromkeys(STORE_ERRORS, store_failed(Outage("requests"))),
        },
        # the routers' routes themselves: `include_router` keeps each router nested and
        # matches it again on every request, some 13 µs more on each call
        routes=[route for router in ROUTERS for route in router.routes],
    )
    app.openapi = openapi_of(app)  # type: ignore[method-assign]  # every status, truthfully
    provide(app, service, gate, Hub(store.engine, clock), publisher, notifier.settings)
    app.state.twilio = TwilioSettings.from_env()  # the Twilio webhook's token (twilio_auth.py)
    app.add_middleware(FrontDoor, gate=gate)
    return app


def lifespan(
    service: Service, publisher: Publisher, notifier: Notifications, gate: Gate
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's life: the store opened and the deployment it was made with published, the
    board sessions of keys no longer configured revoked (keys are read at start only), SIGHUP
    reloading the deployment directory, and this process's notification workers running."""
    loaded, store = service.current, service.store

    async def opening() -> None:
        await store.open(loaded.name)
        await store.publish(loaded.name, loaded.digest, loaded.sources)
        await store.probe()  # opened is not enough: a read-only file opens
        await gate.revoke_removed_keys()

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        if service.health.down is None:
            try:
                await opening()
            except (StoreOutdated, StoreClaimed) as refused:
                log.error("cannot start: %s", refused)
                raise
            except UNOPENABLE as error:
                announce_down(service.health, store.shown, error)
        if service.health.down is not None:
            service.background.add(
                asyncio.ensure_future(reopen(service.health, store.shown, opening))
            )
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # SIGHUP: reload the directory
            loop.add_signal_handler(
                signal.SIGHUP,
                lambda: service.background.add(asyncio.ensure_future(publisher.reload())),
            )
        await notifier.start(app)  # this process's timer runner and delivery worker
        yield
        await notifier.stop()
        await service.ledger.close()
        await store.close()

    return running


def data_folder(deployment: str) -> Path:
    """The deployment's own folder of default data files (its store, its board's session
    secret): `DEPLOYMENT` in the data directory ($ROUTING_DATA_DIR, else `./data`), so two
    deployments served from one folder never share them."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data") / deployment


async def refused(_request: Request, refusal: Refusal) -> Response:
    """A route refuses by raising Refusal; it answers as its 4xx problem response."""
    return refusal.response


def store_failed(outage: Outage) -> Callable[[Request, Any], Coroutine[Any, Any, Response]]:
    """What a route that is not a decision answers when the store fails under it (cannot be
    opened, locked past its timeout, gone): 503 `store-unavailable` with the reason and a
    Retry-After, never a 500; the log says it once per outage (decisions fall back instead:
    they never get here)."""

    async def answer(_request: Request, error: Exception) -> Response:
        outage.failed(error)
        message = f"the store cannot be reached just now ({outage.reason}); try again"
        response = problem(503, "store-unavailable", message)
        response.headers["Retry-After"] = "1"
        return response

    return answer


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
