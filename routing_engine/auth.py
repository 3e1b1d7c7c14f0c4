"""API keys with roles: `telephony` (calls, events, route), `admin` (flows, targets) and
`staff` (tickets, board). Keys come from $ROUTING_API_KEYS or a file, one `ROLE KEY` a line
(`#` comments allowed); only their SHA-256 is kept, compared in constant time.

With no key configured, requests need none, and the server binds only to loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ROLES = ("telephony", "admin", "staff")
ENV = "ROUTING_API_KEYS"
LOOPBACK = ("127.0.0.1", "::1", "localhost")

# Who may call what: (method, path prefix) -> roles; the first match wins. Health, metrics
# and the API docs need no key.
PERMISSIONS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("POST", "/v1/calls", frozenset({"telephony"})),
    ("GET", "/v1/calls", frozenset({"telephony", "admin"})),
    ("POST", "/v1/route", frozenset({"telephony"})),
    ("*", "/v1/flows", frozenset({"admin"})),
    ("*", "/v1/targets", frozenset({"admin"})),
    ("*", "/v1/tickets", frozenset({"staff", "admin"})),
    ("*", "/board", frozenset({"staff", "admin"})),
    ("*", "/v1/", frozenset({"admin"})),
)


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
        keys = cls()
        for number, line in enumerate(text.replace(",", "\n").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            role, _, key = line.replace(":", " ", 1).partition(" ")
            key = key.strip()
            if role not in ROLES or len(key) < 16:
                raise KeysError(
                    f"{where}:{number}: expected 'ROLE KEY' with a role among {', '.join(ROLES)} "
                    "and a key of at least 16 characters"
                )
            keys.hashed.append((_digest(key), role))
        return keys

    @classmethod
    def load(cls, file: str | os.PathLike[str] | None = None) -> Keys:
        """Keys from a file when given, else from $ROUTING_API_KEYS; none: no keys."""
        if file is not None:
            return cls.parse(Path(file).read_text(encoding="utf-8"), str(file))
        return cls.parse(os.environ.get(ENV, ""), f"${ENV}")

    def role_of(self, presented: str) -> str | None:
        digest = _digest(presented)
        role = None
        for known, known_role in self.hashed:  # every key compared, so timing tells nothing
            if hmac.compare_digest(known, digest):
                role = known_role
        return role


def required_roles(method: str, path: str) -> frozenset[str] | None:
    for allowed_method, prefix, roles in PERMISSIONS:
        if path.startswith(prefix) and allowed_method in ("*", method):
            return roles
    return None


def middleware(
    keys: Keys,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def check(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        roles = required_roles(request.method, request.url.path)
        if roles is None or not keys.enabled:
            return await call_next(request)
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return JSONResponse(
                {"error": "unauthorized", "message": "send 'Authorization: Bearer KEY'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        role = keys.role_of(presented.strip())
        if role is None:
            return JSONResponse(
                {"error": "unauthorized", "message": "this key is not known"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if role not in roles:
            allowed = ", ".join(sorted(roles))
            message = f"a {role} key may not do this; it takes: {allowed}"
            return JSONResponse({"error": "forbidden", "message": message}, status_code=403)
        return await call_next(request)

    return check
