"""How one process sends a notification: a webhook POST through a guarded HTTP transport, a
webhook that is a path of the engine's own server into its app in process, an e-mail through
SMTP in a thread.

The guard (ARCHITECTURE.md, *Invariants*: outbound requests never reach internal addresses by
default): before each connection the host's name is resolved, every address it resolves to is
checked against the address policy (`core/outbound.py`, with the networks the deployment
allows), and the connection goes to the checked address itself (TLS still verifies the name),
so a name that resolves differently a moment later (DNS rebinding) cannot swap it. Redirects
are not followed: a 3xx answer is a failed attempt. A refused address is not retried.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from routing_engine.core.outbound import IP, Network, parse_ip, refusal
from routing_engine.core.version import __version__
from routing_engine.store.notify import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_ERROR,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Attempt,
    NotifySettings,
    SmtpSettings,
    sign,
)

# host, port -> the addresses it resolves to (text); injectable so tests resolve as they like
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the machine's resolver gives for `host`."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


class DeliveryRefused(Exception):
    """A webhook the address policy refuses: given up at once, never retried."""


async def checked_address(
    host: str, port: int, allowed: tuple[Network, ...], resolver: Resolver = system_resolver
) -> IP:
    """The address to connect to for `host`: a literal address as it is, a name resolved; every
    address it resolves to must pass the policy (one internal address among public ones is
    refused too: the resolver's order is not ours to trust). Raises DeliveryRefused."""
    literal = parse_ip(host)
    if literal is not None:
        addresses: tuple[IP, ...] = (literal,)
    else:
        try:
            found = await resolver(host, port)
        except OSError as error:
            raise httpx.ConnectError(f"cannot resolve {host!r}: {error}") from None
        parsed = [parse_ip(text) for text in found]
        addresses = tuple(dict.fromkeys(a for a in parsed if a is not None))
        if not addresses:
            raise httpx.ConnectError(f"{host!r} resolves to no address")
    for address in addresses:
        reason = refusal(address, allowed)
        if reason is not None:
            shown = "" if literal is not None else f"{host} resolves to "
            raise DeliveryRefused(
                f"refused: {shown}{reason}; allow_webhook_networks lets a deployment reach it"
            )
    return addresses[0]


class GuardedTransport(httpx.AsyncBaseTransport):
    """An HTTP transport that connects only to addresses the policy allows, and to the very
    address it checked."""

    def __init__(
        self,
        allowed: Callable[[], tuple[Network, ...]],
        resolver: Resolver = system_resolver,
        connections: int = 100,
    ):
        self.allowed = allowed
        self.resolver = resolver
        # no proxy from the environment: a proxy would connect where it likes
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=connections))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.userinfo:
            raise DeliveryRefused("refused: the URL holds credentials (user:password@)")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await checked_address(url.host, port, self.allowed(), self.resolver)
        # the Host header already names the host; TLS is sent and checks the name too
        request.url = url.copy_with(host=str(address).partition("%")[0])
        request.extensions = {**request.extensions, "sni_hostname": url.host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Senders:
    """How one process sends: a guarded HTTP client for webhooks, one into its own app for
    webhooks that are a path of this server, and SMTP in a thread. `allowed` gives the
    networks the current deployment allows (it may change on reload)."""

    def __init__(
        self,
        settings: NotifySettings,
        local_app: Any = None,
        allowed: Callable[[], tuple[Network, ...]] = tuple,
        resolver: Resolver = system_resolver,
    ):
        self.settings = settings
        limits = httpx.Timeout(settings.timeout_s)
        transport = GuardedTransport(allowed, resolver, max(settings.concurrency, 1))
        self.http = httpx.AsyncClient(timeout=limits, follow_redirects=False, transport=transport)
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
        except DeliveryRefused as refused:
            return Attempt(False, str(refused)[:MAX_ERROR], final=True)
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
