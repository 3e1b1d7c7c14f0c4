"""Wrap-up through the service: the caller hangs up before the offshore agent reports (the usual
order), and the report made afterwards, through the disposition page or the API, still raises
the office's ticket; until the deployment's `wrap_up` (30 minutes at the hospital), after which
the report is refused and the call ends by its wrap-up timer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_disposition import CALLER, PUBLIC, at_overflow, event, link_of, post, serve
from test_service import Server

from routing_engine.core.clock import ManualClock

pytestmark = pytest.mark.telephony

AT = "2037-11-24T10:00:00-05:00"  # a Tuesday morning, years ahead: offices open, no SLA due


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("wrap-up")
    env = {"ROUTING_DATA_DIR": str(folder / "data"), "ROUTING_PUBLIC_URL": PUBLIC}
    running = Server(folder / "w.db", now=AT, env=env)
    try:
        yield running
    finally:
        running.stop()


def hung_up(client: httpx.Client, call_id: str) -> tuple[str, dict[str, Any]]:
    """A cardiology call answered at the overflow center, then the caller hangs up: the
    link's token and the hangup's decision."""
    _, token = link_of(at_overflow(client, call_id))
    event(client, call_id, 2, "dial.answered")
    return token, event(client, call_id, 3, "hangup")


def test_the_page_reports_after_the_caller_hung_up_and_the_ticket_is_raised(
    server: Server,
) -> None:
    token, decision = hung_up(server.client, "w-page")
    assert decision["actions"] == [] and decision["await"] == ["outcome"]
    assert decision["trace"][-1].startswith(
        "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report"
    )
    call = server.client.get("/v1/calls/w-page").json()
    assert call["status"] == "connected" and call["caller_gone_at"]  # not ended: in wrap-up
    page = server.client.get(f"/disposition/w-page?token={token}")
    assert page.status_code == 200 and "The caller has hung up" in page.text
    response = post(server.client, "w-page", token, "needs-office", origin=PUBLIC)
    assert response.status_code == 200, response.text
    assert "A ticket is on the cardiology board" in response.text
    tickets = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == "w-page"]
    assert [(t["board"], t["caller"], t["status"]) for t in tickets] == [
        ("cardiology", CALLER, "open")
    ]
    call = server.client.get("/v1/calls/w-page").json()
    assert (call["status"], call["end_reason"]) == ("ended", "caller had hung up")
    last = call["decisions"][-1]
    assert [a["type"] for a in last["actions"]] == ["ticket", "hangup"]  # no say to nobody


def test_the_api_reports_after_the_caller_hung_up(server: Server) -> None:
    hung_up(server.client, "w-api")
    decision = event(server.client, "w-api", 4, "outcome", {"outcome": "handled"})
    assert [a["type"] for a in decision["actions"]] == ["hangup"] and decision["await"] == []
    assert server.client.get("/v1/calls/w-api").json()["status"] == "ended"


def test_a_second_hangup_is_refused_and_the_report_still_counts(server: Server) -> None:
    token, _ = hung_up(server.client, "w-twice")
    again = {"event_id": "e-again", "seq": 4, "type": "hangup"}
    refused = server.client.post("/v1/calls/w-twice/events", json=again)
    assert refused.status_code == 409 and "unexpected-event" in refused.text
    response = post(server.client, "w-twice", token, "needs-office", origin=PUBLIC)
    assert response.status_code == 200, response.text


def test_a_report_after_the_bound_is_refused(server: Server) -> None:
    hung_up(server.client, "w-late")
    gone = server.client.get("/v1/calls/w-late").json()["report_due"]
    late = {
        "event_id": "e-late",
        "seq": 4,
        "type": "outcome",
        "data": {"outcome": "needs-office"},
        "at": gone,
    }
    refused = server.client.post("/v1/calls/w-late/events", json=late)
    assert refused.status_code == 409, refused.text
    assert "wrap-up-over" in refused.text and "the agent's report never came" in refused.text
    assert not [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == "w-late"]


def test_the_wrap_up_timer_ends_the_call_and_the_page_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROUTING_TIMER_INTERVAL_MS", "50")
    clock = ManualClock(datetime.fromisoformat(AT))

    async def scenario(client: httpx.AsyncClient) -> None:
        body = {"call_id": "w-timer", "from": CALLER, "to": "+12125550120", "at": AT}
        assert (await client.post("/v1/calls", json=body)).status_code == 200
        link = ""
        for seq, kind in enumerate(("dial.no-answer", "dial.answered", "hangup"), start=1):
            sent = {"event_id": f"e{seq}", "seq": seq, "type": kind}
            decision = (await client.post("/v1/calls/w-timer/events", json=sent)).json()
            link = link or decision["actions"][0]["disposition_url"]
        assert decision["await"] == ["outcome"]
        clock.advance(30 * 60 + 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            call = (await client.get("/v1/calls/w-timer")).json()
            if call["status"] == "ended":
                break
            await asyncio.sleep(0.05)
        assert call["status"] == "ended", call
        assert call["end_reason"] == "the agent's report never came"
        page = await client.get(link)
        assert page.status_code == 409 and "no outcome was reported in time" in page.text

    serve(tmp_path, clock, scenario)
