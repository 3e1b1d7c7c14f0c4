"""API keys with roles: `telephony` (calls, events, route, FreeSWITCH's httapi), `admin`
(flows, targets) and `staff` (tickets, board). Keys come from $ROUTING_API_KEYS or a file,
one `ROLE KEY` a line (`#` comments allowed; in either, commas separate lines too, and
`ROLE:KEY` is read as earlier versions documented it), each key at least 16 characters; only
their SHA-256 is kept, compared in constant time.

Office staff may instead sign in on the board page: their session cookie (sessions.py) then
stands for their key on the ticket routes, and every change they send must carry the session's
CSRF token. A bearer key, when sent, is what counts. A session is a row in the store
(`store/board_sessions.py`), checked on every request: signing out revokes it, and so does a
server started without the key it was issued with, on every server sharing the store.

With no key configured, requests need none, and the server binds only to loopback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from routing_engine.core.diagnostics import did_you_mean
from routing_engine.service.sessions import COOKIE, CSRF_HEADER, MAX_AGE_S, Session, Sessions
from routing_engine.store.board_sessions import (
    add_session,
    any_live,
    live_session,
    revoke_other_keys,
    revoke_session,
)
from routing_engine.store.database import Store
from routing_engine.store.tables import iso

log = logging.getLogger("routing_engine.service.auth")
P = ParamSpec("P")
T = TypeVar("T")

ROLES = ("telephony", "admin", "staff")
BOARD_ROLES = frozenset({"staff", "admin"})  # who may sign in on the board
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_PATHS = ("/v1/tickets",)  # where a board session stands for a key
ENV = "ROUTING_API_KEYS"
MIN_KEY_LENGTH = 16
LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Where a key may come as HTTP basic credentials' password (any user name): platforms that can
# send no bearer header, as FreeSWITCH's mod_httapi (`gateway-credentials`, `auth-scheme` basic)
BASIC_PATHS = ("/v1/freeswitch/",)

# Who may call what: (method, path prefix) -> roles; the first match wins. Health, metrics,
# the API docs and the board's page (which holds no data; it signs people in) need no key.
# None: a platform's webhook that authenticates its own way, checked by its route itself.
PERMISSIONS: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    ("POST", "/v1/calls", frozenset({"telephony"})),
    ("GET", "/v1/calls", frozenset({"telephony", "admin"})),
    ("POST", "/v1/route", frozenset({"telephony"})),
    ("POST", "/v1/twilio/", None),  # every request signed: twilio_auth.py
    ("POST", "/v1/jambonz/", None),  # signed, or a telephony key in basic auth: jambonz.py
    ("POST", "/v1/freeswitch/", frozenset({"telephony"})),
    ("*", "/v1/flows", frozenset({"admin"})),
    ("*", "/v1/targets", frozenset({"admin"})),
    ("*", "/v1/tickets", BOARD_ROLES),
    ("*", "/v1/", frozenset({"admin"})),
)


def _host_name(request: Request) -> str:
    """The host a request is addressed to, without its port ('' when none is given)."""
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class KeysError(ValueError):
    """A keys file or variable that cannot be read; the message names the line."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(slots=True)
class Keys:
    hashed: list[tuple[bytes, str]] = field(default_factory=list)  # (sha256 of the key, role)

    @property
    def enabled(self) -> bool:
        return bool(self.hashed)

    @classmethod
    def parse(cls, text: str, where: str) -> Keys:
        """Keys from `ROLE KEY` lines; KeysError naming the line and what is wrong with it
        (never the key itself)."""
        keys = cls()
        for number, line in enumerate(text.replace(",", "\n").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if line:
                role, key = _role_and_key(line, f"{where}:{number}")
                keys.hashed.append((_digest(key), role))
        return keys

    @classmethod
    def load(cls, file: str | os.PathLike[str] | None = None) -> Keys:
        """Keys from a file when given, else from $ROUTING_API_KEYS; none: no keys."""
        if file is not None:
            return cls.parse(Path(file).read_text(encoding="utf-8"), str(file))
        return cls.parse(os.environ.get(ENV, ""), f"${ENV}")

    def role_of(self, presented: str) -> str | None:
        found = self.match(presented)
        return None if found is None else found[1]

    def match(self, presented: str) -> tuple[bytes, str] | None:
        """The known key's hash and role, or None."""
        digest = _digest(presented)
        found = None
        for known, known_role in self.hashed:  # every key compared, so timing tells nothing
            if hmac.compare_digest(known, digest):
                found = (known, known_role)
        return found


def _role_and_key(line: str, where: str) -> tuple[str, str]:
    """A line's role and key: `ROLE KEY`, or `ROLE:KEY` (a key may hold ':' in the first)."""
    parts = line.split(None, 1)
    if len(parts) == 1 and ":" in line:
        parts = line.split(":", 1)
    if len(parts) == 1:  # a key alone, or a role alone: either way, not shown
        raise KeysError(
            f"{where}: expected 'ROLE KEY': a role ({', '.join(ROLES)}), a space, then the key"
        )
    role, key = parts[0].removesuffix(":"), parts[1].strip()
    if role not in ROLES:
        hint = did_you_mean(role, ROLES)
        raise KeysError(
            f"{where}: unknown role {role[:20]!r}: a line is 'ROLE KEY' with a role among "
            f"{', '.join(ROLES)}" + (f"; {hint}" if hint else "")
        )
    if len(key) < MIN_KEY_LENGTH:
        raise KeysError(
            f"{where}: the {role} key has {len(key)} characters; a key needs at least "
            f"{MIN_KEY_LENGTH}"
        )
    return role, key


def required_roles(method: str, path: str) -> frozenset[str] | None:
    for allowed_method, prefix, roles in PERMISSIONS:
        if path.startswith(prefix) and allowed_method in ("*", method):
            return roles
    return None


def _basic_password(credentials: str) -> str:
    """The password of HTTP basic credentials ('' when they do not decode)."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def _refuse(status: int, error: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


class SessionsUnavailable(RuntimeError):
    """The store that holds the board's sessions cannot be read or written just now."""


class Gate:
    """Who may call what: bearer keys, or a board session with its CSRF token. Sessions are
    rows in `store`, so every worker and server on it agrees on which still count."""

    def __init__(self, keys: Keys, store: Store, sessions: Sessions | None = None):
        self.keys = keys
        self.store = store
        self.sessions = sessions or Sessions.from_env()
        self._allowed: frozenset[tuple[str, str]] | None = None

    @property
    def allowed(self) -> frozenset[tuple[str, str]]:
        """The (key id, role) a session may have been issued with: the configured keys', or
        ('', 'staff') with no keys configured (the name is all the board asks then)."""
        if self._allowed is None:
            pairs = {(self.sessions.key_id(d), r) for d, r in self.keys.hashed}
            self._allowed = frozenset(pairs if self.keys.enabled else {("", "staff")})
        return self._allowed

    async def _rows(
        self,
        change: bool,
        work: Callable[Concatenate[Any, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`work` on the session rows (a `change` in a transaction, else a read apart from the
        writer); SessionsUnavailable when the store fails."""
        run = self.store.transaction if change else self.store.read
        try:
            return await run(work, *args, **kwargs)
        except (SQLAlchemyError, OSError) as error:
            log.warning("the board's sessions cannot be reached: %s", error)
            raise SessionsUnavailable("the sessions cannot be checked just now") from None

    def _now(self) -> str:
        return iso(self.sessions.clock())

    async def session_of(self, request: Request) -> Session | None:
        """The request's board session, when its cookie is genuine and current, its row in the
        store not revoked nor expired, and its key still configured with the role it had.
        SessionsUnavailable when the store cannot say."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        session = self.sessions.read(cookie)
        if session is None or (session.key_id, session.role) not in self.allowed:
            return None
        row = await self._rows(False, live_session, session.sid, self._now())
        if row is None or (row.key_id, row.role, row.name) != (
            session.key_id,
            session.role,
            session.name,
        ):
            return None
        return session

    async def sign_in(self, name: str, role: str, key_id: str) -> tuple[str, Session]:
        """A new session (recorded in the store) and its cookie value."""
        cookie, session = self.sessions.issue(name, role, key_id)
        issued = datetime.fromtimestamp(session.issued, UTC)
        expires = issued + timedelta(seconds=MAX_AGE_S)
        person = (name, role, key_id)
        await self._rows(True, add_session, session.sid, person, iso(issued), iso(expires))
        return cookie, session

    async def sign_out(self, session: Session) -> None:
        """Revoke the session: its cookie and CSRF token count nowhere any more."""
        await self._rows(True, revoke_session, session.sid, self._now(), "signed-out")

    async def revoke_removed_keys(self) -> int:
        """Revoke every session issued with a key this server is not configured with (a key
        rotated or removed; keys are read at start); how many were. Expired rows go too. A
        store that cannot be written just now is logged and passed over: the sessions of a key
        not configured are refused anyway (`session_of`), this only keeps them ended should the
        key come back."""
        try:  # most starts find no session: no write then, and no secret made for nothing
            if not await self._rows(False, any_live, self._now()):
                return 0
            ended = await self._rows(True, revoke_other_keys, self.allowed, self._now())
        except SessionsUnavailable:
            return 0
        if ended:
            log.info("revoked %d board session(s) of keys no longer configured", ended)
        return ended

    def csrf_refusal(self, request: Request, session: Session) -> Response | None:
        """A 403 for a change sent with a session but without its CSRF token."""
        if request.method in SAFE_METHODS:
            return None
        if self.sessions.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            return None
        return _refuse(
            403, "csrf-token", "send the session's CSRF token in the X-CSRF-Token header"
        )

    async def refusal(self, request: Request) -> Response | None:
        """What the caller may not do, as its refusal; None lets the request through. With no
        keys, only requests addressed to this machine by name (localhost, 127.0.0.1, ::1) are
        served: a web page whose name was rebound to 127.0.0.1 must not read or change tickets.
        A board session that lets a request through is left in `request.state.session`."""
        if not self.keys.enabled and _host_name(request) not in LOOPBACK:
            return _refuse(
                421,
                "misdirected-request",
                "this server has no API keys, so it answers only requests addressed to "
                "localhost; configure keys to serve other names",
            )
        path = request.scope["path"]  # request.url would build a whole URL
        roles = required_roles(request.method, path)
        if roles is None:
            return None
        if (
            path.startswith(SESSION_PATHS)  # first: the cookies are parsed only where they count
            and "authorization" not in request.headers
            and COOKIE in request.cookies
        ):
            return await self._by_session(request, roles)
        if not self.keys.enabled:
            return None
        return self._by_key(request, roles)

    async def _by_session(self, request: Request, roles: frozenset[str]) -> Response | None:
        try:
            session = await self.session_of(request)
        except SessionsUnavailable as error:
            return _refuse(503, "sessions-unavailable", f"{error}; try again in a moment")
        if session is not None:
            if session.role not in roles:
                return _refuse(403, "forbidden", f"a {session.role} session may not do this")
            refused = self.csrf_refusal(request, session)
            if refused is None:
                request.state.session = session
            return refused
        if self.keys.enabled:
            return _refuse(401, "unauthorized", "the session has ended; sign in again")
        return None

    def _by_key(self, request: Request, roles: frozenset[str]) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "basic" and request.scope["path"].startswith(BASIC_PATHS):
            presented = _basic_password(presented)
        elif scheme.lower() != "bearer":
            presented = ""
        if not presented.strip():
            return _refuse(401, "unauthorized", "send 'Authorization: Bearer KEY'")
        role = self.keys.role_of(presented.strip())
        if role is None:
            return _refuse(401, "unauthorized", "this key is not known")
        if role not in roles:
            allowed = ", ".join(sorted(roles))
            return _refuse(403, "forbidden", f"a {role} key may not do this; it takes: {allowed}")
        return None
