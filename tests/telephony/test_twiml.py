"""Decisions rendered as TwiML (`service/twiml.py`), read back as the documents Twilio's docs
describe: "TwiML Voice: <Dial>" (timeout, action, sequential, answerOnBridge), "TwiML Voice:
<Sip>" (custom X- headers as URI parameters, the url whisper), "TwiML Voice: <Record>"
(action, maxLength), and the fallback TwiML Bins `cli.py twilio-fallbacks` prints."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from conftest import ROOT, run_cli

from routing_engine.service.twiml import Links, twiml

pytestmark = pytest.mark.telephony
LINKS = Links("https://routing.example")


def decision(*actions: dict[str, Any], awaits: tuple[str, ...] = ("dial.answered",)) -> dict:  # type: ignore[type-arg]
    return {
        "call_id": "CA1",
        "seq": 4,
        "actions": list(actions),
        "await": list(awaits),
        "fallback_reason": None,
    }


def ring(*uris: str, **more: Any) -> dict[str, Any]:
    targets = [{"name": f"t{i}", "uri": uri} for i, uri in enumerate(uris)]
    return {"type": "ring", "targets": targets, "timeout_s": 20.0, **more}


def test_a_sip_agent_gets_the_disposition_link_as_a_header_and_the_whisper() -> None:
    link = "https://routing.example/v1/disposition/CA1?sig=a+b/c"
    action = ring("sip:agent@offshore.example", strategy="sequential")
    action.update(reports=["handled", "needs-office"], disposition_url=link)
    root = ET.fromstring(twiml(decision(action), LINKS))
    (dial,) = root
    assert dial.get("answerOnBridge") == "true"  # the caller hears ringing during the whisper
    (sip,) = dial
    uri, _, headers = (sip.text or "").partition("?")
    assert uri == "sip:agent@offshore.example"
    assert {k: unquote(v) for k, _, v in [headers.partition("=")]} == {"X-Disposition-Url": link}
    whisper = urlsplit(sip.get("url", ""))
    assert whisper.path == "/v1/twilio/whisper"
    assert parse_qs(whisper.query) == {
        "call": ["CA1"],
        "seq": ["4"],
        "reports": ["handled,needs-office"],
    }


def test_sequential_targets_ring_in_order_and_simultaneous_ones_at_once() -> None:
    both = ("sip:a@x.example", "+12125550100")
    (dial,) = ET.fromstring(twiml(decision(ring(*both, strategy="sequential")), LINKS))
    assert dial.get("sequential") == "true" and [t.tag for t in dial] == ["Sip", "Number"]
    (dial,) = ET.fromstring(twiml(decision(ring(*both, strategy="simultaneous")), LINKS))
    assert dial.get("sequential") is None and dial.get("timeout") == "20"
    assert dial.get("action") == "https://routing.example/v1/twilio/dial?seq=4"
    assert all(t.get("url") is None for t in dial)  # no reports: no whisper


def test_a_voicemail_says_its_prompt_then_records() -> None:
    action = {"type": "voicemail", "prompt": "Leave a message.", "board": "b", "max_length_s": 120}
    say, record, hangup = ET.fromstring(twiml(decision(action, awaits=("recording.done",)), LINKS))
    assert (say.tag, say.text, hangup.tag) == ("Say", "Leave a message.", "Hangup")
    assert (record.tag, record.get("maxLength"), record.get("playBeep")) == (
        "Record",
        "120",
        "true",
    )
    assert record.get("action") == "https://routing.example/v1/twilio/record?seq=4"


def test_a_connected_call_waiting_for_the_agent_leaves_the_caller_nothing_to_do() -> None:
    (verb,) = ET.fromstring(twiml(decision(awaits=("outcome", "hangup")), LINKS))
    assert verb.tag == "Hangup"


def test_the_fallback_bins_ring_each_line_without_the_engine() -> None:
    result = run_cli("twilio-fallbacks", "examples/hospital", "--number", "+12125550100")
    assert result.returncode == 0, result.stderr
    comment, _, document = result.stdout.strip().partition("\n")
    assert comment == "<!-- +12125550100 (er) -->"
    dial, hangup = ET.fromstring(document)
    assert (dial.tag, dial.get("timeout"), dial.get("action"), hangup.tag) == (
        "Dial",
        "30",
        None,  # a Bin reports nowhere
        "Hangup",
    )
    assert [t.text for t in dial] == [
        "sip:er-nurse@mercy.example",
        "sip:er-nurse-backup@mercy.example",
    ]
    every = run_cli("twilio-fallbacks", "examples/hospital")
    assert every.stdout.count("<Response>") == 7 and "sip:front-desk@mercy.example" in every.stdout
    unknown = run_cli("twilio-fallbacks", "examples/hospital", "--number", "+19999999999")
    assert unknown.returncode == 2 and "no entry +19999999999" in unknown.stderr


def test_the_auth_token_comes_from_its_variable_or_a_file(tmp_path: Path) -> None:
    from routing_engine.service.twilio_auth import TwilioConfigError, TwilioSettings

    assert TwilioSettings.from_env({}) == TwilioSettings(None, "")
    file = tmp_path / "twilio-token"
    file.write_text("from-the-file\n", encoding="utf-8")
    settings = TwilioSettings.from_env(
        {"ROUTING_TWILIO_AUTH_TOKEN_FILE": str(file), "ROUTING_TWILIO_URL": "https://r.example/"}
    )
    assert settings == TwilioSettings("from-the-file", "https://r.example")
    assert settings.links.url("dial", seq=2) == "https://r.example/v1/twilio/dial?seq=2"
    given = {"ROUTING_TWILIO_AUTH_TOKEN": "given", "ROUTING_TWILIO_AUTH_TOKEN_FILE": str(file)}
    assert TwilioSettings.from_env(given).token == "given"
    with pytest.raises(TwilioConfigError, match="ROUTING_TWILIO_AUTH_TOKEN_FILE"):
        TwilioSettings.from_env({"ROUTING_TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "none")})
    with pytest.raises(TwilioConfigError, match="ROUTING_TWILIO_URL"):
        TwilioSettings.from_env({"ROUTING_TWILIO_URL": "routing.example"})


def test_the_shipped_fallback_bins_are_what_the_command_makes(tmp_path: Path) -> None:
    shipped = ROOT / "examples" / "telephony" / "twilio" / "fallback-bins"
    result = run_cli("twilio-fallbacks", "examples/hospital", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    made = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert made == {path.name: path.read_text() for path in shipped.iterdir()}
    assert len(made) == 7


def test_a_disposition_link_given_as_a_path_is_made_absolute_for_the_agent() -> None:
    action = ring("sip:agent@offshore.example", disposition_url="/v1/disposition/CA1?t=x")
    (dial,) = ET.fromstring(twiml(decision(action), LINKS))
    (sip,) = dial
    header = (sip.text or "").partition("?X-Disposition-Url=")[2]
    assert unquote(header) == "https://routing.example/v1/disposition/CA1?t=x"
