"""The jambonz adapter over real HTTP (uvicorn on 127.0.0.1, the hospital), sent the webhook
payloads jambonz's documentation gives ("New Call" call hook, the `dial` and `gather` verbs'
actionHooks, "call:status", "Securing HTTP Endpoints" for Jambonz-Signature) and checked for
the verbs its documentation defines (`dial` with `target` of type phone/sip, `gather` with
`input: ["digits"]`, `say`, `listen`, `tag`, `hangup`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "service"))
from test_service import AT, Server

from routing_engine.service.jambonz_verbs import Hook, dial_event, verbs

pytestmark = pytest.mark.telephony

SECRET = "jambonz-webhook-secret-0123"
TELEPHONY = "tel-jambonz-0123456789"
ADMIN = "adm-jambonz-0123456789"
RECORDING = "wss://recorder.example/messages"
CALLER = "+12125550123"
NOW = int(datetime.fromisoformat(AT).timestamp())  # the server's clock (`serve --now`)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("jambonz") / "routing.db",
        env={
            "ROUTING_API_KEYS": f"telephony {TELEPHONY},admin {ADMIN}",
            "ROUTING_JAMBONZ_SECRET": f"old-secret-0123456789,{SECRET}",
            "ROUTING_JAMBONZ_RECORDING_URL": RECORDING,
        },
    )
    yield running
    running.stop()


def call_payload(call_sid: str, to: str, caller: str = CALLER, **more: Any) -> dict[str, Any]:
    """A call webhook's body as jambonz's "New Call" reference lists it."""
    return {
        "call_sid": call_sid,
        "call_id": f"{call_sid}-sip",
        "application_sid": "33b259c1-303d-486a-a8dd-000000000001",
        "account_sid": "de190aaa-e84b-4bb2-86e3-000000000001",
        "direction": "inbound",
        "from": caller,
        "to": to,
        "caller_name": "",
        "sip_status": 100,
        "sip_reason": "Trying",
        "call_status": "trying",
        "originating_sip_ip": "192.0.2.10",
        "originating_sip_trunk_name": "carrier",
        "sip": {"headers": {"via": "SIP/2.0/UDP 192.0.2.10"}, "body": "v=0"},
        **more,
    }


def signed(body: dict[str, Any], secret: str = SECRET, at: int = NOW) -> tuple[bytes, str]:
    """The body as jambonz sends it (JSON.stringify) and its Jambonz-Signature header."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), str(at).encode() + b"." + raw, hashlib.sha256)
    return raw, f"t={at},v1={digest.hexdigest()}"


def post(server: Server, url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    raw, signature = signed(body)
    return server.client.post(
        url,
        content=raw,
        headers={"Content-Type": "application/json", "Jambonz-Signature": signature, **headers},
    )


def hook(server: Server, verb: dict[str, Any], name: str, body: dict[str, Any]) -> Any:
    response = post(server, verb[name], body)
    assert response.status_code == 200, response.text
    return response.json()


def call_state(server: Server, call_sid: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    response = server.client.get(f"/v1/calls/{call_sid}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_main_line_plays_its_menu_as_a_gather(server: Server) -> None:
    response = post(server, "/v1/jambonz/call", call_payload("jz-menu", "+12125550111"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    (gather,) = response.json()
    assert gather["verb"] == "gather" and gather["input"] == ["digits"]
    assert gather["numDigits"] == 1 and gather["timeout"] == 5
    assert gather["say"]["text"].startswith("Thank you for calling Mercy General Hospital")
    hook_url = urlsplit(gather["actionHook"])
    assert hook_url.path == "/v1/jambonz/action" and not hook_url.netloc  # relative: same host
    assert parse_qs(hook_url.query) == {"on": ["gather"], "seq": ["1"]}


def test_a_cardiology_call_rings_over_and_the_agent_reports_during_the_call(
    server: Server,
) -> None:
    """Digit 1, the office rings 12 s without answer, the offshore center answers (the
    confirmHook), the agent reports needs-office while connected; when the bridged call ends,
    the dial's actionHook gets the thank-you and the hangup."""
    sid = "jz-cardiology"
    (gather,) = post(server, "/v1/jambonz/call", call_payload(sid, "12125550111")).json()
    done = call_payload(sid, "+12125550111", call_status="in-progress")
    pressed = {**done, "reason": "dtmfDetected", "digits": "1"}
    (office,) = hook(server, gather, "actionHook", pressed)
    assert office["verb"] == "dial" and office["timeout"] == 12
    assert office["target"] == [{"type": "sip", "sipUri": "sip:cardiology@mercy.example"}]
    assert office["headers"]["X-Call-Seq"] == "2"
    no_answer = {**done, "dial_call_status": "no-answer", "dial_sip_status": 487}
    (offshore,) = hook(server, office, "actionHook", no_answer)
    assert offshore["target"][0]["type"] in ("phone", "sip")
    assert "+443005550100" in json.dumps(offshore["target"][0])
    if "disposition_url" in json.dumps(offshore):  # carried when the engine hands one out
        assert offshore["headers"]["X-Disposition-URL"]
    agent_leg = {
        **call_payload("jz-agent-leg", "+443005550100", call_status="in-progress"),
        "direction": "outbound",
        "parent_call_sid": sid,
    }
    assert hook(server, offshore, "confirmHook", agent_leg) == []  # bridge now
    assert call_state(server, sid)["status"] == "connected"
    outcome = server.client.post(
        f"/v1/calls/{sid}/events",
        json={"event_id": "a", "seq": 4, "type": "outcome", "data": {"outcome": "needs-office"}},
        headers={"Authorization": f"Bearer {TELEPHONY}"},
    )
    assert outcome.status_code == 200, outcome.text
    ended = {**done, "dial_call_status": "completed", "dial_sip_status": 200}
    after = hook(server, offshore, "actionHook", ended)
    assert after == [
        {"verb": "say", "text": "Thank you. The Cardiology office will call you back shortly."},
        {"verb": "hangup"},
    ]
    state = call_state(server, sid)
    assert state["status"] == "ended" and state["seq"] == 5
    status = post(server, "/v1/jambonz/status", {**done, "call_status": "completed"})
    assert status.status_code == 204
    assert call_state(server, sid)["seq"] == 5  # nothing left to end


def test_the_agent_reports_on_the_keypad_during_the_call(server: Server) -> None:
    """*2 on the agent's keypad (jambonz's dtmfHook, the agent's leg) is `needs-office`."""
    sid = "jz-keypad"
    body = call_payload(sid, "+12125550120", call_status="in-progress")
    (office,) = post(server, "/v1/jambonz/call", body).json()
    (offshore,) = hook(server, office, "actionHook", {**body, "dial_call_status": "no-answer"})
    agent = {**call_payload("jz-keypad-agent", "+443005550100"), "parent_call_sid": sid}
    assert hook(server, offshore, "confirmHook", agent) == []
    keypad = "/v1/jambonz/reported?seq=3&reports=handled,needs-office"  # what the dial carries
    wrong = post(server, keypad, {**agent, "dtmf": "*5"})
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "dtmf"
    assert post(server, keypad, {**agent, "dtmf": "*2"}).json() == []
    state = call_state(server, sid)
    assert any("outcome needs-office" in step for step in state["trace"]) and state["seq"] == 4
    ended = {**body, "dial_call_status": "completed"}
    say, hangup = hook(server, offshore, "actionHook", ended)
    assert say["text"].startswith("Thank you. The Cardiology office") and hangup["verb"] == "hangup"


def test_a_ring_that_reports_outcomes_captures_the_agents_keypad() -> None:
    decision = {
        "call_id": "c",
        "seq": 3,
        "actions": [
            {
                "type": "ring",
                "targets": [{"name": "offshore-center", "uri": "+443005550100"}],
                "timeout_s": 30.0,
                "strategy": "sequential",
                "reports": ["handled", "needs-office"],
                "disposition_url": "/v1/dispositions/c?token=abc",
            }
        ],
        "await": ["dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup"],
    }
    (dial,) = verbs(decision, base="https://routing.example")
    assert dial["target"] == [{"type": "phone", "number": "+443005550100"}]
    assert dial["dtmfCapture"] == {"childCall": ["*1", "*2"]}
    assert dial["dtmfHook"] == "/v1/jambonz/reported?seq=4&reports=handled%2Cneeds-office"
    assert dial["headers"]["X-Disposition-URL"] == (
        "https://routing.example/v1/dispositions/c?token=abc"
    )


def test_a_connected_call_whose_agent_hangs_up_ends_and_the_status_hook_ends_it(
    server: Server,
) -> None:
    sid = "jz-er"
    (nurse,) = post(server, "/v1/jambonz/call", call_payload(sid, "+12125550100")).json()
    assert nurse["target"] == [{"type": "sip", "sipUri": "sip:er-nurse@mercy.example"}]
    done = call_payload(sid, "+12125550100", call_status="in-progress")
    assert hook(server, nurse, "confirmHook", {**done, "parent_call_sid": sid}) == []
    finished = {**done, "dial_call_status": "completed"}
    assert hook(server, nurse, "actionHook", finished) == [{"verb": "hangup"}]
    ended = post(server, "/v1/jambonz/status", {**done, "call_status": "completed"})
    assert ended.status_code == 204
    state = call_state(server, sid)
    assert state["status"] == "ended" and state["trace"][-1].endswith("caller hung up")


def test_a_caller_who_hangs_up_while_it_rings_is_a_hangup(server: Server) -> None:
    sid = "jz-gone"
    (nurse,) = post(server, "/v1/jambonz/call", call_payload(sid, "+12125550100")).json()
    gone = call_payload(sid, "+12125550100", call_status="completed", dial_call_status="no-answer")
    assert hook(server, nurse, "actionHook", gone) == [{"verb": "hangup"}]
    assert call_state(server, sid)["status"] == "ended"


def test_a_retried_webhook_gets_the_same_verbs_and_changes_nothing(server: Server) -> None:
    sid = "jz-retry"
    first = post(server, "/v1/jambonz/call", call_payload(sid, "+12125550111")).json()
    assert post(server, "/v1/jambonz/call", call_payload(sid, "+12125550111")).json() == first
    digits = {**call_payload(sid, "+12125550111"), "reason": "dtmfDetected", "digits": "3"}
    once = hook(server, first[0], "actionHook", digits)
    again = hook(server, first[0], "actionHook", digits)
    assert once == again and once[0]["verb"] == "dial"
    assert call_state(server, sid)["seq"] == 2


def test_no_input_replays_the_menu(server: Server) -> None:
    sid = "jz-silent"
    (gather,) = post(server, "/v1/jambonz/call", call_payload(sid, "+12125550111")).json()
    timeout = {**call_payload(sid, "+12125550111"), "reason": "timeout"}
    (again,) = hook(server, gather, "actionHook", timeout)
    assert again["verb"] == "gather" and "seq=2" in again["actionHook"]


def test_nobody_at_the_overflow_takes_a_message_through_listen(server: Server) -> None:
    sid = "jz-message"
    body = call_payload(sid, "+12125550120", call_status="in-progress")
    (office,) = post(server, "/v1/jambonz/call", body).json()
    (offshore,) = hook(server, office, "actionHook", {**body, "dial_call_status": "no-answer"})
    say, listen = hook(server, offshore, "actionHook", {**body, "dial_call_status": "busy"})
    assert say["verb"] == "say" and "leave a message" in say["text"]
    assert listen["verb"] == "listen" and listen["url"] == RECORDING
    assert listen["maxLength"] == 120 and listen["playBeep"] is True
    assert hook(server, listen, "actionHook", body) == [{"verb": "hangup"}]
    state = call_state(server, sid)
    assert state["status"] == "ended"
    ticket = next(a for d in state["decisions"] for a in d["actions"] if a["type"] == "ticket")
    assert ticket["recording"] == f"{RECORDING}#{sid}"


def test_a_fallback_is_tagged_and_named_in_the_dial_headers(server: Server) -> None:
    """A number no entry routes: the deployment's fallback, marked as such."""
    sid = "jz-no-entry"
    tag, dial, hangup = post(server, "/v1/jambonz/call", call_payload(sid, "+12125550188")).json()
    assert tag == {"verb": "tag", "data": {"fallback_reason": "no-entry"}}
    assert dial["verb"] == "dial" and dial["headers"]["X-Fallback-Reason"] == "no-entry"
    assert dial["target"] == [{"type": "sip", "sipUri": "sip:front-desk@mercy.example"}]
    assert "actionHook" not in dial and "confirmHook" not in dial  # nothing comes back
    assert hangup == {"verb": "hangup"}


def test_a_caller_number_jambonz_cannot_give_is_anonymous(server: Server) -> None:
    sid = "jz-anonymous"
    body = call_payload(sid, "+12125550100", caller="sip:unknown@192.0.2.10")
    assert post(server, "/v1/jambonz/call", body).status_code == 200
    assert call_state(server, sid)["from"] == "anonymous"


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"jambonz:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # neither signed nor a key
        ({"Jambonz-Signature": signed({}, "not-the-secret-0123")[1]}, 401),
        ({"Jambonz-Signature": "t=" + "9" * 5000 + ",v1=00"}, 401),  # no int of 5000 digits
        ({"Jambonz-Signature": "t=١٢٣,v1=00".encode()}, 401),  # digits, not ASCII ones
        ({"Authorization": basic(TELEPHONY)}, 200),  # basic auth with a telephony key
        ({"Authorization": f"Bearer {TELEPHONY}"}, 200),
        ({"Authorization": basic(ADMIN)}, 403),
        ({"Authorization": basic("wrong-key-0123456789")}, 401),
    ],
)
def test_only_jambonz_or_a_telephony_key_gets_through(
    server: Server, headers: dict[str, str | bytes], status: int
) -> None:
    sid = "jz-auth-" + hashlib.sha256(repr(headers).encode()).hexdigest()[:12]
    body = call_payload(sid, "+12125550111")
    response = server.client.post(
        "/v1/jambonz/call",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize("age", [-400, 400])
def test_a_signature_out_of_its_time_window_is_refused(server: Server, age: int) -> None:
    body = call_payload(f"jz-stale{age}", "+12125550111")
    raw, signature = signed(body, at=NOW + age)
    response = server.client.post(
        "/v1/jambonz/call",
        content=raw,
        headers={"Content-Type": "application/json", "Jambonz-Signature": signature},
    )
    assert response.status_code == 401 and response.json()["error"] == "bad-signature"


def test_a_rotated_secret_still_signs(server: Server) -> None:
    body = call_payload("jz-rotated", "+12125550111")
    raw, signature = signed(body, secret="old-secret-0123456789")
    response = server.client.post(
        "/v1/jambonz/call",
        content=raw,
        headers={"Content-Type": "application/json", "Jambonz-Signature": signature},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/jambonz/call", {"from": CALLER, "to": "+12125550111"}, "call_sid"),
        ("/v1/jambonz/call", call_payload("jz-bad-to", "front-desk"), "to"),
        ("/v1/jambonz/action?on=dial&seq=0", call_payload("jz-x", "+12125550111"), "seq"),
        ("/v1/jambonz/action?on=fax&seq=1", call_payload("jz-x", "+12125550111"), "on"),
    ],
)
def test_bad_webhooks_are_refused_naming_the_field(
    server: Server, url: str, body: dict[str, Any], field: str
) -> None:
    response = post(server, url, body)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()["problems"])


def test_without_a_recording_websocket_a_message_is_the_prompt_then_hangup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROUTING_JAMBONZ_RECORDING_URL", raising=False)
    decision = {
        "call_id": "c",
        "seq": 3,
        "actions": [{"type": "voicemail", "prompt": "Leave a message.", "max_length_s": 60}],
        "await": ["recording.done", "hangup"],
    }
    assert verbs(decision) == [{"verb": "say", "text": "Leave a message."}, {"verb": "hangup"}]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"[" * 40 + b"]" * 40, "application/json", 400),  # nested too deep
        (b'{"call_sid": "' + b"x" * 70_000 + b'"}', "application/json", 413),
        (b"call_sid=x", "application/x-www-form-urlencoded", 415),
        (b"{not json", "application/json", 400),
    ],
)
def test_hostile_bodies_are_refused_before_they_are_parsed(
    server: Server, raw: bytes, content_type: str, status: int
) -> None:
    response = server.client.post(
        "/v1/jambonz/call",
        content=raw,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {TELEPHONY}"},
    )
    assert response.status_code == status, response.text


def test_the_openapi_documents_the_jambonz_routes(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    for path in ("call", "action", "answered", "reported", "status"):
        assert f"/v1/jambonz/{path}" in paths
    assert {"401", "403", "422"} <= set(paths["/v1/jambonz/action"]["post"]["responses"])


def test_a_queue_is_a_dial_of_its_number_whose_end_is_its_timeout() -> None:
    queue = {
        "type": "queue",
        "queue": {"name": "billing-queue", "uri": "+12125550140"},
        "skills": ["billing"],
        "priority": 0,
        "max_wait_s": 90.0,
        "region": "",
    }
    decision = {"call_id": "c", "seq": 2, "actions": [queue], "await": ["dial.answered"]}
    (dial,) = verbs(decision)
    assert dial["target"] == [{"type": "phone", "number": "+12125550140"}]
    assert dial["timeout"] == 90 and dial["actionHook"] == "/v1/jambonz/action?on=queue&seq=2"
    unanswered = Hook.model_validate({"call_sid": "c", "dial_call_status": "no-answer"})
    assert dial_event(unanswered, "queue") == "queue.timeout"
    assert dial_event(unanswered, "dial") == "dial.no-answer"
    nowhere = {**decision, "actions": [{**queue, "queue": None}]}
    assert verbs(nowhere) == []  # no number to dial: jambonz has nothing to run


def test_the_agent_reports_through_the_link_after_the_caller_hung_up(server: Server) -> None:
    """The usual order: the agent answers (the confirmHook), the caller hangs up (the call
    status webhook, `completed`), and the agent reports on the disposition link afterwards:
    the status hook put the call in wrap-up, so the report raises the ticket. The status
    hook sent again changes nothing."""
    sid = "jz-wrap-up"
    body = call_payload(sid, "+12125550120", call_status="in-progress")
    (office,) = post(server, "/v1/jambonz/call", body).json()
    (offshore,) = hook(server, office, "actionHook", {**body, "dial_call_status": "no-answer"})
    agent = {**call_payload("jz-wrap-up-agent", "+443005550100"), "parent_call_sid": sid}
    assert hook(server, offshore, "confirmHook", agent) == []
    for _ in range(2):
        gone = post(server, "/v1/jambonz/status", {**body, "call_status": "completed"})
        assert gone.status_code == 204
        state = call_state(server, sid)
        assert (state["status"], state["await"], state["seq"]) == ("connected", ["outcome"], 4)
    link = urlsplit(state["decisions"][1]["actions"][0]["disposition_url"])  # the overflow's
    form = {"token": parse_qs(link.query)["token"][0], "outcome": "needs-office"}
    reported = server.client.post(link.path, data=form)
    assert reported.status_code == 200, reported.text
    assert "A ticket is on the cardiology board" in reported.text
    assert call_state(server, sid)["status"] == "ended"
