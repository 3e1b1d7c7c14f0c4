"""Notifications in the service: the background tasks each process runs (the timer runner and
the delivery worker), the built-in webhook inbox, and the outbox for admins.

- `POST /notifications/inbox`: a webhook receiver built in, so a deployment works out of the
  box (`webhook: /notifications/inbox`). It checks the signature when $ROUTING_WEBHOOK_SECRET
  is set (401 otherwise); without a secret it takes unsigned notifications from this machine
  only. It needs no API key: the signature is its authentication.
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

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import insert, select

from routing_engine.core import ir
from routing_engine.service.auth import LOOPBACK
from routing_engine.service.core import Service
from routing_engine.service.deps import NotifyDep, ServiceDep
from routing_engine.service.http import MAX_ID, Refusal, body_of, parse_json, raw_body, refusals
from routing_engine.store.notify import (
    DELIVERY_HEADER,
    SECRET_ENV,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryWorker,
    NotifySettings,
    Senders,
    shown_address,
    verify,
)
from routing_engine.store.tables import deliveries, inbox, iso, narrowed
from routing_engine.store.timers import TimerRunner

log = logging.getLogger("routing_engine.store.notify")
INBOX = "/notifications/inbox"
MAX_INBOX_BODY = 64 * 1024
TOLERANCE_S = 300  # a signed notification older (or newer) than this is refused: no replays


def _worker_id() -> str:
    """Who holds a lease: unique per process even where containers share a host name and
    each run as PID 1."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Notifications:
    """Starts and stops this process's timer runner and delivery worker (the routes below
    serve the inbox and the outbox)."""

    def __init__(self, service: Service, settings: NotifySettings | None = None):
        self.service = service
        self.settings = settings or NotifySettings.from_env()
        self.worker = _worker_id()
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.senders: Senders | None = None

    async def start(self, app: FastAPI) -> None:
        """Start the workers; a webhook that is a path of this server is delivered into `app`
        in process."""
        if self.settings.secret is None:
            log.warning("$%s is not set: webhooks are sent unsigned", SECRET_ENV)
        self.worker = _worker_id()  # the process serving, if forked
        self.stopping, self.wake = asyncio.Event(), asyncio.Event()
        self.senders = Senders(self.settings, app)
        engine = self.service.store.engine
        clock = self.service.store.clock
        runner = TimerRunner(engine, self._deployment, self.settings, self.worker, clock)
        sender = DeliveryWorker(engine, self.settings, self.senders.send, self.worker, clock)
        self.tasks = [
            asyncio.create_task(self._loop("timers", runner.tick, None, self.wake)),
            asyncio.create_task(self._loop("deliveries", sender.tick, self.wake, None)),
        ]

    def _deployment(self) -> ir.Deployment:
        """The current deployment: its contacts' addresses are where notifications go."""
        return self.service.current.compiled.deployment

    async def stop(self) -> None:
        """Let the work in hand finish (a few seconds at most), then stop."""
        self.stopping.set()
        self.wake.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=self.settings.timeout_s + 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
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
        failed tick is logged and the next one tries again."""
        while not self.stopping.is_set():
            try:
                done = await tick()
                if done and then_wake is not None:
                    then_wake.set()
            except Exception:  # the store was busy or down: try again at the next tick
                log.exception("%s: a round failed; trying again", name)
            event = wait_for or self.stopping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.settings.interval_s)
            if wait_for is not None:
                wait_for.clear()


router = APIRouter(tags=["notifications"])


@router.post(
    INBOX,
    status_code=202,
    responses=refusals(400, 401, 413, 422),
    openapi_extra=body_of({"type": "object", "description": "a notification, as sent"}),
)
async def inbox_route(request: Request, service: ServiceDep, settings: NotifyDep) -> JSONResponse:
    """The built-in webhook receiver: checks the signature, keeps what arrived."""
    engine, clock = service.store.engine, service.store.clock
    body = await raw_body(request, MAX_INBOX_BODY)  # the signature is over these bytes
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if settings.secret is not None:
        if not verify(
            settings.secret, timestamp, body, signature, clock().timestamp(), TOLERANCE_S
        ):
            raise Refusal(401, "bad-signature", f"{SIGNATURE_HEADER} does not verify")
        checked = "valid"
    else:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            message = f"unsigned notifications come from this machine only; set ${SECRET_ENV}"
            raise Refusal(401, "unsigned", message)
        checked = "unsigned"
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise Refusal(422, "bad-request", "a notification is a JSON object")
    contact = payload.get("contact")
    async with engine.begin() as connection:
        await connection.execute(
            insert(inbox).values(
                received_at=iso(clock()),
                delivery=request.headers.get(DELIVERY_HEADER),
                event=str(payload.get("event", ""))[:32],
                contact=str(contact.get("name", "") if isinstance(contact, dict) else "")[:64],
                signature=checked,
                payload=json.dumps(payload, ensure_ascii=False),
            )
        )
    return JSONResponse({"received": True, "signature": checked}, status_code=202)


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
