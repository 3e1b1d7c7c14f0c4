"""Sending notifications: the delivery worker drains the `deliveries` outbox.

Each process leases due deliveries with a conditional UPDATE (only a row whose lease has
lapsed can be taken), so of several processes sharing the store one sends each attempt. A
webhook is a JSON POST signed with HMAC-SHA256; an e-mail goes through SMTP (in a thread,
where configured). A failed attempt is retried with exponential backoff up to a cap, and given
up after `max_attempts`; every attempt is recorded on the ticket (`notified`,
`notify-failed`) and counted in the metrics.

Signature: `X-Routing-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` under the
secret in $ROUTING_WEBHOOK_SECRET, with `X-Routing-Timestamp: TIMESTAMP` (Unix seconds).
Without a secret, webhooks go out unsigned (no signature header), and a warning is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from routing_engine.core.clock import Clock, system_clock
from routing_engine.core.version import __version__
from routing_engine.store.tables import deliveries, iso, tickets
from routing_engine.store.tickets import ENGINE, record

log = logging.getLogger("routing_engine.store.notify")

SECRET_ENV = "ROUTING_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Routing-Signature"
TIMESTAMP_HEADER = "X-Routing-Timestamp"
DELIVERY_HEADER = "X-Routing-Delivery"
EVENT_HEADER = "X-Routing-Event"
MAX_ERROR = 300  # characters of an error kept on the ticket

NOTIFICATIONS = Counter(
    "routing_notifications",
    "Notification attempts, by channel and result (delivered, retry, failed: given up)",
    ["channel", "result"],
)

# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str
    password: str
    tls: str  # starttls, ssl, none


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """How timers and deliveries run; `from_env` reads the ROUTING_* variables."""

    secret: bytes | None = None
    interval_s: float = 1.0  # how often each process looks for due timers and deliveries
    backoff_s: float = 5.0  # the wait before the first retry; doubled each time
    backoff_cap_s: float = 600.0
    max_attempts: int = 8
    timeout_s: float = 10.0  # one attempt's limit
    lease_s: float = 60.0  # how long a process holds a delivery it is sending
    smtp: SmtpSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        """Settings from the environment; a malformed value raises ValueError naming it."""
        env = os.environ if env is None else env

        def number(name: str, default: float, low: float) -> float:
            text = env.get(name, "").strip()
            try:
                value = float(text) if text else default
            except ValueError:
                raise ValueError(f"${name} must be a number, not {text!r}") from None
            if value < low:
                raise ValueError(f"${name} must be at least {low:g}")
            return value

        secret = env.get(SECRET_ENV, "")
        timeout = number("ROUTING_NOTIFY_TIMEOUT_S", 10.0, 0.1)
        smtp = None
        if env.get("ROUTING_SMTP_HOST", "").strip():
            tls = env.get("ROUTING_SMTP_TLS", "starttls").strip().lower()
            if tls not in ("starttls", "ssl", "none"):
                raise ValueError("$ROUTING_SMTP_TLS must be starttls, ssl or none")
            smtp = SmtpSettings(
                host=env["ROUTING_SMTP_HOST"].strip(),
                port=int(number("ROUTING_SMTP_PORT", 465 if tls == "ssl" else 587, 1)),
                sender=env.get("ROUTING_SMTP_FROM", "").strip() or "routing-engine@localhost",
                user=env.get("ROUTING_SMTP_USER", ""),
                password=env.get("ROUTING_SMTP_PASSWORD", ""),
                tls=tls,
            )
        return cls(
            secret=secret.encode("utf-8") if secret else None,
            interval_s=number("ROUTING_TIMER_INTERVAL_MS", 1000, 10) / 1000,
            backoff_s=number("ROUTING_NOTIFY_BACKOFF_S", 5.0, 0.01),
            backoff_cap_s=number("ROUTING_NOTIFY_BACKOFF_CAP_S", 600.0, 0.01),
            max_attempts=int(number("ROUTING_NOTIFY_MAX_ATTEMPTS", 8, 1)),
            timeout_s=timeout,
            lease_s=max(60.0, 3 * timeout),
            smtp=smtp,
        )

    def backoff(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt."""
        return float(min(self.backoff_s * 2 ** (attempts - 1), self.backoff_cap_s))


# --- signing -------------------------------------------------------------------------------------


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 of `TIMESTAMP.BODY`."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: float
) -> bool:
    """True for a signature made with `secret` at most `tolerance_s` from `now` (Unix time), so
    a recorded request cannot be replayed later."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def shown_address(channel: str, address: str) -> str:
    """An address as tickets and logs show it: a webhook URL as its scheme and host only (chat
    webhooks carry their token in the path or the query, some URLs a password before the
    host)."""
    if channel != "webhook" or address.startswith("/"):
        return address
    parts = urlsplit(address)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


# --- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 500", "ConnectError: ...", "sent"
    status: int | None = None


class Senders:
    """How one process sends: an HTTP client for webhooks, one into its own app for webhooks
    that are a path of this server, and SMTP in a thread."""

    def __init__(self, settings: NotifySettings, local_app: Any = None):
        self.settings = settings
        limits = httpx.Timeout(settings.timeout_s)
        self.http = httpx.AsyncClient(timeout=limits, follow_redirects=False)
        self.local = (
            None
            if local_app is None
            else httpx.AsyncClient(
                transport=httpx.ASGITransport(app=local_app),
                base_url="http://localhost",  # a name the server answers without keys
                timeout=limits,
            )
        )

    async def close(self) -> None:
        await self.http.aclose()
        if self.local is not None:
            await self.local.aclose()

    async def send(self, row: Any, now: datetime) -> Attempt:
        """One attempt, over within `timeout_s` as a whole (httpx's timeout bounds each read,
        so a receiver trickling its answer would otherwise hold the attempt past its lease)."""
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                if row.channel == "email":
                    return await self._email(row)
                return await self._webhook(row, now)
        except TimeoutError:
            return Attempt(False, f"no answer within {self.settings.timeout_s:g}s")
        except Exception as error:  # whatever went wrong, it is a failed attempt, retried
            return Attempt(False, f"{type(error).__name__}: {error}"[:MAX_ERROR])

    async def _webhook(self, row: Any, now: datetime) -> Attempt:
        body = row.payload.encode("utf-8")
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"routing-engine/{__version__}",
            DELIVERY_HEADER: str(row.id),
            EVENT_HEADER: row.event,
            TIMESTAMP_HEADER: timestamp,
        }
        if self.settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.settings.secret, timestamp, body)
        client = self.local if row.address.startswith("/") else self.http
        if client is None:
            return Attempt(False, "a path as webhook needs the engine's server to deliver it")
        response = await client.post(row.address, content=body, headers=headers)
        code = response.status_code
        return Attempt(200 <= code < 300, f"HTTP {code}", code)

    async def _email(self, row: Any) -> Attempt:
        smtp = self.settings.smtp
        if smtp is None:
            return Attempt(False, "e-mail is not configured ($ROUTING_SMTP_HOST)")
        payload = json.loads(row.payload)
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = row.address
        message["Subject"] = payload.get("title", "Routing engine notification")
        message["Message-ID"] = make_msgid(domain="routing-engine")
        message.set_content(payload.get("text", "") + "\n\n" + json.dumps(payload, indent=2))
        await asyncio.to_thread(_send_mail, smtp, message, self.settings.timeout_s)
        return Attempt(True, "sent")


def _send_mail(smtp: SmtpSettings, message: EmailMessage, timeout: float) -> None:
    """Blocking: run in a thread."""
    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
        if smtp.tls == "ssl"
        else smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    )
    with client:
        if smtp.tls == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


# --- the delivery worker -------------------------------------------------------------------------


class DeliveryWorker:
    """Leases due deliveries, sends them, and records each attempt."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: NotifySettings,
        send: Callable[[Any, datetime], Awaitable[Attempt]],
        worker: str,
        clock: Clock = system_clock,
        batch: int = 20,
    ):
        self.engine = engine
        self.settings = settings
        self.send = send
        self.worker = worker
        self.clock = clock
        self.batch = batch

    async def tick(self) -> int:
        """Send what is due now; returns how many attempts were made."""
        now = self.clock()
        stamp = iso(now)
        query = (
            select(deliveries.c.id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at <= stamp,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < stamp),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(self.batch)
        )
        async with self.engine.connect() as connection:
            due = [row.id for row in await connection.execute(query)]
        leased = [delivery for delivery in due if await self._lease(delivery, now)]
        await asyncio.gather(*(self._attempt(delivery) for delivery in leased))
        return len(leased)

    async def _lease(self, delivery: int, now: datetime) -> bool:
        stamp = iso(now)
        until = iso(now + timedelta(seconds=self.settings.lease_s))
        async with self.engine.begin() as connection:
            taken = await connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery,
                    deliveries.c.status == "pending",
                    or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < stamp),
                )
                .values(lease_until=until, leased_by=self.worker)
            )
            return bool(taken.rowcount == 1)

    async def _attempt(self, delivery: int) -> None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(select(deliveries).where(deliveries.c.id == delivery))
            ).one()
        attempt = await self.send(row, self.clock())
        now = self.clock()
        attempts = row.attempts + 1
        if attempt.ok:
            status, result = "delivered", "delivered"
        elif attempts >= self.settings.max_attempts:
            status, result = "failed", "failed"
        else:
            status, result = "pending", "retry"
        retry_at = now + timedelta(seconds=self.settings.backoff(attempts))
        async with self.engine.begin() as connection:
            done = await connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery, deliveries.c.leased_by == self.worker)
                .values(
                    status=status,
                    attempts=attempts,
                    lease_until=None,
                    leased_by=None,
                    last_error=None if attempt.ok else attempt.detail,
                    delivered_at=iso(now) if attempt.ok else None,
                    next_attempt_at=iso(retry_at) if result == "retry" else row.next_attempt_at,
                )
            )
            if done.rowcount != 1:  # the lease lapsed and another process took it over
                return
            if row.ticket_id is not None:
                await self._record(connection, row, attempt, attempts, result, retry_at)
        NOTIFICATIONS.labels(row.channel, result).inc()
        level = logging.INFO if attempt.ok else logging.WARNING
        log.log(
            level,
            "notification %s %s to %s (%s, attempt %d): %s",
            row.event,
            result,
            row.contact,
            row.channel,
            attempts,
            attempt.detail,
            extra={"call_id": row.call_id, "status": result},
        )

    async def _record(
        self,
        connection: Any,
        row: Any,
        attempt: Attempt,
        attempts: int,
        result: str,
        retry_at: datetime,
    ) -> None:
        found = (
            await connection.execute(select(tickets.c.board).where(tickets.c.id == row.ticket_id))
        ).first()
        if found is None:
            return
        detail: dict[str, Any] = {
            "delivery": row.id,
            "event": row.event,
            "contact": row.contact,
            "channel": row.channel,
            "to": shown_address(row.channel, row.address),
            "attempt": attempts,
        }
        detail["status" if attempt.status is not None else "error"] = (
            attempt.status if attempt.status is not None else attempt.detail
        )
        if result == "retry":
            detail["next_attempt_at"] = iso(retry_at)
        if result == "failed":
            detail["gave_up"] = True
        kind = "notified" if attempt.ok else "notify-failed"
        ticket = {"id": row.ticket_id, "board": found.board}
        await record(connection, ticket, kind, ENGINE, iso(self.clock()), detail)
