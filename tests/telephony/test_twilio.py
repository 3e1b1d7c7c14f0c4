"""The Twilio Voice webhook over real HTTP (`cli.py serve` on a loopback port), played as Twilio
plays it: form-encoded requests carrying the parameters Twilio's docs give ("Voice Webhooks":
CallSid, AccountSid, From, To, CallStatus, Direction, ApiVersion; "TwiML Voice: <Gather>":
Digits; "TwiML Voice: <Dial>": DialCallStatus, DialCallSid; "TwiML Voice: <Record>":
RecordingUrl), each signed as "Secure webhooks" says, with the helper library's own
RequestValidator over the URL Twilio requests. The server stands behind a public URL
($ROUTING_TWILIO_URL), as it would behind a TLS proxy: the TwiML's action URLs are under it,
and the tests request them on the loopback port while signing the public URL, as Twilio and
the proxy would. The answers are read as TwiML documents ("TwiML Voice: <Dial>", "<Number>",
"<Sip>", "<Gather>", "<Say>", "<Record>", "<Hangup>")."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))
from test_service import Server  # the served app, as tests/service starts it

pytestmark = pytest.mark.telephony

TOKEN = "twilio-auth-token-for-tests-0123456789"
BASE = "https://routing.mercy.example"
AT = "2037-11-24T10:00:00-05:00"  # a Tuesday morning, offices open; SLA timers far off
ACCOUNT = "AC" + "0" * 32
CALLER = "+12125550123"
MAIN_LINE = "+12125550111"


def sid(name: str) -> str:
    """A CallSid as Twilio makes them: CA and 32 hex digits."""
    return "CA" + name.encode().hex().ljust(32, "0")[:32]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env: dict[str, str | None] = {
        "ROUTING_TWILIO_AUTH_TOKEN": TOKEN,
        "ROUTING_TWILIO_URL": BASE,
    }
    running = Server(tmp_path_factory.mktemp("twilio") / "t.db", now=AT, env=env)
    try:
        yield running
    finally:
        running.stop()


class Twilio:
    """Twilio's side of the calls: a signed form POST to a URL the TwiML (or the number's
    configuration) names, under the public URL; sent to the server's loopback port."""

    def __init__(self, server: Server, token: str = TOKEN):
        self.server = server
        self.validator = RequestValidator(token)

    def post(
        self, url: str, params: dict[str, str], signature: str | None = None
    ) -> httpx.Response:
        public = url if url.startswith("http") else BASE + url
        signed = self.validator.compute_signature(public, params)
        local = self.server.url + public.removeprefix(BASE)
        headers = {"X-Twilio-Signature": signed if signature is None else signature}
        return httpx.post(local, data=params, headers=headers, timeout=10)


def call_params(call_sid: str, to: str = MAIN_LINE, **more: str) -> dict[str, str]:
    """The parameters of every voice request about a call ("Voice Webhooks")."""
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": CALLER,
        "To": to,
        "Caller": CALLER,
        "Called": to,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromCountry": "US",
        "FromState": "NY",
        **more,
    }


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def only(root: ET.Element, tag: str) -> ET.Element:
    found = root.findall(tag)
    assert len(found) == 1, ET.tostring(root)
    return found[0]


def stored(server: Server, call_sid: str) -> dict:  # type: ignore[type-arg]
    response = server.client.get(f"/v1/calls/{call_sid}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_hospital_ivr_end_to_end_through_twilio(server: Server) -> None:
    """Item 5: the main line's menu, digit 1, the cardiology office rings over (no-answer),
    the offshore agent answers, hears the whisper and reports needs-office by digit, is put
    through; the caller hears the callback promise; a ticket is on cardiology's board; the
    status callback's completed finds the call ended."""
    twilio, call = Twilio(server), sid("ivr-end-to-end")
    menu = twiml(twilio.post("/v1/twilio/voice", call_params(call, CallStatus="ringing")))
    gather = only(menu, "Gather")
    assert (gather.get("input"), gather.get("numDigits"), gather.get("timeout")) == (
        "dtmf",
        "1",
        "5",
    )
    assert gather.get("actionOnEmptyResult") == "true"
    assert "For cardiology, press 1" in only(gather, "Say").text  # type: ignore[operator]
    assert gather.get("action") == f"{BASE}/v1/twilio/gather?seq=1"

    office = twiml(twilio.post(gather.get("action", ""), call_params(call, Digits="1")))
    dial = only(office, "Dial")
    assert (dial.get("timeout"), dial.get("action")) == ("12", f"{BASE}/v1/twilio/dial?seq=2")
    assert [(t.tag, t.text) for t in dial] == [("Sip", "sip:cardiology@mercy.example")]

    no_answer = call_params(call, DialCallStatus="no-answer", DialCallSid=sid("office-leg"))
    overflow = twiml(twilio.post(dial.get("action", ""), no_answer))
    dial = only(overflow, "Dial")
    assert (dial.get("timeout"), dial.get("action")) == ("30", f"{BASE}/v1/twilio/dial?seq=3")
    (agent,) = list(dial)  # a <Number> (+44...) or, through a trunk, a <Sip>
    assert agent.tag in ("Number", "Sip") and agent.get("method") == "POST"
    whisper_url = agent.get("url", "")
    query = parse_qs(urlsplit(whisper_url).query)
    assert query == {"call": [call], "seq": ["3"], "reports": ["handled,needs-office"]}

    # the agent's leg, on answering: Twilio requests the <Number url> for the child call
    leg = call_params(sid("agent-leg"), to="+443005550100", ParentCallSid=call)
    leg["Direction"] = "outbound-dial"
    whisper = twiml(twilio.post(whisper_url, leg))
    asked = only(whisper, "Gather")
    assert (asked.get("input"), asked.get("numDigits")) == ("dtmf", "1")
    prompt = only(asked, "Say").text or ""
    assert "press 1 for handled" in prompt and "press 2 for needs office" in prompt
    reported = twiml(twilio.post(asked.get("action", ""), {**leg, "Digits": "2"}))
    spoken = [(v.tag, v.text) for v in reported]
    assert spoken == [("Say", "Reported: needs office. Connecting you.")]

    # the agent hangs up after talking; the caller's <Dial action> gets the call's decision now
    completed = call_params(call, DialCallStatus="completed", DialCallDuration="95")
    after = twiml(twilio.post(dial.get("action", ""), completed))
    assert verbs(after) == ["Say", "Hangup"]
    assert "Cardiology office will call you back" in (after[0].text or "")

    ticket = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == call]
    assert len(ticket) == 1 and ticket[0]["board"] == "cardiology"
    assert ticket[0]["caller"] == CALLER and ticket[0]["status"] == "open"

    ended = twilio.post("/v1/twilio/status", call_params(call, CallStatus="completed"))
    assert ended.status_code == 204
    state = stored(server, call)
    assert state["status"] == "ended" and state["seq"] == 5
    assert [d["seq"] for d in state["decisions"]] == [1, 2, 3, 4, 5]
    assert "outcome needs-office" in " ".join(state["trace"])


def test_a_bad_signature_is_refused_403_and_changes_nothing(server: Server) -> None:
    twilio, call = Twilio(server), sid("bad-signature")
    forged = twilio.post("/v1/twilio/voice", call_params(call), signature="bm90IHR3aWxpbw==")
    assert forged.status_code == 403 and forged.json()["error"] == "bad-signature"
    other_token = Twilio(server, token="another-account-token-0123456789")
    assert other_token.post("/v1/twilio/voice", call_params(call)).status_code == 403
    unsigned = httpx.post(f"{server.url}/v1/twilio/voice", data=call_params(call))
    assert unsigned.status_code == 403
    # the URL counts: signed for the loopback address, not the public URL Twilio requests
    local = f"{server.url}/v1/twilio/voice"
    signature = RequestValidator(TOKEN).compute_signature(local, call_params(call))
    moved = httpx.post(local, data=call_params(call), headers={"X-Twilio-Signature": signature})
    assert moved.status_code == 403
    assert server.client.get(f"/v1/calls/{call}").status_code == 404


def test_an_oversize_form_is_refused_413_before_it_is_read(server: Server) -> None:
    params = call_params(sid("oversize"), Padding="x" * 20_000)
    response = Twilio(server).post("/v1/twilio/voice", params)
    assert response.status_code == 413 and response.json()["error"] == "body-too-large"


def test_a_body_that_is_not_a_form_is_refused_415(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/twilio/voice", json=call_params(sid("json")))
    assert response.status_code == 415


def test_twilio_retries_are_idempotent(server: Server) -> None:
    """Twilio retries a request it got no answer to: the same TwiML, and the call moves once."""
    twilio, call = Twilio(server), sid("retries")
    first = twilio.post("/v1/twilio/voice", call_params(call))
    again = twilio.post("/v1/twilio/voice", call_params(call))
    assert first.text == again.text and verbs(twiml(first)) == ["Gather"]
    chose = twilio.post("/v1/twilio/gather?seq=1", call_params(call, Digits="3"))
    retried = twilio.post("/v1/twilio/gather?seq=1", call_params(call, Digits="3"))
    assert chose.text == retried.text and verbs(twiml(chose)) == ["Dial"]
    assert stored(server, call)["seq"] == 2  # one decision for the digits, however often sent
    busy = call_params(call, DialCallStatus="busy")
    once = twilio.post("/v1/twilio/dial?seq=2", busy)
    twice = twilio.post("/v1/twilio/dial?seq=2", busy)
    assert once.text == twice.text and stored(server, call)["seq"] == 3


def test_a_fallback_is_marked_and_still_rings_the_front_desk(server: Server) -> None:
    """A number no flow enters gets the deployment's fallback (ring the front desk), marked
    in the X-Routing-Fallback header and in its <Dial action> URL, which ends the call."""
    twilio, call = Twilio(server), sid("fallback")
    response = twilio.post("/v1/twilio/voice", call_params(call, to="+12125550999"))
    assert response.headers["X-Routing-Fallback"] == "no-entry"
    dial = only(twiml(response), "Dial")
    assert dial.get("timeout") == "30"
    assert [(t.tag, t.text) for t in dial] == [("Sip", "sip:front-desk@mercy.example")]
    assert dial.get("action") == f"{BASE}/v1/twilio/dial?seq=1&fallback=no-entry"
    ended = twilio.post(dial.get("action", ""), call_params(call, DialCallStatus="completed"))
    assert verbs(twiml(ended)) == ["Hangup"] and ended.headers["X-Routing-Fallback"] == "no-entry"
    normal = twilio.post("/v1/twilio/voice", call_params(sid("not-fallback")))
    assert "X-Routing-Fallback" not in normal.headers


@pytest.mark.parametrize("status", ["completed", "canceled"])
def test_the_status_callback_hangs_up_a_call_that_ended(server: Server, status: str) -> None:
    """Twilio's status callback with CallStatus completed or canceled (the caller hung up in
    the menu) ends the call; sent again, it changes nothing."""
    twilio, call = Twilio(server), sid(f"status-{status}")
    twilio.post("/v1/twilio/voice", call_params(call))
    ringing = twilio.post("/v1/twilio/status", call_params(call, CallStatus="ringing"))
    assert ringing.status_code == 204 and stored(server, call)["status"] == "active"
    ended = twilio.post("/v1/twilio/status", call_params(call, CallStatus=status))
    assert ended.status_code == 204
    state = stored(server, call)
    assert (state["status"], state["end_reason"], state["seq"]) == ("ended", "caller hung up", 2)
    assert twilio.post("/v1/twilio/status", call_params(call, CallStatus=status)).status_code == 204
    assert stored(server, call)["seq"] == 2


def test_a_caller_who_hangs_up_while_the_office_rings(server: Server) -> None:
    """DialCallStatus canceled: the caller hung up during the <Dial>; the call ends there."""
    twilio, call = Twilio(server), sid("dial-canceled")
    twilio.post("/v1/twilio/voice", call_params(call))
    twilio.post("/v1/twilio/gather?seq=1", call_params(call, Digits="2"))
    response = twilio.post("/v1/twilio/dial?seq=2", call_params(call, DialCallStatus="canceled"))
    assert verbs(twiml(response)) == ["Hangup"]
    state = stored(server, call)
    assert (state["status"], state["end_reason"]) == ("ended", "caller hung up")


def test_silence_in_the_menu_replays_it(server: Server) -> None:
    """actionOnEmptyResult: a <Gather> with no digits still reports, as no-input."""
    twilio, call = Twilio(server), sid("silence")
    twilio.post("/v1/twilio/voice", call_params(call))
    again = twiml(twilio.post("/v1/twilio/gather?seq=1", call_params(call, Digits="")))
    assert only(again, "Gather").get("action") == f"{BASE}/v1/twilio/gather?seq=2"
    assert stored(server, call)["trace"][-1].startswith("menu main-menu: no input, replay")


def test_a_missing_field_is_named(server: Server) -> None:
    params = call_params(sid("no-to"))
    del params["To"]
    response = Twilio(server).post("/v1/twilio/voice", params)
    assert response.status_code == 422
    assert response.json()["problems"] == [{"field": "To", "problem": "missing"}]


def test_every_status_is_documented(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    for route, statuses in {
        "/v1/twilio/voice": ("200", "403", "413", "415", "422", "503"),
        "/v1/twilio/status": ("204", "403", "413", "503"),
        "/v1/twilio/dial": ("200", "403", "409", "422"),
    }.items():
        operation = paths[route]["post"]
        assert set(statuses) <= set(operation["responses"]), route
        assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]


def test_without_a_token_the_webhook_refuses_503_and_needs_no_key(tmp_path: Path) -> None:
    """No auth token configured: nothing unsigned is served; Twilio then plays the number's
    fallback URL ("Primary handler fails"). With API keys configured, the webhook needs no
    bearer key (Twilio sends none; its signature stands for one) while /v1/calls does."""
    env: dict[str, str | None] = {
        "ROUTING_TWILIO_AUTH_TOKEN": None,
        "ROUTING_TWILIO_AUTH_TOKEN_FILE": None,
        "ROUTING_API_KEYS": "telephony telephony-key-0123456789",
    }
    bare = Server(tmp_path / "bare.db", now=AT, env=env)
    try:
        response = Twilio(bare).post("/v1/twilio/voice", call_params(sid("no-token")))
        assert response.status_code == 503
        assert response.json()["error"] == "twilio-not-configured"
        keyed = bare.client.post(
            "/v1/calls", json={"call_id": "k", "from": CALLER, "to": MAIN_LINE}
        )
        assert keyed.status_code == 401
    finally:
        bare.stop()


def test_nobody_at_the_overflow_takes_a_message_through_record(server: Server) -> None:
    """The office and the overflow ring out: the caller hears the prompt, <Record> takes the
    message, and its action's RecordingUrl becomes the voicemail ticket's recording."""
    twilio, call = Twilio(server), sid("voicemail")
    twilio.post("/v1/twilio/voice", call_params(call))
    twilio.post("/v1/twilio/gather?seq=1", call_params(call, Digits="2"))
    twilio.post("/v1/twilio/dial?seq=2", call_params(call, DialCallStatus="no-answer"))
    message = twiml(
        twilio.post("/v1/twilio/dial?seq=3", call_params(call, DialCallStatus="failed"))
    )
    assert verbs(message) == ["Say", "Record", "Hangup"]
    record = message[1]
    assert (record.get("maxLength"), record.get("action")) == (
        "120",
        f"{BASE}/v1/twilio/record?seq=4",
    )
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    done = call_params(call, RecordingUrl=recording, RecordingSid="RE1", RecordingDuration="14")
    assert verbs(twiml(twilio.post(record.get("action", ""), done))) == ["Hangup"]
    ticket = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == call]
    assert len(ticket) == 1 and ticket[0]["board"] == "radiology"
    shown = server.client.get(f"/v1/tickets/{ticket[0]['id']}").json()
    assert shown["recording"] == recording


def test_the_agent_reports_through_the_link_after_the_caller_hung_up(server: Server) -> None:
    """The usual order: the agent presses no digit in the whisper ("Or hold to talk"), talks,
    the caller hangs up (the caller's `<Dial action>`, then the status callback `completed`),
    and the agent reports `needs-office` on the call's disposition link afterwards: the
    status callback put the call in wrap-up, not to an end, so the ticket is raised. A
    retried status callback changes nothing."""
    twilio, call = Twilio(server), sid("wrap-up")
    cardiology = "+12125550120"
    office = twiml(twilio.post("/v1/twilio/voice", call_params(call, to=cardiology)))
    no_answer = call_params(call, to=cardiology, DialCallStatus="no-answer")
    overflow = twiml(twilio.post(only(office, "Dial").get("action", ""), no_answer))
    dial = only(overflow, "Dial")
    (agent,) = list(dial)
    leg = call_params(sid("wrap-up-leg"), to="+443005550100", ParentCallSid=call)
    whisper = twiml(twilio.post(agent.get("url", ""), leg))
    silent = twiml(twilio.post(only(whisper, "Gather").get("action", ""), {**leg, "Digits": ""}))
    assert [(v.tag, v.text) for v in silent] == [("Say", "No outcome reported. Connecting you.")]
    completed = call_params(call, to=cardiology, DialCallStatus="completed")
    assert verbs(twiml(twilio.post(dial.get("action", ""), completed))) == ["Hangup"]
    for _ in range(2):  # the status callback, and Twilio's retry of it
        status = call_params(call, to=cardiology, CallStatus="completed")
        assert twilio.post("/v1/twilio/status", status).status_code == 204
        state = stored(server, call)
        assert (state["status"], state["await"]) == ("connected", ["outcome"])
    link = urlsplit(state["decisions"][1]["actions"][0]["disposition_url"])  # the overflow ring
    token = parse_qs(link.query)["token"][0]
    form = {"token": token, "outcome": "needs-office"}
    reported = server.client.post(link.path, data=form)
    assert reported.status_code == 200, reported.text
    tickets = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == call]
    assert [(t["board"], t["caller"]) for t in tickets] == [("cardiology", CALLER)]
    assert stored(server, call)["status"] == "ended"
