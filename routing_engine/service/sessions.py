"""Staff sessions for the board: a signed cookie naming the person and the role their key
has, and a CSRF token derived from it that the page sends back on every change.

The cookie is `payload.signature`, both base64url: the payload is JSON (name, role, which key,
a random session id, when issued); the signature is an HMAC-SHA256 with a server-side secret.
The session itself is a row in the store (`store/board_sessions.py`, checked by the gate in
`auth.py`), so signing out ends it on every worker and server sharing the store, and a
restarted server still honours it. The secret comes from $ROUTING_SESSION_SECRET (at least 32
characters), else from a file in the deployment's folder of the data directory, made on first
use (0600, in a 0700 folder); changing it signs everyone out. A session names its key by an
HMAC of the key's hash, so removing the key from the configuration ends its sessions too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from routing_engine.core.clock import Clock, system_clock
from routing_engine.store.private import kept_secret

COOKIE = "routing_session"
CSRF_HEADER = "x-csrf-token"
SECRET_ENV = "ROUTING_SESSION_SECRET"
SECRET_FILE = "session-secret"
MAX_AGE_S = 12 * 3600  # a long shift
MAX_NAME = 128
MIN_SECRET_LENGTH = 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def clean_name(name: object) -> str | None:
    """A person's name as the board shows it: trimmed, 1 to 128 printable characters."""
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return None
    return name


@dataclass(frozen=True, slots=True)
class Session:
    name: str  # the person, as changes record them
    role: str  # the role of the key they signed in with ("staff" when no keys are configured)
    key_id: str  # which key ("" when no keys are configured)
    sid: str  # random: what the CSRF token is derived from
    issued: int  # Unix time


def secret_from(folder: Path) -> bytes:
    """The secret in `folder`, made there (readable by the owner only) when missing
    (`private.kept_secret`)."""
    return kept_secret(folder, SECRET_FILE, "session secret", MIN_SECRET_LENGTH)


class Sessions:
    """Issues and reads session cookies and their CSRF tokens."""

    def __init__(
        self, secret: bytes | None = None, folder: Path | None = None, clock: Clock = system_clock
    ):
        self._secret = secret
        self._folder = folder
        self.clock = clock  # when a session is issued, and whether it has expired

    @classmethod
    def from_env(cls, clock: Clock = system_clock, folder: Path | None = None) -> Sessions:
        """The secret from $ROUTING_SESSION_SECRET, else a file in `folder` (the deployment's
        data folder), else in $ROUTING_DATA_DIR (./data)."""
        given = os.environ.get(SECRET_ENV, "")
        if given:
            if len(given) < MIN_SECRET_LENGTH:
                raise ValueError(f"${SECRET_ENV} needs at least {MIN_SECRET_LENGTH} characters")
            return cls(secret=given.encode("utf-8"), clock=clock)
        if folder is None:
            folder = Path(os.environ.get("ROUTING_DATA_DIR", "data"))
        return cls(folder=folder, clock=clock)

    @property
    def secret(self) -> bytes:
        if self._secret is None:  # read (or made) on first use, not by servers never asked
            self._secret = secret_from(self._folder or Path("data"))
        return self._secret

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self.secret, purpose + b"\0" + data, hashlib.sha256).digest()

    def key_id(self, key_digest: bytes) -> str:
        """How a session names its key: not the key's hash itself, so a cookie reveals nothing
        that could be tested against guesses without the secret."""
        return self._mac(b"key", key_digest)[:12].hex()

    def issue(self, name: str, role: str, key_id: str) -> tuple[str, Session]:
        """A new session and its cookie value."""
        issued = int(self.clock().timestamp())
        session = Session(name, role, key_id, secrets.token_urlsafe(16), issued)
        payload = _b64(
            json.dumps(
                {"n": name, "r": role, "k": key_id, "s": session.sid, "t": session.issued},
                separators=(",", ":"),
            ).encode("utf-8")
        )
        return f"{payload}.{_b64(self._mac(b'session', payload.encode('ascii')))}", session

    def read(self, cookie: str) -> Session | None:
        """The session in a cookie value; None when it is forged, damaged or expired."""
        payload, _, signature = cookie.partition(".")
        try:
            expected = self._mac(b"session", payload.encode("ascii"))
            if not hmac.compare_digest(_unb64(signature), expected):
                return None
            data = json.loads(_unb64(payload))
            session = Session(data["n"], data["r"], data["k"], data["s"], int(data["t"]))
        except (ValueError, KeyError, TypeError):  # not base64, not JSON, not our shape
            return None
        if not 0 <= self.clock().timestamp() - session.issued < MAX_AGE_S:
            return None
        return session

    def csrf(self, session: Session) -> str:
        """The session's CSRF token: the page sends it in the X-CSRF-Token header."""
        return _b64(self._mac(b"csrf", session.sid.encode("ascii")))

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "replace"), self.csrf(session).encode("ascii")
        )
