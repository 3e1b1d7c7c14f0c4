"""Notifications in the service: the background tasks each process runs (the timer runner and
the delivery worker), the built-in webhook inbox, and the outbox for admins.

- `POST /notifications/inbox`: a webhook receiver built in, so a deployment works out of the
  box (`webhook: /notifications/inbox`). It takes a notification signed with the deployment's
  webhook secret, or sent with an admin key (`Authorization: Bearer KEY`); anything else is
  401, whoever sends it. It is off (404) while no contact of the deployment uses it. A body
  over `MAX_INBOX_BODY` is 413; it keeps the newest `MAX_INBOX_ROWS` notifications, at most
  `MAX_INBOX_BYTES` of them, and drops the oldest past either bound.
- `GET /v1/notifications/inbox` (admin): what the inbox took in, newest first.
- `GET /v1/notifications` (admin): the outbox: every delivery, its attempts and last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from routing_engine.contract import ErrorResponse
from routing_engine.core import ir
from routing_engine.core.outbound import Network, networks
from routing_engine.service.core import Service
from routing_engine.service.deps import GateDep, NotifyDep, ServiceDep
from routing_engine.service.http import MAX_ID, Refusal, body_of, parse_json, raw_body
from routing_engine.service.store_health import STORE_ERRORS, Outage
from routing_engine.store.notify import (
    DELIVERY_HEADER,
    SECRET_ENV,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NotifySettings,
    kept_secret,
    shown_address,
    verify,
)
from routing_engine.store.outbox import DeliveryWorker
from routing_engine.store.senders import Senders
from routing_engine.store.tables import deliveries, inbox, iso, narrowed
from routing_engine.store.timers import TimerRunner

log = logging.getLogger("routing_engine.store.notify")
INBOX = "/notifications/inbox"
MAX_INBOX_BODY = 64 * 1024  # one notification (a few hundred bytes in practice)
MAX_INBOX_ROWS = 1000  # notifications kept; the oldest are dropped past it
MAX_INBOX_BYTES = 4 * 1024 * 1024  # their payloads together; the oldest dropped past it
TOLERANCE_S = 300  # a signed notification older (or newer) than this is refused: no replays
INBOX_ROLES = frozenset({"admin"})  # a key that may post to the inbox unsigned


def _worker_id() -> str:
    """Who holds a lease: unique per process even where containers share a host name and
    each run as PID 1."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Notifications:
    """Starts and stops this process's timer runner and delivery worker (the routes below
    serve the inbox and the outbox). `folder` is the deployment's data folder, where the
    webhook secret is kept when $ROUTING_WEBHOOK_SECRET is not set."""

    def __init__(
        self,
        service: Service,
        settings: NotifySettings | None = None,
        folder: Path | None = None,
    ):
        self.service = service
        self.settings = settings or NotifySettings.from_env()
        self.folder = folder or Path("data") / service.current.name
        self.worker = _worker_id()
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.senders: Senders | None = None
        self.sender: DeliveryWorker | None = None
        self._allowed: tuple[tuple[str, ...], tuple[Network, ...]] = ((), ())

    async def start(self, app: FastAPI) -> None:
        """Start the workers; a webhook that is a path of this server is delivered into `app`
        in process. Without $ROUTING_WEBHOOK_SECRET, the secret kept in the data folder (made
        now if missing) signs every webhook, and the inbox checks it."""
        if self.settings.secret is None:
            self.settings = replace(self.settings, secret=await self._kept_secret())
            app.state.notify = self.settings  # what the inbox checks signatures with
        self.worker = _worker_id()  # the process serving, if forked
        self.stopping, self.wake = asyncio.Event(), asyncio.Event()
        self.senders = Senders(self.settings, app, self._allowed_networks)
        engine = self.service.store.engine
        clock = self.service.store.clock
        runner = TimerRunner(engine, self._deployment, self.settings, self.worker, clock)
        self.sender = DeliveryWorker(
            engine, self.settings, self.senders.send, self.worker, clock, self.wake.set
        )
        self.tasks = [
            asyncio.create_task(self._loop("timers", runner.tick, None, self.wake)),
            asyncio.create_task(self._loop("deliveries", self._fill, self.wake, None)),
        ]

    async def _kept_secret(self) -> bytes:
        """The secret kept in the data folder; when it can be neither read nor made (a
        read-only folder), one for this process alone, so that the server still starts and
        signs (its own inbox verifies; other receivers cannot until the variable is set)."""
        try:
            return await asyncio.to_thread(kept_secret, self.folder)
        except (OSError, ValueError) as error:
            log.error(
                "cannot keep a webhook secret (%s): signing with one for this process only; "
                "set $%s",
                error,
                SECRET_ENV,
            )
            return secrets.token_hex(32).encode("ascii")

    def _deployment(self) -> ir.Deployment:
        """The current deployment: its contacts' addresses are where notifications go."""
        return self.service.current.compiled.deployment

    def _allowed_networks(self) -> tuple[Network, ...]:
        """The networks the current deployment lets webhooks reach (parsed once a version)."""
        written = self._deployment().allow_webhook_networks
        if written != self._allowed[0]:
            self._allowed = (written, networks(written))
        return self._allowed[1]

    async def _fill(self) -> int:
        """Start sending what is due, as slots allow; a delivery done wakes the loop again."""
        assert self.sender is not None
        return len(await self.sender.fill())

    async def stop(self) -> None:
        """Let the work in hand finish (a few seconds at most), then stop."""
        self.stopping.set()
        self.wake.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=self.settings.timeout_s + 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.sender is not None:
            await self.sender.drain(self.settings.timeout_s + 1)
        if self.senders is not None:
            await self.senders.close()

    async def _loop(
        self,
        name: str,
        tick: Callable[[], Awaitable[int]],
        wait_for: asyncio.Event | None,
        then_wake: asyncio.Event | None,
    ) -> None:
        """Run `tick` about every interval (sooner when `wait_for` is set) until stopped; a
        failed tick is logged and the next one tries again: a store that cannot be reached is
        said once (and its recovery), anything else with its traceback."""
        outage = Outage(name)
        while not self.stopping.is_set():
            if wait_for is not None:
                wait_for.clear()  # before the tick: what is set during it wakes the next wait
            try:
                done = await tick()
                outage.recovered()
                if done and then_wake is not None:
                    then_wake.set()
            except STORE_ERRORS as error:  # busy or down: try again at the next tick
                outage.failed(error)
            except Exception:  # not the store: a fault worth its traceback
                log.exception("%s: a round failed; trying again", name)
            event = wait_for or self.stopping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.settings.interval_s)


router = APIRouter(tags=["notifications"])


INBOX_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "kept: `signature` says how it was vouched for (`valid`, `key`)"},
    **{code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422)},
}


@router.post(
    INBOX,
    status_code=202,
    responses=INBOX_RESPONSES,
    openapi_extra=body_of({"type": "object", "description": "a notification, as sent"}),
)
async def inbox_route(
    request: Request, service: ServiceDep, settings: NotifyDep, gate: GateDep
) -> JSONResponse:
    """The built-in webhook receiver: checks the signature (or an admin key), keeps what
    arrived, within its bounds."""
    if not _inbox_in_use(service):
        raise Refusal(404, "not-found", f"no contact of this deployment has the webhook {INBOX}")
    body = await raw_body(request, MAX_INBOX_BODY)  # the signature is over these bytes
    checked = _inbox_sender(request, body, settings, gate, service.store.clock().timestamp())
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise Refusal(422, "bad-request", "a notification is a JSON object")
    contact = payload.get("contact")
    async with service.store.engine.begin() as connection:
        await connection.execute(
            insert(inbox).values(
                received_at=iso(service.store.clock()),
                delivery=request.headers.get(DELIVERY_HEADER, "")[:64] or None,
                event=str(payload.get("event", ""))[:32],
                contact=str(contact.get("name", "") if isinstance(contact, dict) else "")[:64],
                signature=checked,
                payload=json.dumps(payload),  # ASCII: its length is its size in bytes
            )
        )
        await _trim_inbox(connection)
    return JSONResponse({"received": True, "signature": checked}, status_code=202)


def _inbox_in_use(service: Service) -> bool:
    """Whether a contact of the current deployment has the inbox as its webhook."""
    return any(c.webhook == INBOX for c in service.current.compiled.deployment.contacts)


def _inbox_sender(
    request: Request, body: bytes, settings: NotifySettings, gate: GateDep, now: float
) -> str:
    """How the notification is vouched for: `valid` (signed with the deployment's webhook
    secret) or `key` (an admin key); else a 401, from this machine as from any other."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if signature and settings.secret is not None:
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if verify(settings.secret, timestamp, body, signature, now, TOLERANCE_S):
            return "valid"
        raise Refusal(401, "bad-signature", f"{SIGNATURE_HEADER} does not verify")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        role = gate.keys.role_of(presented.strip())
        if role in INBOX_ROLES:
            return "key"
        if role is None:
            raise Refusal(401, "unauthorized", "this key is not known")
        raise Refusal(403, "forbidden", "only an admin key may post to the inbox unsigned")
    raise Refusal(
        401, "unsigned", f"sign the notification ({SIGNATURE_HEADER}) or send an admin key"
    )


async def _trim_inbox(connection: AsyncConnection) -> None:
    """Drop the oldest notifications past `MAX_INBOX_ROWS`, or past `MAX_INBOX_BYTES` of
    payloads together (the newest is always kept)."""
    newest = select(inbox.c.id, func.length(inbox.c.payload).label("size"))
    rows = await connection.execute(newest.order_by(inbox.c.id.desc()).limit(MAX_INBOX_ROWS + 1))
    total, cutoff = 0, None
    for index, row in enumerate(rows):
        total += row.size
        if index >= MAX_INBOX_ROWS or (index > 0 and total > MAX_INBOX_BYTES):
            cutoff = row.id
            break
    if cutoff is not None:
        await connection.execute(delete(inbox).where(inbox.c.id <= cutoff))


@router.get("/v1/notifications/inbox")
async def inbox_list(service: ServiceDep, limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    """What the built-in inbox received, newest first."""
    query = select(inbox).order_by(inbox.c.id.desc()).limit(limit)
    async with service.store.engine.connect() as connection:
        rows = [
            {**row._asdict(), "payload": json.loads(row.payload)}
            for row in await connection.execute(query)
        ]
    return JSONResponse(rows)


@router.get("/v1/notifications")
async def outbox_list(
    service: ServiceDep,
    ticket_id: int | None = Query(None, ge=1, le=MAX_ID),
    call_id: str | None = Query(None, max_length=128),
    status: str | None = Query(None, pattern="^(pending|delivered|failed)$"),
    limit: int = Query(200, ge=1, le=2000),
) -> JSONResponse:
    """Notifications sent or being sent: contact, channel, status, attempts, last error."""
    columns = [c for c in deliveries.columns if c.name not in ("payload", "leased_by")]
    query = narrowed(
        select(*columns).order_by(deliveries.c.id.desc()).limit(limit),
        (deliveries.c.ticket_id, ticket_id),
        (deliveries.c.call_id, call_id),
        (deliveries.c.status, status),
    )
    async with service.store.engine.connect() as connection:
        rows = [row._asdict() for row in await connection.execute(query)]
    for row in rows:
        row["address"] = shown_address(row["channel"], row["address"])
    return JSONResponse(rows)
