"""SIP-ready routes (issue 18, item 2) through real HTTP on the hospital: `/v1/route` answers
only SIP URIs a proxy can dial (the offshore center's number through the deployment's
carrier trunk), and every routing answer that is a fallback says so, in its body and in the
`X-Routing-Fallback` header (`/v1/calls`, `/v1/calls/{id}/events`, `/v1/route`).

The rtjson shape is Kamailio's, as its rtjson module's documentation ("RTJSON Module")
gives it: `version`, `routing` (`serial` or `parallel`), and `routes`, each with its `uri`,
`fr_timer`, `fr_inv_timer` and `headers`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_service import AT, CALLER, Server, event, new_call

from routing_engine.api import check_texts
from routing_engine.core.runtime import NewCall, start
from routing_engine.service.sip import rtjson

pytestmark = pytest.mark.telephony

CARDIOLOGY, IVR, ER = "+12125550120", "+12125550111", "+12125550100"
OFFSHORE = "sip:+443005550100@gateway.mercy.example;transport=tls"
HEADER = "X-Routing-Fallback"
AT_TIME = datetime.fromisoformat(AT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("sip") / "routing.db")
    yield running
    running.stop()


def route(
    server: Server, call_id: str, to: str, code: int | None = None, seq: int = 1
) -> httpx.Response:
    body: dict[str, Any] = {"call_id": call_id, "from": CALLER, "to": to, "at": AT}
    if code is not None:
        body["failure"] = {"code": code, "seq": seq}
    response = server.client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return response


def test_the_office_rings_then_the_offshore_number_is_dialed_through_the_trunk(
    server: Server,
) -> None:
    first = route(server, "sip-cardio", CARDIOLOGY)
    body = first.json()
    assert [(r["uri"], r["fr_inv_timer"]) for r in body["routes"]] == [
        ("sip:cardiology@mercy.example", 12000)  # 2 rings
    ]
    assert (body["fallback_reason"], HEADER in first.headers) == (None, False)
    overflow = route(server, "sip-cardio", CARDIOLOGY, 408, seq=body["seq"])
    rolled = overflow.json()
    assert [(r["uri"], r["fr_inv_timer"]) for r in rolled["routes"]] == [(OFFSHORE, 30000)]
    assert "X-Route-Target: offshore-center" in rolled["routes"][0]["headers"]["extra"]
    assert (rolled["fallback_reason"] is not None, HEADER in overflow.headers) == (False, False)
    # the engine's own decision keeps the number, with the SIP URI beside it
    decisions = server.client.get("/v1/calls/sip-cardio").json()["decisions"]
    targets = [d["actions"][0]["targets"] for d in decisions[-1:]]
    assert targets == [[{"name": "offshore-center", "uri": "+443005550100", "sip_uri": OFFSHORE}]]


def test_a_decision_a_proxy_cannot_play_is_answered_as_a_marked_fallback(server: Server) -> None:
    menu = route(server, "sip-ivr-marked", IVR)  # the IVR's menu: the line's fallback instead
    assert [r["uri"] for r in menu.json()["routes"]] == ["sip:front-desk@mercy.example"]
    assert menu.json()["fallback_reason"] == "needs-media"
    assert menu.headers[HEADER] == "needs-media"
    first = route(server, "sip-cardio-vm", CARDIOLOGY).json()
    offshore = route(server, "sip-cardio-vm", CARDIOLOGY, 408, seq=first["seq"]).json()
    voicemail = route(server, "sip-cardio-vm", CARDIOLOGY, 480, seq=offshore["seq"])
    assert [r["uri"] for r in voicemail.json()["routes"]] == ["sip:front-desk@mercy.example"]
    assert (voicemail.json()["fallback_reason"], voicemail.headers[HEADER]) == (
        "needs-media",
        "needs-media",
    )
    # /v1/calls plays menus itself: the same number is no fallback there
    played = new_call(server, "calls-ivr-plain", IVR)
    assert played.json()["fallback_reason"] is None and HEADER not in played.headers


def test_a_number_nobody_routes_gets_the_fallback_marked_on_v1_calls(server: Server) -> None:
    answer = new_call(server, "calls-no-entry", "+12125550999")
    assert answer.status_code == 200
    assert answer.json()["fallback_reason"] == "no-entry"
    assert answer.headers[HEADER] == "no-entry"


def test_every_routing_endpoint_marks_a_late_answer_as_a_fallback(tmp_path: Path) -> None:
    database = tmp_path / "late.db"
    server = Server(database, deadline_ms=300)
    try:
        started = new_call(server, "late-1", ER)
        assert HEADER not in started.headers
        holder = sqlite3.connect(database, timeout=1)
        holder.execute("BEGIN EXCLUSIVE")  # the store cannot write: every decision is late
        try:
            late_event = event(server, "late-1", "e1", 1, "dial.no-answer")
            late_call = new_call(server, "late-2", ER)
            late_route = server.client.post(
                "/v1/route", json={"call_id": "late-3", "from": CALLER, "to": ER, "at": AT}
            )
        finally:
            holder.rollback()
            holder.close()
        for answer in (late_event, late_call, late_route):
            assert answer.status_code == 200, answer.text
            assert answer.json()["fallback_reason"] == "deadline"
            assert answer.headers[HEADER] == "deadline"
        assert late_route.json()["fallback_reason"] == "deadline"
        assert [r["uri"] for r in late_route.json()["routes"]] == [
            "sip:er-nurse@mercy.example",
            "sip:er-nurse-backup@mercy.example",
        ]
        retried = event(server, "late-1", "e1", 1, "dial.no-answer")  # the kept fallback
        assert retried.headers[HEADER] == "deadline"
    finally:
        server.stop()


def test_the_openapi_documents_the_header_and_the_route_answer(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/calls", "/v1/calls/{call_id}/events", "/v1/route"):
        documented = paths[path]["post"]["responses"]["200"]
        assert HEADER in documented["headers"], path
    schema = paths["/v1/route"]["post"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"]["$ref"].endswith("/RouteResponse")


NO_TRUNKS = """\
deployment direct
  fallback
    ring desk
  entry +12125550100 -> main
  target desk
    uri sip:desk@example.com
  target abroad
    kind external
    uri +443005550100

flow main
  ring-both: ring desk, abroad at once for 20s
    no-answer -> bye
  bye: hangup "nobody answered"
"""


def test_a_number_without_a_trunk_is_never_answered_to_a_proxy() -> None:
    """A deployment without trunks dials numbers where the platform can (Twilio): validation
    accepts it, the decision keeps the number, and `/v1/route` leaves it out."""
    result = check_texts({"deployment.flow": NO_TRUNKS})
    assert result.compiled is not None and result.diagnostics == []
    _, decision = start(result.compiled, NewCall("direct-1", CALLER, ER, AT_TIME))
    plan = decision.to_json()
    assert [t["uri"] for t in plan["actions"][0]["targets"]] == [
        "sip:desk@example.com",
        "+443005550100",
    ]
    assert [r["uri"] for r in rtjson(plan)["routes"]] == ["sip:desk@example.com"]


def test_a_connected_call_awaiting_its_outcome_gets_no_routes_and_no_fallback() -> None:
    """After the overflow agent answered, the decision is `actions: [], await: [outcome,
    hangup]`: nothing for a proxy to dial, and no fallback either."""
    answered = {
        "call_id": "c",
        "seq": 3,
        "actions": [],
        "await": ["outcome", "hangup"],
        "fallback": {
            "actions": [
                {
                    "type": "ring",
                    "targets": [{"name": "d", "uri": "sip:d@x.example"}],
                    "timeout_s": 30,
                    "strategy": "simultaneous",
                }
            ],
            "await": [],
        },
        "fallback_reason": None,
    }
    assert (rtjson(answered)["routes"], rtjson(answered)["fallback_reason"]) == ([], None)
