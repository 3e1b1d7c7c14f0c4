"""Disposition links: the per-call signed link the service adds to a ring action that takes a
report (`reports`), for the agent who answers to report the call's outcome on a small page
(`disposition.py`). The core has no secrets, so the service signs them.

A link names its call in its path and carries a token: the call, the ring node (flow and node),
the seq of the decision that rang, and when it expires (`TTL_S` after it was issued), signed
with HMAC-SHA256 under a secret the server keeps like the board's and the webhooks'
($ROUTING_DISPOSITION_SECRET, else `disposition-secret` in the deployment's data folder). The
token is the credential: the page needs no API key. It counts only for its call, until it
expires, and while the call still waits at that node (the page checks the call as stored).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from routing_engine.core.clock import Clock, system_clock
from routing_engine.store.private import kept_secret

log = logging.getLogger("routing_engine.service.links")
SECRET_ENV = "ROUTING_DISPOSITION_SECRET"
SECRET_FILE = "disposition-secret"
PUBLIC_URL_ENV = "ROUTING_PUBLIC_URL"
MIN_SECRET_LENGTH = 32
TTL_S = 4 * 3600  # an agent reports during the call or in its wrap-up, not the next day
PATH = "/disposition"  # the page's path; the call id follows
MAX_TOKEN = 512  # a token is about 200 characters; anything far longer is not one


@dataclass(frozen=True, slots=True)
class Claim:
    """What a genuine token says: the call, the ring node, the seq of the decision that rang,
    and when it expires (Unix seconds)."""

    call_id: str
    flow: str
    node: str
    seq: int
    expires: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def checked_public_url(text: str) -> str:
    """The server's public URL, without a trailing '/'; a ValueError saying what it needs
    unless it is an http(s) URL with a host and no query or fragment."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"public URL {text!r}: give the address agents reach this server at, e.g. "
            "https://routing.example.org (http or https, a host, no query)"
        )
    return text.strip().rstrip("/")


class Links:
    """Signs disposition links and reads their tokens back. The secret is read (or made) on
    first use, so a server whose flows take no reports never makes one."""

    def __init__(
        self,
        secret: bytes | None = None,
        folder: Path | None = None,
        clock: Clock = system_clock,
        public_url: str = "",
    ):
        self._secret = secret
        self._folder = folder
        self.clock = clock  # when a token is issued, and whether it has expired
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_env(cls, clock: Clock, folder: Path, public_url: str | None = None) -> Links:
        """The secret from $ROUTING_DISPOSITION_SECRET, else the file kept in `folder` (the
        deployment's data folder); the public base URL `public_url`, else
        $ROUTING_PUBLIC_URL, else none (links are paths)."""
        given = os.environ.get(SECRET_ENV, "")
        if given and len(given) < MIN_SECRET_LENGTH:
            raise ValueError(f"${SECRET_ENV} needs at least {MIN_SECRET_LENGTH} characters")
        base = os.environ.get(PUBLIC_URL_ENV, "") if public_url is None else public_url
        secret = given.encode("utf-8") if given else None
        return cls(secret, folder, clock, checked_public_url(base) if base else "")

    @property
    def secret(self) -> bytes:
        """The secret; when the data folder can neither keep nor give one (read-only, a short
        secret), one for this process alone, logged: a link must never cost a call its
        routing (it is made inside the decision's transaction)."""
        if self._secret is None:
            folder = self._folder or Path("data")
            try:
                self._secret = kept_secret(folder, SECRET_FILE, "disposition secret")
            except (OSError, ValueError) as error:
                log.error(
                    "cannot keep a disposition secret (%s): signing links with one for this "
                    "process only (other processes and restarts refuse them); set $%s",
                    error,
                    SECRET_ENV,
                )
                self._secret = secrets.token_hex(32).encode("ascii")
        return self._secret

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self.secret, b"disposition\0" + payload.encode(), hashlib.sha256).digest()

    def token(self, call_id: str, flow: str, node: str, seq: int) -> str:
        """A token for the call at the ring node `flow`/`node`, rung by decision `seq`."""
        expires = int(self.clock().timestamp()) + TTL_S
        body = {"c": call_id, "f": flow, "n": node, "s": seq, "e": expires}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{_b64(self._mac(payload))}"

    def read(self, token: str) -> Claim | None:
        """What a token says; None when it is forged, damaged or not a token at all (expiry is
        the caller's to check, to say so)."""
        payload, _, signature = token.partition(".")
        if len(token) > MAX_TOKEN or not payload or not signature:
            return None
        try:
            if not hmac.compare_digest(_unb64(signature), self._mac(payload)):
                return None
            body = json.loads(_unb64(payload))
            claim = Claim(body["c"], body["f"], body["n"], body["s"], body["e"])
        except (ValueError, KeyError, TypeError):
            return None
        fields = (claim.call_id, claim.flow, claim.node)
        if not all(isinstance(f, str) for f in fields) or not isinstance(claim.seq, int):
            return None
        return claim if isinstance(claim.expires, int) else None

    def expired(self, claim: Claim) -> bool:
        return self.clock().timestamp() >= claim.expires

    def path(self, call_id: str) -> str:
        """The page's path for a call (its id quoted), without the token."""
        return f"{PATH}/{quote(call_id, safe='')}"

    def url(self, call_id: str, flow: str, node: str, seq: int) -> str:
        """The link to give the agent: absolute when the public URL is known, else a path."""
        token = self.token(call_id, flow, node, seq)
        return f"{self.public_url}{self.path(call_id)}?token={token}"

    def add(self, decision: dict[str, Any]) -> None:
        """Give each ring action of `decision` that takes a report its link, in place. A
        fallback's actions take none (they come from the line's fallback, not a node)."""
        flow, node = decision["flow"]["name"] or "", decision["node"] or ""
        for action in decision["actions"]:
            if action.get("reports") and action.get("type") == "ring":
                action["disposition_url"] = self.url(
                    decision["call_id"], flow, node, decision["seq"]
                )
