"""Sending notifications: the delivery worker drains the `deliveries` outbox.

Each process leases due deliveries with a conditional UPDATE (only a row whose lease has
lapsed can be taken), so of several processes sharing the store one sends each attempt, and
sends up to `concurrency` at once (a burst drains in seconds, not one receiver's answer after
another). A webhook is a JSON POST signed with HMAC-SHA256 (`senders.py`); an e-mail goes
through SMTP (in a thread, where configured). A failed attempt is retried with exponential
backoff up to a cap, and given up after `max_attempts` (at once when the address is refused);
every attempt is recorded on the ticket (`notified`, `notify-failed`) and counted in the
metrics.

Signature: `X-Routing-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` under the
secret in $ROUTING_WEBHOOK_SECRET, with `X-Routing-Timestamp: TIMESTAMP` (Unix seconds).
Without the variable, the secret is the one kept in the deployment's data folder
(`webhook-secret`, made on first start): every webhook is signed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import Counter

from routing_engine.store import private

log = logging.getLogger("routing_engine.store.notify")

SECRET_ENV = "ROUTING_WEBHOOK_SECRET"
SECRET_FILE = "webhook-secret"
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
    concurrency: int = 16  # deliveries one process sends at once

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
            concurrency=int(number("ROUTING_NOTIFY_CONCURRENCY", 16, 1)),
        )

    def backoff(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt."""
        return float(min(self.backoff_s * 2 ** (attempts - 1), self.backoff_cap_s))


def kept_secret(folder: Path) -> bytes:
    """The webhook secret kept in `folder` (the deployment's data folder), made there when
    missing (`private.kept_secret`)."""
    return private.kept_secret(folder, SECRET_FILE, "webhook secret")


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


# --- attempts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 500", "ConnectError: ...", "sent"
    status: int | None = None
    final: bool = False  # not worth retrying (an address the policy refuses)
