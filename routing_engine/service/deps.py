"""What the routes reach through FastAPI dependencies: the app's `Service` and the parts built
beside it. `provide` puts them on the app's state once, when the app is made; each dependency
reads one back per request (as `Annotated[Service, Depends(service)]`, or the aliases below).
The per-call routes read the service with `service_of` instead: resolving a dependency costs
some 12 us a request, a fifth of what the whole HTTP side of a call costs in process.

The dependencies are coroutines: FastAPI runs a plain function dependency in its thread pool,
a thread hop on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from routing_engine.service.auth import Gate
from routing_engine.service.board_stream import Hub
from routing_engine.service.core import Service
from routing_engine.service.publishing import Publisher
from routing_engine.store.notify import NotifySettings


def provide(
    app: FastAPI,
    service: Service,
    gate: Gate,
    hub: Hub,
    publisher: Publisher,
    notify: NotifySettings,
) -> None:
    """Put what the routes reach on `app`'s state, where the dependencies below find it."""
    app.state.service = service
    app.state.gate = gate
    app.state.hub = hub
    app.state.publisher = publisher
    app.state.notify = notify


def service_of(request: Request) -> Service:
    """The app's service: deployment versions, store, deadline."""
    found: Service = request.app.state.service
    return found


async def service(request: Request) -> Service:
    """The app's service, as a dependency."""
    return service_of(request)


async def gate(request: Request) -> Gate:
    """Who may call what: the keys, and the board's sessions."""
    found: Gate = request.app.state.gate
    return found


async def hub(request: Request) -> Hub:
    """The process's poller of ticket changes, feeding the board's streams."""
    found: Hub = request.app.state.hub
    return found


async def publisher(request: Request) -> Publisher:
    """What publishes flow versions (and reloads the deployment directory)."""
    found: Publisher = request.app.state.publisher
    return found


async def notify(request: Request) -> NotifySettings:
    """How notifications are signed, sent and checked."""
    found: NotifySettings = request.app.state.notify
    return found


ServiceDep = Annotated[Service, Depends(service)]
GateDep = Annotated[Gate, Depends(gate)]
HubDep = Annotated[Hub, Depends(hub)]
PublisherDep = Annotated[Publisher, Depends(publisher)]
NotifyDep = Annotated[NotifySettings, Depends(notify)]
