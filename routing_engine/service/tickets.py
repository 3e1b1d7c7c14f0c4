"""Ticket routes for office staff (`staff` key role, or a board session): list and filter, show
with history, claim, release, resolve with a note, and the live stream of changes the board
shows. Every change is recorded on the ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from routing_engine.contract import TicketChange, parse_as
from routing_engine.service.board_stream import parse_event_id, stream
from routing_engine.service.core import Service
from routing_engine.service.deps import HubDep, ServiceDep
from routing_engine.service.http import JSON_BODY, Refusal, TicketId, body_of, read_body, refusals
from routing_engine.service.sessions import Session
from routing_engine.store.tables import iso
from routing_engine.store.tickets import (
    TicketConflict,
    TicketNotFound,
    change_ticket,
    get_ticket,
    list_tickets,
)

Status = Literal["open", "claimed", "resolved"]


router = APIRouter(tags=["tickets"])
# what a change of a ticket reads and may refuse
CHANGE: dict[str, Any] = {
    "responses": refusals(*JSON_BODY, 404, 409),
    "openapi_extra": body_of(TicketChange),
}


# before /v1/tickets/{ticket_id}, which would take "events" for an id
@router.get("/v1/tickets/events", response_class=EventSourceResponse)
async def ticket_events_route(
    request: Request,
    hub: HubDep,
    board: str | None = Query(None, max_length=64),
    last_event_id: str | None = Query(
        None, max_length=20, description="where to resume, when no Last-Event-ID header"
    ),
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: a `snapshot` of the open and claimed tickets (or, given
    Last-Event-ID, the changes after it), then each `change` as it happens, with the ticket
    as it is now. Event ids are the changes' ids. A stream opened with a board session ends
    once the session is revoked (signed out, or its key removed) or expires."""
    resume = parse_event_id(request.headers.get("last-event-id") or last_event_id)
    session: Session | None = getattr(request.state, "session", None)
    async for message in stream(hub, board, resume, None if session is None else session.sid):
        yield message


# before /v1/tickets/{ticket_id} too
@router.get("/v1/tickets/boards")
async def boards_route(service: ServiceDep) -> JSONResponse:
    """The deployment's declared boards, with the names they are shown by, whether or not any
    ticket is on them yet."""
    boards = service.current.compiled.boards
    return JSONResponse([{"name": name, "display_name": shown} for name, shown in boards.items()])


@router.get("/v1/tickets")
async def tickets_route(
    service: ServiceDep,
    board: str | None = Query(None, max_length=64),
    status: Status | None = None,
    assignee: str | None = Query(None, max_length=128),
    limit: int = Query(500, ge=1, le=5000),
) -> JSONResponse:
    """Tickets, oldest first; filter by board, status and assignee."""
    found = await list_tickets(
        service.store.engine, board=board, status=status, assignee=assignee, limit=limit
    )
    return JSONResponse(found)


@router.get("/v1/tickets/{ticket_id}", responses=refusals(404))
async def ticket_route(ticket_id: TicketId, service: ServiceDep) -> JSONResponse:
    """A ticket and its history: every change, who made it and when."""
    try:
        return JSONResponse(await get_ticket(service.store.engine, ticket_id))
    except TicketNotFound:
        raise Refusal(404, "unknown-ticket", f"no ticket {ticket_id}") from None


@router.post("/v1/tickets/{ticket_id}/claim", **CHANGE)
async def claim_route(ticket_id: TicketId, request: Request, service: ServiceDep) -> JSONResponse:
    """Take a ticket (`{"by": NAME}`); 409 when someone else has it or it is resolved."""
    return await change(service, ticket_id, "claim", request)


@router.post("/v1/tickets/{ticket_id}/release", **CHANGE)
async def release_route(ticket_id: TicketId, request: Request, service: ServiceDep) -> JSONResponse:
    """Give a claimed ticket back to the board (`{"by": NAME}`)."""
    return await change(service, ticket_id, "release", request)


@router.post("/v1/tickets/{ticket_id}/resolve", **CHANGE)
async def resolve_route(ticket_id: TicketId, request: Request, service: ServiceDep) -> JSONResponse:
    """Close a ticket (`{"by": NAME, "note": "what was done"}`); its timers stop."""
    return await change(service, ticket_id, "resolve", request)


async def change(
    service: Service, ticket_id: TicketId, action: str, request: Request
) -> JSONResponse:
    """Change a ticket as the request's body asks, recorded as made by the person signed in
    (a board session), else by the body's `by`."""
    body = await read_body(request, partial(parse_as, TicketChange))
    session: Session | None = getattr(request.state, "session", None)
    by = body.by if session is None else session.name  # signed in: who they signed in as
    try:
        now = iso(service.store.clock())
        ticket = await change_ticket(service.store.engine, ticket_id, action, by, now, body.note)
    except TicketNotFound:
        raise Refusal(404, "unknown-ticket", f"no ticket {ticket_id}") from None
    except TicketConflict as conflict:
        raise Refusal(409, "ticket-conflict", str(conflict)) from None
    return JSONResponse(ticket)
