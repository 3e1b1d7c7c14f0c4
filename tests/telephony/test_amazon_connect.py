"""The Amazon Connect Lambda handler (`examples/telephony/amazon-connect/handler.py`) against
the real engine (uvicorn on 127.0.0.1, the hospital), sent contact events shaped as AWS's
"Using Lambda with Amazon Connect" gives its example request event (`Details.ContactData`,
`Details.Parameters`, `Name: ContactFlowEvent`), and checked for what Connect accepts back: a
flat map of strings, within its 8-second limit."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "service"))
from test_service import Server, free_port

pytestmark = pytest.mark.telephony

TELEPHONY = "tel-connect-0123456789"
HANDLER = ROOT / "examples" / "telephony" / "amazon-connect" / "handler.py"
CALLER = "+12125550123"
FRONT_DESK = "+12125550177"


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("connect_handler", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = load_handler()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("connect") / "routing.db",
        env={"ROUTING_API_KEYS": f"telephony {TELEPHONY}"},
    )
    yield running
    running.stop()


@pytest.fixture
def engine(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The Lambda's environment pointed at the running engine, with no fallback configured."""
    monkeypatch.setenv("ROUTING_ENGINE_URL", server.url)
    monkeypatch.setenv("ROUTING_API_KEY", TELEPHONY)
    monkeypatch.setenv("ROUTING_TIMEOUT_S", "3")
    for name in ("ROUTING_FALLBACK_NUMBER", "ROUTING_FALLBACKS"):
        monkeypatch.delenv(name, raising=False)
    return server


def contact_event(
    contact_id: str,
    dialed: str,
    parameters: dict[str, str] | None = None,
    attributes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A contact event as AWS documents it for a Lambda invoked from a flow."""
    return {
        "Details": {
            "ContactData": {
                "Attributes": attributes or {},
                "Channel": "VOICE",
                "ContactId": contact_id,
                "CustomerEndpoint": {"Address": CALLER, "Type": "TELEPHONE_NUMBER"},
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": "arn:aws:connect:us-east-1:111111111111:instance/abc",
                "PreviousContactId": contact_id,
                "Queue": None,
                "SystemEndpoint": {"Address": dialed, "Type": "TELEPHONE_NUMBER"},
            },
            "Parameters": parameters or {},
        },
        "Name": "ContactFlowEvent",
    }


def invoke(event: dict[str, Any]) -> dict[str, str]:
    """The handler as Lambda runs it; Connect takes only a flat map of strings."""
    result = handler.lambda_handler(event, None)
    assert isinstance(result, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items()), result
    return result


def test_the_main_line_answers_its_menu_as_flat_attributes(engine: Server) -> None:
    out = invoke(contact_event("4a573372-1f28-4e26-b97b-000000000001", "+12125550111"))
    assert out["action"] == "menu" and out["seq"] == "1" and out["engine"] == "ok"
    assert out["prompt"].startswith("Thank you for calling Mercy General Hospital")
    assert out["options"] == "1,2,3,4,0" and out["max_digits"] == "1" and out["timeout_s"] == "5"
    assert out["fallback"] == "false" and out["fallback_reason"] == ""
    assert out["awaits"] == "digits,no-input,hangup"


def test_a_cardiology_call_rolls_over_and_the_overflow_reports_needs_office(
    engine: Server,
) -> None:
    cid = "4a573372-1f28-4e26-b97b-000000000002"
    first = invoke(contact_event(cid, "+12125550111"))
    office = invoke(
        contact_event(cid, "+12125550111", {"event": "digits", "seq": first["seq"], "digits": "1"})
    )
    assert office["action"] == "ring" and office["target_name"] == "cardiology-office"
    assert office["target_uri"] == "sip:cardiology@mercy.example" and office["timeout_s"] == "12"
    assert office["target_number"] == ""  # a SIP target: no number to transfer to
    overflow = invoke(
        contact_event(cid, "+12125550111", {"event": "dial.no-answer", "seq": office["seq"]})
    )
    assert overflow["action"] == "ring" and overflow["target_number"] == "+443005550100"
    assert overflow["seq"] == "3" and overflow["timeout_s"] == "30"
    connected = invoke(
        contact_event(cid, "+12125550111", {"event": "dial.answered", "seq": overflow["seq"]})
    )
    assert connected["action"] == "wait" and connected["awaits"] == "outcome,hangup"
    reported = invoke(
        contact_event(
            cid,
            "+12125550111",
            {"event": "outcome", "seq": connected["seq"], "outcome": "needs-office"},
        )
    )
    assert reported["say"] == "Thank you. The Cardiology office will call you back shortly."
    assert reported["action"] == "hangup" and reported["awaits"] == ""


def test_the_seq_may_come_from_a_contact_attribute_and_a_retry_changes_nothing(
    engine: Server,
) -> None:
    cid = "4a573372-1f28-4e26-b97b-000000000003"
    invoke(contact_event(cid, "+12125550100"))
    retried = contact_event(cid, "+12125550100", {"event": "dial.no-answer"}, {"routing_seq": "1"})
    once, again = invoke(retried), invoke(retried)
    assert once == again and once["target_name"] == "er-nurse-backup" and once["seq"] == "2"


def test_an_engine_fallback_is_marked(engine: Server) -> None:
    out = invoke(contact_event("4a573372-1f28-4e26-b97b-000000000004", "+12125550188"))
    assert out["fallback"] == "true" and out["fallback_reason"] == "no-entry"
    assert out["action"] == "ring" and out["target_name"] == "front-desk-office"


def test_with_the_engine_stopped_the_call_goes_to_the_lines_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTING_ENGINE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("ROUTING_FALLBACK_NUMBER", FRONT_DESK)
    monkeypatch.setenv("ROUTING_FALLBACKS", "+12125550100=+12125550166")
    started = time.monotonic()
    er = invoke(contact_event("c-stopped-1", "+12125550100"))
    assert time.monotonic() - started < 2
    assert (er["action"], er["target_number"], er["fallback"]) == ("ring", "+12125550166", "true")
    assert er["engine"] == er["fallback_reason"] == "unreachable"
    main = invoke(contact_event("c-stopped-2", "+12125550111"))
    assert main["target_number"] == FRONT_DESK
    kept = contact_event(
        "c-stopped-3", "+12125550111", {}, {"routing_fallback_number": "front desk"}
    )
    assert invoke(kept)["target_number"] == FRONT_DESK  # not a number: passed over
    kept["Details"]["ContactData"]["Attributes"]["routing_fallback_number"] = "+12125550155"
    assert invoke(kept)["target_number"] == "+12125550155"


def test_with_no_fallback_known_the_error_branch_takes_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTING_ENGINE_URL", f"http://127.0.0.1:{free_port()}")
    for name in ("ROUTING_FALLBACK_NUMBER", "ROUTING_FALLBACKS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(handler.EngineError):
        handler.lambda_handler(contact_event("c-error", "+12125550111"), None)


def test_an_engine_that_never_answers_is_cut_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listening socket nobody reads: the connection opens, no answer ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("ROUTING_ENGINE_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("ROUTING_TIMEOUT_S", "0.5")
        monkeypatch.setenv("ROUTING_FALLBACK_NUMBER", FRONT_DESK)
        started = time.monotonic()
        out = invoke(contact_event("c-silent", "+12125550111"))
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5, elapsed
    assert out["fallback"] == "true" and out["engine"] == "unreachable"


@pytest.mark.parametrize(("wanted", "used"), [("30", 6.0), ("2", 2.0), ("junk", 3.0)])
def test_the_timeout_stays_well_within_connects_8_seconds(
    monkeypatch: pytest.MonkeyPatch, wanted: str, used: float
) -> None:
    monkeypatch.setenv("ROUTING_TIMEOUT_S", wanted)
    assert handler._timeout_s() == used


def test_a_refused_event_goes_to_the_fallback_naming_the_status(
    engine: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTING_FALLBACK_NUMBER", FRONT_DESK)
    cid = "4a573372-1f28-4e26-b97b-000000000005"
    invoke(contact_event(cid, "+12125550111"))
    stale = invoke(contact_event(cid, "+12125550111", {"event": "no-input", "seq": "7"}))
    assert (stale["engine"], stale["engine_status"], stale["fallback"]) == (
        "refused",
        "409",
        "true",
    )
    unknown = invoke(contact_event(cid, "+12125550111", {"event": "fax", "seq": "1"}))
    assert unknown["engine"] == "refused" and unknown["target_number"] == FRONT_DESK
    huge = invoke(contact_event(cid, "+12125550111", {"event": "no-input", "seq": "9" * 5000}))
    assert (huge["engine"], huge["engine_status"]) == ("refused", "422")


def test_a_wrong_key_is_refused_not_routed(engine: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_API_KEY", "not-a-key-0123456789")
    monkeypatch.setenv("ROUTING_FALLBACK_NUMBER", FRONT_DESK)
    out = invoke(contact_event("c-wrong-key", "+12125550111"))
    assert out["engine_status"] == "401" and out["target_number"] == FRONT_DESK


def test_the_handler_needs_only_the_standard_library() -> None:
    imported = [
        line.split()[1].split(".")[0]
        for line in Path(HANDLER).read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert set(imported) <= set(sys.stdlib_module_names) | {"__future__"}, imported
