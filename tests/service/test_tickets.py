"""Tickets over real HTTP: raised by a call, listed, claimed, released and resolved, every
change in the ticket's history; conflicts and bad input refused with a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import sql_rows
from test_service import Server

# A Tuesday morning (offices open), years ahead: the tickets' SLA timers never fall due while
# these tests run (tests/service/test_notifications.py has them fire).
AT = "2037-11-24T10:00:00-05:00"


@pytest.fixture(scope="module")
def server(module_database: Path | str) -> Iterator[Server]:
    running = Server(module_database, now=AT)
    try:
        yield running
    finally:
        running.stop()


def needs_office(server: Server, call_id: str, to: str = "+12125550120") -> None:
    """A call the office does not answer and the offshore center passes to the office."""
    url = server.url
    start = {"call_id": call_id, "from": "+12125550123", "to": to, "at": AT}
    assert httpx.post(f"{url}/v1/calls", json=start).status_code == 200
    for seq, (kind, data) in enumerate(
        [("dial.no-answer", {}), ("dial.answered", {}), ("outcome", {"outcome": "needs-office"})],
        start=1,
    ):
        body = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data, "at": AT}
        response = httpx.post(f"{url}/v1/calls/{call_id}/events", json=body)
        assert response.status_code == 200, response.text


def ticket_of(server: Server, call_id: str) -> dict:  # type: ignore[type-arg]
    found = [t for t in httpx.get(f"{server.url}/v1/tickets").json() if t["call_id"] == call_id]
    assert len(found) == 1, found
    return found[0]  # type: ignore[no-any-return]


def test_a_call_raises_a_ticket_with_what_staff_need(server: Server) -> None:
    needs_office(server, "t-raise")
    ticket = ticket_of(server, "t-raise")
    assert ticket["board"] == "cardiology" and ticket["status"] == "open"
    assert (ticket["caller"], ticket["region"], ticket["call_type"]) == (
        "+12125550123",
        "US-NY",
        "cardiology",
    )
    assert "Cardiology office must call back" in ticket["summary"]
    assert ticket["managers"] == ["cardiology-manager"] and ticket["sla_s"] == 900
    assert ticket["due"] == "2037-11-24T15:15:00Z"  # the report at 10:00 (its `at`), + 15 min
    shown = httpx.get(f"{server.url}/v1/tickets/{ticket['id']}").json()
    assert [(h["kind"], h["actor"]) for h in shown["history"]] == [("created", "engine")]


def test_claim_release_resolve_with_history_and_conflicts(server: Server) -> None:
    needs_office(server, "t-flow")
    ticket = ticket_of(server, "t-flow")
    base = f"{server.url}/v1/tickets/{ticket['id']}"
    claimed = httpx.post(f"{base}/claim", json={"by": "Alice"})
    assert claimed.status_code == 200
    assert (claimed.json()["status"], claimed.json()["assignee"]) == ("claimed", "Alice")
    other = httpx.post(f"{base}/claim", json={"by": "Bob"})
    assert other.status_code == 409
    assert other.json() == {
        "error": "ticket-conflict",
        "message": f"ticket {ticket['id']} is claimed by Alice",
    }
    assert httpx.post(f"{base}/claim", json={"by": "Alice"}).status_code == 200  # again: fine
    released = httpx.post(f"{base}/release", json={"by": "Alice"}).json()
    assert (released["status"], released["assignee"]) == ("open", None)
    assert httpx.post(f"{base}/release", json={"by": "Alice"}).status_code == 409
    resolved = httpx.post(f"{base}/resolve", json={"by": "Bob", "note": "Called back; booked."})
    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["status"], body["assignee"], body["note"]) == (
        "resolved",
        "Bob",
        "Called back; booked.",
    )
    assert body["resolved_at"]
    again = httpx.post(f"{base}/claim", json={"by": "Alice"})
    assert again.status_code == 409 and "already resolved" in again.json()["message"]
    history = httpx.get(base).json()["history"]
    assert [(h["kind"], h["actor"]) for h in history] == [
        ("created", "engine"),
        ("claimed", "Alice"),
        ("claimed", "Alice"),
        ("released", "Alice"),
        ("resolved", "Bob"),
    ]
    assert history[-1]["detail"] == {"note": "Called back; booked."}
    assert server.database is not None
    query = f"SELECT kind, state FROM timers WHERE ticket_id = {int(ticket['id'])} ORDER BY level"
    states = sql_rows(server.database, query)
    # a resolved ticket's SLA and escalation no longer run
    assert states == [("sla", "cancelled"), ("escalation", "cancelled")]


def test_filters(server: Server) -> None:
    needs_office(server, "t-billing", to="+12125550140")
    billing = httpx.get(f"{server.url}/v1/tickets", params={"board": "billing"}).json()
    assert [t["call_id"] for t in billing] == ["t-billing"]
    ticket_id = billing[0]["id"]
    httpx.post(f"{server.url}/v1/tickets/{ticket_id}/claim", json={"by": "Carol"})
    mine = httpx.get(f"{server.url}/v1/tickets", params={"assignee": "Carol"}).json()
    assert [t["id"] for t in mine] == [ticket_id]
    claimed = httpx.get(f"{server.url}/v1/tickets", params={"status": "claimed"}).json()
    assert ticket_id in [t["id"] for t in claimed]
    assert httpx.get(f"{server.url}/v1/tickets", params={"status": "lost"}).status_code == 422


def test_bad_requests_are_refused_clearly(server: Server) -> None:
    missing = httpx.post(f"{server.url}/v1/tickets/999999/claim", json={"by": "Alice"})
    assert missing.status_code == 404 and missing.json()["error"] == "unknown-ticket"
    assert httpx.get(f"{server.url}/v1/tickets/999999").status_code == 404
    needs_office(server, "t-bad")
    base = f"{server.url}/v1/tickets/{ticket_of(server, 't-bad')['id']}"
    nobody = httpx.post(f"{base}/claim", json={})
    assert nobody.status_code == 422
    assert [p["field"] for p in nobody.json()["problems"]] == ["by"]
    text = httpx.post(f"{base}/claim", content="by=Alice")
    assert text.status_code == 415
    assert ticket_of(server, "t-bad")["status"] == "open"  # nothing half-done
