"""Ticket routes for office staff (`staff` key role): list and filter, show with history,
claim, release, resolve with a note. Every change is recorded on the ticket."""

from __future__ import annotations

from functools import partial
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from routing_engine.contract import TicketChange, parse_as
from routing_engine.service_core import Refusal, Service, read_body
from routing_engine.ticket_store import (
    TicketConflict,
    TicketNotFound,
    change_ticket,
    get_ticket,
    list_tickets,
)

Status = Literal["open", "claimed", "resolved"]


def add_ticket_routes(app: FastAPI, service: Service) -> None:
    engine = service.store.engine

    @app.get("/v1/tickets", tags=["tickets"])
    async def tickets_route(
        board: str | None = Query(None, max_length=64),
        status: Status | None = None,
        assignee: str | None = Query(None, max_length=128),
        limit: int = Query(500, ge=1, le=5000),
    ) -> JSONResponse:
        """Tickets, oldest first; filter by board, status and assignee."""
        found = await list_tickets(
            engine, board=board, status=status, assignee=assignee, limit=limit
        )
        return JSONResponse(found)

    @app.get("/v1/tickets/{ticket_id}", tags=["tickets"])
    async def ticket_route(ticket_id: int) -> JSONResponse:
        """A ticket and its history: every change, who made it and when."""
        try:
            return JSONResponse(await get_ticket(engine, ticket_id))
        except TicketNotFound:
            raise Refusal(404, "unknown-ticket", f"no ticket {ticket_id}") from None

    async def change(ticket_id: int, action: str, request: Request) -> JSONResponse:
        body = await read_body(request, partial(parse_as, TicketChange))
        try:
            ticket = await change_ticket(engine, ticket_id, action, body.by, body.note)
        except TicketNotFound:
            raise Refusal(404, "unknown-ticket", f"no ticket {ticket_id}") from None
        except TicketConflict as conflict:
            raise Refusal(409, "ticket-conflict", str(conflict)) from None
        return JSONResponse(ticket)

    @app.post("/v1/tickets/{ticket_id}/claim", tags=["tickets"])
    async def claim_route(ticket_id: int, request: Request) -> JSONResponse:
        """Take a ticket (`{"by": NAME}`); 409 when someone else has it or it is resolved."""
        return await change(ticket_id, "claim", request)

    @app.post("/v1/tickets/{ticket_id}/release", tags=["tickets"])
    async def release_route(ticket_id: int, request: Request) -> JSONResponse:
        """Give a claimed ticket back to the board (`{"by": NAME}`)."""
        return await change(ticket_id, "release", request)

    @app.post("/v1/tickets/{ticket_id}/resolve", tags=["tickets"])
    async def resolve_route(ticket_id: int, request: Request) -> JSONResponse:
        """Close a ticket (`{"by": NAME, "note": "what was done"}`); its timers stop."""
        return await change(ticket_id, "resolve", request)
