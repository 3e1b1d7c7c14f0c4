"""FreeSWITCH's mod_httapi against the real engine (uvicorn on 127.0.0.1), FreeSWITCH's side
played as mod_httapi's documentation ("mod_httapi", FreeSWITCH's module documentation, and its
`mod_httapi_doc.txt`) gives it: form parameters (`session_id`, the caller profile's `Caller-*`,
`exiting`), basic credentials (`gateway-credentials`, `auth-scheme` basic), `<params>` mirrored
back on the next request, `<getVar>` results sent once; and answers that are well-formed
`<document type="xml/freeswitch-httapi">` with `text/xml`, using only the documented tags."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from conftest import ROOT
from engine_process import KEY, OPEN, Engine, running_engine

from routing_engine.service.httapi import Settings, document

pytestmark = pytest.mark.telephony

ER, CARDIOLOGY, MAIN = "+12125550100", "+12125550120", "+12125550111"
# the work tags mod_httapi documents, and the attributes each takes
WORK_TAGS = {
    "playback", "vmname", "record", "pause", "speak", "say", "execute", "sms", "dial",
    "recordCall", "conference", "answer", "hangup", "break", "log", "continue", "getVar",
    "voicemail",
}  # fmt: skip
SHIPPED = ROOT / "examples" / "telephony" / "freeswitch"
BASIC = "Basic " + base64.b64encode(f"freeswitch:{KEY}".encode()).decode()


def permitted(permission: str, kind: str) -> set[str]:
    """What the shipped httapi profile lets a document use: `kind` names in `permission`."""
    profile = ElementTree.parse(SHIPPED / "httapi.conf.xml").getroot().find("profiles/profile")
    assert profile is not None
    found = profile.find(f"permissions/permission[@name='{permission}']")
    assert found is not None and found.get("value") == "true"
    return {item.get("name", "") for item in found.iter(kind)}


def within_the_shipped_profile(root: ElementTree.Element) -> None:
    """Every `<execute>`, `<getVar>` and variable the document uses is one the shipped
    profile permits (httapi hangs up a call whose document uses another)."""
    for execute in root.iter("execute"):
        assert execute.get("application") in permitted("execute-apps", "application")
        assert "$" not in (execute.get("data") or "")  # expand-vars is off
    for get in root.iter("getVar"):
        assert get.get("name") in permitted("get-vars", "variable")
    for set_variable in root.find("variables") or []:
        assert set_variable.tag in permitted("set-vars", "variable")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with running_engine(tmp_path_factory.mktemp("freeswitch")) as running:
        yield running


class Session:
    """One channel running `httapi`: its params (kept across requests, as httapi keeps them,
    updated by each document's `<params>`), posted as a form with basic credentials."""

    def __init__(self, engine: Engine, uuid: str, dialed: str, created_s: float = 0):
        self.url = f"{engine.url}/v1/freeswitch/httapi"
        created = int((OPEN + timedelta(seconds=created_s)).timestamp() * 1_000_000)
        self.params = {
            "session_id": uuid,
            "hostname": "fs1",
            "url": self.url,
            "Caller-Caller-ID-Number": "12125550123",
            "Caller-Destination-Number": dialed,
            "Caller-Unique-ID": uuid,
            "Caller-Channel-Created-Time": str(created),
        }
        self.last: httpx.Response | None = None

    def post(self, **once: str) -> ElementTree.Element:
        """One request (with `once`, the one-time params such as a `<getVar>` result); the
        document answered, its `<params>` kept for the next."""
        self.last = response = httpx.post(
            self.url,
            data={**self.params, **once},
            headers={"Authorization": BASIC},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        root = ElementTree.fromstring(response.content)  # well-formed, or this raises
        assert root.tag == "document" and root.get("type") == "xml/freeswitch-httapi"
        assert {child.tag for child in root} <= {"params", "variables", "work"}
        work = root.find("work")
        assert work is not None and len(work) > 0
        assert {tag.tag for tag in work} <= WORK_TAGS
        within_the_shipped_profile(root)
        for param in root.find("params") or []:
            self.params[param.tag] = param.text or ""
        return root


def work(root: ElementTree.Element) -> list[tuple[str, dict[str, str]]]:
    found = root.find("work")
    assert found is not None
    return [(tag.tag, dict(tag.attrib)) for tag in found]


def variable(root: ElementTree.Element, name: str) -> str | None:
    return root.findtext(f"variables/{name}")


def test_an_er_call_is_bridged_to_the_nurse(engine: Engine) -> None:
    fs = Session(engine, "0b7a3f7e-0001-4c4e-9d38-er0000000001", ER)
    first = fs.post()
    assert work(first) == [
        (
            "execute",
            {
                "application": "bridge",
                "data": "{originate_timeout=18,ignore_early_media=true}"
                "sofia/external/er-nurse@mercy.example",
            },
        ),
        ("getVar", {"name": "originate_disposition"}),
    ]
    assert fs.params["routing_seq"] == "1" and fs.params["routing_wait"] == "ring"
    # the ER line's fallback for the dialplan after httapi: both nurses at once, 30 s
    assert variable(first, "routing_fallback") == (
        "{originate_timeout=30,ignore_early_media=true}sofia/external/er-nurse@mercy.example,"
        "sofia/external/er-nurse-backup@mercy.example"
    )
    assert variable(first, "continue_on_fail") == "true"
    # the nurse answered; the bridge ended and the call with it
    after = fs.post(originate_disposition="SUCCESS")
    assert work(after) == [("hangup", {"cause": "NORMAL_CLEARING"})]
    record = engine.call(fs.params["session_id"])
    assert record["status"] == "ended"
    assert record["trace"][-2:] == [
        "ring ring-nurse: answered, connected",
        "er/ring-nurse: caller hung up",
    ]
    # FreeSWITCH's clock: the call is timed by Caller-Channel-Created-Time
    assert record["started_at"] == "2026-03-11T15:00:00Z"
    # the hangup post httapi makes as the channel goes reports nothing more
    fs.post(exiting="true")
    assert engine.call(fs.params["session_id"])["seq"] == record["seq"]


def test_cardiology_rings_over_and_leaves_the_outcome_to_the_agent(engine: Engine) -> None:
    fs = Session(engine, "0b7a3f7e-0002-4c4e-9d38-ca0000000002", CARDIOLOGY.removeprefix("+"))
    office = fs.post()
    assert work(office)[0][1]["data"].endswith("}sofia/external/cardiology@mercy.example")
    assert work(office)[0][1]["data"].startswith("{originate_timeout=12,")
    overflow = fs.post(originate_disposition="NO_ANSWER")
    # the offshore center is a bare number: through the gateway, 30 s; its agent's leg carries
    # the signed disposition link and the outcomes as SIP headers
    bridged = work(overflow)[0][1]["data"]
    assert bridged.startswith(
        "{originate_timeout=30,ignore_early_media=true}[sip_h_X-Routing-Disposition="
        f"{engine.url}/disposition/{fs.params['session_id']}?token="
    )
    assert bridged.endswith(
        ",sip_h_X-Routing-Reports=handled needs-office]sofia/gateway/trunk/+443005550100"
    )
    over = fs.post(originate_disposition="SUCCESS")
    assert work(over) == [("hangup", {"cause": "NORMAL_CLEARING"})]
    fs.post(exiting="true")
    call_id = fs.params["session_id"]
    record = engine.call(call_id)
    # answered and over: the hangup is reported, and the call waits in wrap-up for the
    # agent's outcome (the link or the API), which then raises the ticket
    assert (record["status"], record["await"]) == ("connected", ["outcome"])
    assert record["trace"][-2] == "ring office.ring-overflow: answered, connected"
    assert "caller hung up; awaiting the agent's report" in record["trace"][-1]
    outcome = {"event_id": "agent", "seq": record["seq"], "type": "outcome"}
    outcome["data"] = {"outcome": "needs-office"}
    response = httpx.post(
        f"{engine.url}/v1/calls/{call_id}/events",
        json=outcome,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert [a["type"] for a in response.json()["actions"]] == ["ticket", "hangup"]


def test_the_ivr_menu_reads_digits_with_speak_and_bind(engine: Engine) -> None:
    fs = Session(engine, "0b7a3f7e-0003-4c4e-9d38-iv0000000003", MAIN)
    menu = fs.post()
    (tag, attributes), *_ = work(menu)
    assert tag == "speak"
    assert attributes["name"] == "routing_digits" and attributes["input-timeout"] == "5000"
    assert attributes["text"].startswith("Thank you for calling Mercy General Hospital.")
    speak = menu.find("work/speak")
    assert speak is not None and [b.text for b in speak.findall("bind")] == ["~[0-9*#]"]
    assert fs.params["routing_wait"] == "menu"
    # no input: the menu again; then 4: the pharmacy
    again = fs.post()
    assert work(again)[0][0] == "speak"
    pharmacy = fs.post(routing_digits="4", input_type="dtmf")
    assert "sofia/external/pharmacy@mercy.example" in work(pharmacy)[0][1]["data"]
    trace = engine.call(fs.params["session_id"])["trace"]
    assert any("no input, replay" in line for line in trace)
    assert "menu main-menu: digit 4 -> pharmacy/office" in trace


def test_a_fallback_answer_is_marked_in_the_document_and_a_header(engine: Engine) -> None:
    fs = Session(engine, "0b7a3f7e-0004-4c4e-9d38-nx0000000004", "+12125550999")
    root = fs.post()
    assert fs.params["routing_fallback_reason"] == "no-entry"
    assert fs.last is not None and fs.last.headers["X-Routing-Fallback"] == "no-entry"
    assert work(root)[0] == (
        "log",
        {"level": "WARNING"},
    ) and "no-entry" in (root.findtext("work/log") or "")
    assert "sofia/external/front-desk@mercy.example" in work(root)[1][1]["data"]
    assert work(root)[-1][0] == "hangup"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Basic " + base64.b64encode(b"freeswitch:not-the-key-at-all").decode(), 401),
        ("Basic !!!", 401),
        (BASIC, 200),
        (f"Bearer {KEY}", 200),
    ],
)
def test_the_route_takes_the_telephony_key_as_basic_credentials(
    engine: Engine, authorization: str | None, status: int
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.post(
        f"{engine.url}/v1/freeswitch/httapi",
        data={"session_id": f"auth-{status}-{len(authorization or '')}", "exiting": "true"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("data", "content", "status", "field"),
    [
        ({"Caller-Destination-Number": ER}, None, 422, "call_id"),
        ({"session_id": "x1", "Caller-Destination-Number": ""}, None, 422, "to"),
        ({"session_id": "x2", "routing_seq": "zero"}, None, 422, "routing_seq"),
        ({"session_id": "x2", "routing_seq": "9" * 5000}, None, 422, "routing_seq"),
        ({"session_id": "x2", "routing_seq": "\u00b2"}, None, 422, "routing_seq"),
        (
            {
                "session_id": "x4",
                "Caller-Destination-Number": ER,
                "Caller-Channel-Created-Time": "9" * 40,
            },
            None,
            200,
            None,
        ),
        (None, b'{"session_id": "x3"}', 415, None),
        (None, b"session_id=" + b"x" * 70_000, 413, None),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    engine: Engine, data: dict[str, str] | None, content: bytes | None, status: int, field: Any
) -> None:
    headers = {"Authorization": BASIC}
    if content is not None:
        kind = (
            "application/json" if content.startswith(b"{") else "application/x-www-form-urlencoded"
        )
        headers["Content-Type"] = kind
    response = httpx.post(
        f"{engine.url}/v1/freeswitch/httapi",
        data=data,
        content=content,
        headers=headers,
        timeout=10,
    )
    assert response.status_code == status
    if field is not None:
        assert field in response.text


def test_the_openapi_documents_the_form_and_the_xml(engine: Engine) -> None:
    operation = httpx.get(f"{engine.url}/openapi.json", timeout=10).json()["paths"][
        "/v1/freeswitch/httapi"
    ]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"session_id", "exiting", "Caller-Destination-Number"} <= set(form["properties"])
    assert "text/xml" in operation["responses"]["200"]["content"]
    assert {"401", "413", "415", "422"} <= set(operation["responses"])


def test_the_document_escapes_what_it_carries() -> None:
    """Text and URIs reach FreeSWITCH as XML attribute values, escaped, never spliced."""
    text = 'Press 1 for "R&D" <now>'
    decision = {
        "seq": 3,
        "actions": [
            {"type": "say", "text": text},
            {
                "type": "ring",
                "targets": [{"name": "a", "uri": "sip:a&b@example.com"}],
                "timeout_s": 10,
                "disposition_url": "/v1/disposition/abc?x=1&y=2",
                "reports": ["handled", "needs-office"],
            },
        ],
        "await": ["dial.answered"],
        "fallback": {"actions": [], "await": []},
    }
    body, wait = document(decision, "call-1", Settings(), "https://engine.example")
    root = ElementTree.fromstring(body)
    assert wait == "ring"
    assert root.find("work/speak").get("text") == text  # type: ignore[union-attr]
    bridge = root.find("work/execute").get("data")  # type: ignore[union-attr]
    assert bridge == (
        "{originate_timeout=10,ignore_early_media=true}"
        "[sip_h_X-Routing-Disposition=https://engine.example/v1/disposition/abc?x=1&y=2,"
        "sip_h_X-Routing-Reports=handled needs-office]"
        "sofia/external/a&b@example.com"
    )
    assert b"R&amp;D" in body and b"&lt;now&gt;" in body


def test_the_shipped_dialplan_rings_the_fallback_the_engine_gives(engine: Engine) -> None:
    """What `routing.xml` rings when the engine cannot be reached is what the engine's own
    documents set as `routing_fallback` for that line (the ER's nurses, else the front desk)."""
    dialplan = ElementTree.parse(SHIPPED / "routing.xml").getroot()
    static = {}
    for extension in dialplan.iter("extension"):
        actions = [(a.get("application"), a.get("data", "")) for a in extension.iter("action")]
        assert actions[2] == ("httapi", "{httapi_profile=routing-engine}")
        assert actions[-1] == ("bridge", "${routing_fallback}")  # after httapi: the fallback
        static[extension.get("name")] = actions[0][1].removeprefix("routing_fallback=")
    er = Session(engine, "0b7a3f7e-0005-4c4e-9d38-er0000000005", ER).post()
    desk = Session(engine, "0b7a3f7e-0006-4c4e-9d38-ca0000000006", CARDIOLOGY).post()
    assert static == {
        "routing-er": variable(er, "routing_fallback"),
        "routing-engine": variable(desk, "routing_fallback"),
    }
