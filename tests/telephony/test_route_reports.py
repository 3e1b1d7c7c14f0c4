"""`POST /v1/route` as a SIP proxy uses it beyond the first routes: reports of a leg answered and
of the call's end (`report`), the decision's precomputed fallback in every answer, and the
headers each leg carries (the call, its seq, a fallback's reason, what an agent may report and
where, a voicemail's board). The document is Kamailio's rtjson ("rtjson Module", Kamailio's
module documentation: `version`, `routing`, `routes[]` with `uri`, `fr_timer`, `fr_inv_timer`,
`headers.extra`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HOSPITAL, in_process

from routing_engine.core.clock import ManualClock
from routing_engine.core.compiled import TargetInfo
from routing_engine.service.app import create_app
from routing_engine.service.rtjson_models import RouteResponse
from routing_engine.service.sip import rtjson

pytestmark = pytest.mark.telephony

MONDAY_MORNING = datetime.fromisoformat("2026-11-23T10:15:00-05:00")
CALLER = "+12125550123"
ER = "+12125550100"
CARDIOLOGY = "+12125550120"

Client = httpx.AsyncClient


def serve(tmp_path: Path, scenario: Callable[[Client], Awaitable[None]]) -> None:
    app = create_app(
        HOSPITAL, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", 5.0, clock=ManualClock(MONDAY_MORNING)
    )

    in_process(app, scenario)


async def ask(client: Client, call_id: str, to: str, **more: Any) -> httpx.Response:
    return await client.post(
        "/v1/route", json={"call_id": call_id, "from": CALLER, "to": to, **more}
    )


def extra(route: dict[str, Any]) -> dict[str, str]:
    lines = route["headers"]["extra"].split("\r\n")
    assert lines[-1] == ""
    return dict(line.split(": ", 1) for line in lines[:-1])


def test_answered_and_hangup_reports_put_the_whole_path_in_the_call_record(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        first = (await ask(client, "r-1", CARDIOLOGY)).json()
        RouteResponse.model_validate(first)  # the shape the OpenAPI documents
        documented = (await client.get("/openapi.json")).json()["paths"]["/v1/route"]["post"]
        assert documented["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RouteResponse"
        }
        assert extra(first["routes"][0])["X-Routing-Call"] == "r-1"
        assert "dial.answered" in first["await"]
        # the decision's own fallback, for the proxy to keep: the line's (the front desk)
        assert [r["uri"] for r in first["fallback"]["routes"]] == ["sip:front-desk@mercy.example"]
        assert extra(first["fallback"]["routes"][0])["X-Route-Fallback"] == "unreachable"
        overflow = (await ask(client, "r-1", CARDIOLOGY, failure={"code": 408, "seq": 1})).json()
        assert [extra(r)["X-Route-Target"] for r in overflow["routes"]] == ["offshore-center"]
        answered = await ask(client, "r-1", CARDIOLOGY, report={"type": "dial.answered", "seq": 2})
        assert answered.status_code == 200, answered.text
        connected = answered.json()
        # connected: nothing to ring, and not the fallback's routes either
        assert (connected["routes"], connected["final"], connected["seq"]) == ([], True, 3)
        assert connected["await"] == ["outcome", "hangup"]
        again = await ask(client, "r-1", CARDIOLOGY, report={"type": "dial.answered", "seq": 2})
        assert again.json() == connected  # a retried report: the same answer, nothing changes
        RouteResponse.model_validate(connected)
        # the BYE: the caller is gone, the agent's report is still awaited (wrap-up)
        gone = (await ask(client, "r-1", CARDIOLOGY, report={"type": "hangup"})).json()
        assert (gone["seq"], gone["await"], gone["routes"]) == (4, ["outcome"], [])
        record = (await client.get("/v1/calls/r-1")).json()
        assert record["status"] == "connected"
        assert record["trace"][-2] == "ring office.ring-overflow: answered, connected"
        assert record["trace"][-1].startswith(
            "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report"
        )

    serve(tmp_path, scenario)


def test_a_report_is_refused_with_a_failure_and_for_an_unknown_call(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        both = await ask(
            client, "r-2", ER, failure={"code": 486}, report={"type": "hangup", "seq": 1}
        )
        assert both.status_code == 422
        assert "not both" in both.text
        kind = await ask(client, "r-2", ER, report={"type": "dial.busy"})
        assert kind.status_code == 422 and "report.type" in kind.text
        unknown = await ask(client, "nobody", ER, report={"type": "hangup"})
        assert unknown.status_code == 404

    serve(tmp_path, scenario)


def decision(actions: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    nurse = {"name": "er-nurse", "uri": "sip:er-nurse@h.example"}
    return {
        "call_id": "c-1",
        "seq": 3,
        "actions": actions,
        "await": more.pop("awaits", ["dial.answered", "hangup"]),
        "fallback": {"actions": [{"type": "ring", "targets": [nurse], "timeout_s": 30.0}]},
        **more,
    }


def test_a_fallback_answer_and_an_agents_reports_are_headers_of_each_leg() -> None:
    offshore = {"name": "offshore-center", "uri": "sip:offshore@h.example"}
    ring = {
        "type": "ring",
        "targets": [offshore],
        "timeout_s": 30.0,
        "reports": ["handled", "needs-office"],
        "disposition_url": "/v1/dispositions/c-1?sig=abc\r\nX-Injected: 1",
    }
    answer = rtjson(decision([ring], fallback_reason="deadline"))
    assert answer["fallback_reason"] == "deadline"
    assert extra(answer["routes"][0]) == {
        "X-Route-Target": "offshore-center",
        "X-Routing-Call": "c-1",
        "X-Call-Seq": "3",
        "X-Route-Fallback": "deadline",
        "X-Outcomes": "handled,needs-office",
        "X-Disposition-URL": "/v1/dispositions/c-1?sig=abc X-Injected: 1",  # one line
    }
    plain = rtjson(decision([{**ring, "reports": [], "disposition_url": None}]))
    assert set(extra(plain["routes"][0])) == {"X-Route-Target", "X-Routing-Call", "X-Call-Seq"}


def target(name: str) -> TargetInfo:
    return TargetInfo(name, f"sip:{name}@vm.example", "line", "", "", (), 0, True)


def test_a_voicemail_rings_the_voicemail_server_the_deployment_names() -> None:
    voicemail = {"type": "voicemail", "board": "cardiology", "prompt": "...", "max_length_s": 120}
    waiting = decision([voicemail], awaits=["recording.done", "hangup"])
    named = {
        "voicemail": target("voicemail"),
        "voicemail-cardiology": target("voicemail-cardiology"),
    }
    [route] = rtjson(waiting, named)["routes"]
    assert route["uri"] == "sip:voicemail-cardiology@vm.example"  # the board's own first
    assert extra(route)["X-Voicemail-Board"] == "cardiology"
    assert extra(route)["X-Voicemail-Max-Length"] == "120"
    [shared] = rtjson(waiting, {"voicemail": target("voicemail")})["routes"]
    assert shared["uri"] == "sip:voicemail@vm.example"
    # none named: a proxy cannot take a message, so the line's fallback is rung
    [fallback] = rtjson(waiting, {})["routes"]
    assert fallback["uri"] == "sip:er-nurse@h.example"
