"""The board page for office staff: `/board` (every office) and `/board/{office}`, a static page
(HTML, CSS and a small script shipped with the package; no build step) that lists the open
tickets live from `/v1/tickets/events`, and lets staff claim and resolve them.

The page holds no data, so it needs no key; its script signs people in here. With keys
configured, staff sign in with their key (a `staff` or `admin` one) and their name; the
server records the session in the store, gives the browser a signed cookie naming it, and
hands the page the CSRF token it must send on every change; signing out revokes the session
everywhere. With no keys, the name is all it asks.
"""

from __future__ import annotations

from functools import cache, partial
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from routing_engine.contract import Body, parse_as
from routing_engine.service.auth import BOARD_ROLES, Gate, SessionsUnavailable
from routing_engine.service.deps import GateDep
from routing_engine.service.http import JSON_BODY, Refusal, body_of, read_body, refusals
from routing_engine.service.sessions import COOKIE, MAX_AGE_S, Session, clean_name

ASSETS = {"board.css": "text/css; charset=utf-8", "board.js": "text/javascript; charset=utf-8"}
# The page loads nothing from elsewhere, and nothing may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SignIn(Body):
    """Who signs in: their name, and (when keys are configured) their key."""

    name: str = Field(min_length=1, max_length=128, description="as changes will record it")
    key: str = Field("", max_length=512, description="a staff or admin API key")


router = APIRouter(tags=["board"])


@cache
def _asset(name: str) -> bytes:
    """A file of the page, read once: the files ship with the package."""
    return (files("routing_engine.service") / "static" / name).read_bytes()


def _html() -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(_asset("board.html"), media_type="text/html; charset=utf-8", headers=headers)


@router.get("/board", include_in_schema=False)
async def board_page() -> Response:
    """Every office's open tickets."""
    return _html()


@router.get("/board/assets/{name}", include_in_schema=False)
async def board_asset(name: str) -> Response:
    """The page's style sheet or script."""
    if name not in ASSETS:
        raise Refusal(404, "not-found", f"no asset {name!r}")
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(_asset(name), media_type=ASSETS[name], headers=headers)


@router.get("/board/session")
async def session_route(request: Request, gate: GateDep) -> JSONResponse:
    """Who is signed in on this browser, and the CSRF token their changes must carry."""
    return JSONResponse(describe(gate, await current(gate, request)))


@router.post(
    "/board/session", responses=refusals(*JSON_BODY, 401, 403), openapi_extra=body_of(SignIn)
)
async def sign_in_route(request: Request, gate: GateDep) -> JSONResponse:
    """Sign in (`{"name": ..., "key": ...}`): sets the session cookie. A wrong key is 401,
    a key of another role 403."""
    body = await read_body(request, partial(parse_as, SignIn))
    name = clean_name(body.name)
    if name is None:
        problems = [{"field": "name", "message": "a name of printable characters"}]
        raise Refusal(422, "bad-request", "name: give a name", problems)
    role, key_id = "staff", ""
    if gate.keys.enabled:
        found = gate.keys.match(body.key.strip()) if body.key.strip() else None
        if found is None:
            raise Refusal(401, "unauthorized", "this key is not known")
        digest, role = found
        if role not in BOARD_ROLES:
            raise Refusal(403, "forbidden", f"a {role} key may not sign in to the board")
        key_id = gate.sessions.key_id(digest)
    try:
        cookie, session = await gate.sign_in(name, role, key_id)
    except SessionsUnavailable as error:
        raise Refusal(503, "sessions-unavailable", f"{error}; try again in a moment") from None
    response = JSONResponse(describe(gate, session))
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=MAX_AGE_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/board/signout", responses=refusals(401, 403))
async def sign_out_route(request: Request, gate: GateDep) -> Response:
    """Sign out: the session is revoked (its cookie and CSRF token count nowhere any more) and
    the cookie goes. The session's CSRF token is needed; without a session there is nothing to
    sign out of, and another site cannot sign staff out."""
    session = await current(gate, request)
    if session is None:
        return JSONResponse(
            {"error": "not-signed-in", "message": "there is no session to sign out of"},
            status_code=401,
        )
    refused = gate.csrf_refusal(request, session)
    if refused is not None:
        return refused
    try:
        await gate.sign_out(session)
    except SessionsUnavailable as error:
        raise Refusal(503, "sessions-unavailable", f"{error}; try again in a moment") from None
    response = JSONResponse(describe(gate, None))
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


# last: "session", "assets" and "signout" are not offices
@router.get("/board/{office}", include_in_schema=False)
async def office_page(office: str = Path(max_length=64)) -> Response:
    """One office's open tickets."""
    return _html()


async def current(gate: Gate, request: Request) -> Session | None:
    """The request's session, as `Gate.session_of`; a 503 when the store cannot say."""
    try:
        return await gate.session_of(request)
    except SessionsUnavailable as error:
        raise Refusal(503, "sessions-unavailable", f"{error}; try again in a moment") from None


def describe(gate: Gate, session: Session | None) -> dict[str, Any]:
    """What the page needs to know about its session."""
    body: dict[str, Any] = {"keys": gate.keys.enabled, "signed_in": session is not None}
    if session is not None:
        body.update(name=session.name, role=session.role, csrf=gate.sessions.csrf(session))
    return body
