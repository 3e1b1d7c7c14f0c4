"""The shipped Asterisk AGI script against the real engine (uvicorn on 127.0.0.1): Asterisk's
side of the AGI protocol is played as its documentation gives it (`asterisk_side.py`), and the
engine's own record of each call is checked, with the times Asterisk's clock gave."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from asterisk_side import Channel, Dialed, run_agi
from conftest import HOSPITAL, ROOT
from engine_process import OPEN, Engine, free_port, running_engine

pytestmark = pytest.mark.telephony

DIALPLAN = ROOT / "examples" / "telephony" / "asterisk" / "extensions.conf"
ER, CARDIOLOGY, MAIN = "+12125550100", "+12125550120", "+12125550111"
CALLER = "+12125550123"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with running_engine(tmp_path_factory.mktemp("asterisk")) as running:
        yield running


def channel(uniqueid: str, extension: str, **kwargs: object) -> Channel:
    return Channel(uniqueid, CALLER.removeprefix("+"), extension, OPEN, **kwargs)  # type: ignore[arg-type]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def dials(ch: Channel) -> list[str]:
    return [c for c in ch.commands if c.startswith("EXEC Dial ")]


def test_an_er_call_is_dialed_to_the_nurse_and_timed_by_asterisk(engine: Engine) -> None:
    ch = channel("1773241200.1", ER, dials=[Dialed("ANSWER", rang_s=4, talked_s=95)])
    assert run_agi(ch, engine.url, engine.key, ER) == 0
    # Dial() of the nurse alone, for 3 rings (18 s), the answered subroutine on the leg
    assert dials(ch) == [
        'EXEC Dial "PJSIP/routing-targets/sip:er-nurse@mercy.example,18,'
        'U(routing-answered^1773241200.1^1)"'
    ]
    assert ch.variables["ROUTING_STATUS"] == "done"
    record = engine.call("1773241200.1")
    assert record["flow"] == "er" and record["status"] == "ended"
    assert record["trace"][-2:] == [
        "ring ring-nurse: answered, connected",
        "er/ring-nurse: caller hung up",
    ]
    # the times are Asterisk's: the call at its EPOCH, the hangup 4 + 95 s later
    assert record["started_at"] == iso(OPEN)
    assert record["updated_at"] == iso(OPEN + timedelta(seconds=99))


def test_cardiology_rings_over_to_the_offshore_center_whose_agent_reports(
    engine: Engine,
) -> None:
    """DIALSTATUS NOANSWER after the office's 12 s, then the overflow: answered, and the
    agent's `needs-office` reported during the call (the U() subroutine told the engine of
    the answer as it happened) becomes a ticket on the cardiology board."""
    reported: list[int] = []

    def agent_answers(subroutine: list[str]) -> None:
        context, call_id, seq = subroutine
        assert context == "routing-answered"
        callee = Channel(f"{call_id}-leg", "offshore", "s", OPEN + timedelta(seconds=16))
        assert run_agi(callee, engine.url, engine.key, "answered", call_id, seq) == 0
        outcome = {
            "event_id": "agent-1",
            "seq": int(seq) + 1,
            "type": "outcome",
            "data": {"outcome": "needs-office"},
            "at": iso(OPEN + timedelta(seconds=60)),
        }
        response = httpx.post(
            f"{engine.url}/v1/calls/{call_id}/events",
            json=outcome,
            headers={"Authorization": f"Bearer {engine.key}"},
            timeout=5,
        )
        reported.append(response.status_code)

    ch = channel(
        "1773241300.2",
        CARDIOLOGY,
        dials=[Dialed("NOANSWER", rang_s=12), Dialed("ANSWER", rang_s=4, talked_s=120)],
        on_answer=agent_answers,
    )
    assert run_agi(ch, engine.url, engine.key, CARDIOLOGY) == 0
    assert dials(ch) == [
        'EXEC Dial "PJSIP/routing-targets/sip:cardiology@mercy.example,12,'
        'U(routing-answered^1773241300.2^1)"',
        'EXEC Dial "PJSIP/+443005550100@trunk,30,U(routing-answered^1773241300.2^2)'
        'b(routing-leg^s^1)"',
    ]
    # the overflow's agent gets the signed link and the outcomes (the routing-leg handler
    # adds them to the agent's INVITE as X-Routing-Disposition and X-Routing-Reports)
    link = ch.variables["_ROUTING_DISPOSITION_URL"]
    assert link.startswith(f"{engine.url}/disposition/1773241300.2?token=")
    assert ch.variables["_ROUTING_REPORTS"] == "handled needs-office"
    assert reported == [200]
    record = engine.call("1773241300.2")
    assert record["status"] == "ended"
    assert record["trace"][3:] == [
        "ring office.ring-office: no-answer -> cardiology/office.ring-overflow",
        "ring office.ring-overflow: answered, connected",
        "cardiology/office.ring-overflow: outcome needs-office -> cardiology/office.office-ticket",
        "ticket office.office-ticket -> cardiology/office.tell-callback",
        "say office.tell-callback -> cardiology/office.done",
    ]
    ticket = next(a for d in record["decisions"] for a in d["actions"] if a["type"] == "ticket")
    # the SLA runs from the agent's report, 15 minutes
    assert ticket["board"] == "cardiology"
    assert ticket["due"] == iso(OPEN + timedelta(seconds=60, minutes=15))
    # the script's own report of the answer, when Dial() returned, changed nothing
    assert ch.variables["ROUTING_STATUS"] == "done"


def test_the_agent_reports_after_the_caller_hung_up(engine: Engine) -> None:
    """The usual order: the caller hangs up (Dial() returns ANSWER), then the agent reports
    `needs-office` through the API: the script reported the hangup, the call waited in
    wrap-up, and the report raises the ticket."""
    ch = channel(
        "1773241300.9",
        CARDIOLOGY,
        dials=[Dialed("NOANSWER", rang_s=12), Dialed("ANSWER", rang_s=4, talked_s=120)],
    )
    assert run_agi(ch, engine.url, engine.key, CARDIOLOGY) == 0
    assert ch.variables["ROUTING_STATUS"] == "done"
    record = engine.call("1773241300.9")
    assert (record["status"], record["await"]) == ("connected", ["outcome"])
    assert record["trace"][-1].startswith(
        "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report"
    )
    # the hangup is timed by Asterisk: 12 + 4 + 120 s after the call
    assert record["caller_gone_at"] == iso(OPEN + timedelta(seconds=136))
    outcome = {
        "event_id": "agent-9",
        "seq": record["seq"],
        "type": "outcome",
        "data": {"outcome": "needs-office"},
        "at": iso(OPEN + timedelta(seconds=300)),
    }
    response = httpx.post(
        f"{engine.url}/v1/calls/1773241300.9/events",
        json=outcome,
        headers={"Authorization": f"Bearer {engine.key}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert [a["type"] for a in response.json()["actions"]] == ["ticket", "hangup"]
    assert engine.call("1773241300.9")["status"] == "ended"


def test_a_bridged_call_that_ends_the_callers_channel_is_reported_as_its_hangup(
    engine: Engine,
) -> None:
    """Dial() without its `g` option returns -1 when the bridged call ends, the caller's
    channel hung up, after the U() subroutine told the engine of the answer. The script's
    hangup report at the ring's seq is then refused (the engine moved on): it is sent again at
    the call's own seq, so the call waits in wrap-up instead of staying connected for good."""

    def agent_answers(subroutine: list[str]) -> None:
        _context, call_id, seq = subroutine
        callee = Channel(f"{call_id}-leg", "offshore", "s", OPEN + timedelta(seconds=16))
        assert run_agi(callee, engine.url, engine.key, "answered", call_id, seq) == 0

    ch = channel(
        "1773241300.8",
        CARDIOLOGY,
        dials=[
            Dialed("NOANSWER", rang_s=12),
            Dialed("ANSWER", rang_s=4, talked_s=120, ends_call=True),
        ],
        on_answer=agent_answers,
    )
    assert run_agi(ch, engine.url, engine.key, CARDIOLOGY) == 0
    record = engine.call("1773241300.8")
    assert (record["status"], record["await"]) == ("connected", ["outcome"])
    assert record["trace"][-1].startswith(
        "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report"
    )


def test_the_ivr_menu_reads_the_digits_and_rings_the_office(engine: Engine) -> None:
    ch = channel(
        "1773241400.3", MAIN, digits=["2"], dials=[Dialed("ANSWER", rang_s=6, talked_s=30)]
    )
    assert run_agi(ch, engine.url, engine.key, MAIN) == 0
    reads = [c for c in ch.commands if c.startswith("GET DATA ")]
    assert len(reads) == 1 and re.fullmatch(r"GET DATA routing/[0-9a-f]{12} 5000 1", reads[0])
    assert dials(ch)[0].startswith('EXEC Dial "PJSIP/routing-targets/sip:radiology@')
    record = engine.call("1773241400.3")
    assert "menu main-menu: digit 2 -> radiology/office" in record["trace"]
    assert record["flow"] == "radiology"


def test_a_menu_without_input_is_reported_as_no_input(engine: Engine) -> None:
    ch = channel(
        "1773241450.4", MAIN, digits=["", "0"], dials=[Dialed("ANSWER", rang_s=2, talked_s=5)]
    )
    run_agi(ch, engine.url, engine.key, MAIN)
    record = engine.call("1773241450.4")
    assert any("no input, replay" in line for line in record["trace"])
    assert "menu main-menu: digit 0 -> front-desk" in " ".join(record["trace"])


def test_with_the_engine_down_the_dialplan_takes_its_fallback_branch(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ch = channel("1773241500.5", ER)
    status = run_agi(ch, closed, "any-key-at-all-0000", ER)
    # exit status 1: Asterisk sets AGISTATUS to FAILURE; ROUTING_STATUS says why
    assert status == 1
    assert ch.variables["ROUTING_STATUS"] == "unreachable"
    assert not dials(ch)
    lines = [line.split(";")[0].strip() for line in DIALPLAN.read_text().splitlines()]
    agi = lines.index("same => n,AGI(routing_agi.py,${EXTEN})")
    assert lines[agi + 1] == (
        'same => n,GotoIf($["${AGISTATUS}" != "SUCCESS" | "${ROUTING_STATUS}" != "done"]'
        "?fallback,${EXTEN},1)"
    )
    # the ER number's fallback is the ER flow's: both nurses at once, 30 s
    er = lines.index(f"exten => {ER},1,Dial(${{ER_NURSES}},30)")
    assert [line for line in lines[:er] if line.startswith("[")][-1] == "[fallback]"
    flow = yaml.safe_load((HOSPITAL / "flows" / "er.yaml").read_text())
    targets = yaml.safe_load((HOSPITAL / "deployment.yaml").read_text())["targets"]
    nurses = "&".join(
        f"PJSIP/routing-targets/{targets[name]['uri']}" for name in flow["fallback"]["ring"]
    )
    assert f"ER_NURSES={nurses}" in lines


def test_a_fallback_decision_is_dialed_and_marked_on_the_channel(engine: Engine) -> None:
    ch = channel("1773241600.6", "+12125550999", dials=[Dialed("ANSWER", rang_s=3, talked_s=9)])
    assert run_agi(ch, engine.url, engine.key, "+12125550999") == 0
    assert ch.variables["ROUTING_FALLBACK_REASON"] == "no-entry"
    assert dials(ch) == ['EXEC Dial "PJSIP/routing-targets/sip:front-desk@mercy.example,30"']
    assert ch.variables["ROUTING_STATUS"] == "done"


def test_after_hours_the_message_is_recorded_and_reported(engine: Engine) -> None:
    evening = OPEN + timedelta(hours=10)  # 21:00 in New York: the office is closed
    ch = Channel("1773241700.7", "12125550123", CARDIOLOGY, evening)
    assert run_agi(ch, engine.url, engine.key, CARDIOLOGY) == 0
    record_file = [c for c in ch.commands if c.startswith("RECORD FILE ")]
    assert record_file == [
        "RECORD FILE /var/spool/asterisk/routing/1773241700.7 wav # 120000 0 BEEP s=5"
    ]
    record = engine.call("1773241700.7")
    assert record["status"] == "ended"
    ticket = next(a for d in record["decisions"] for a in d["actions"] if a["type"] == "ticket")
    assert ticket["recording"] == "/var/spool/asterisk/routing/1773241700.7.wav"
    # recorded 4 s of prompt and 30 s of message after the call came in, on Asterisk's clock
    assert record["updated_at"] == iso(evening + timedelta(seconds=34))


def test_a_caller_who_hangs_up_at_the_menu_is_reported(engine: Engine) -> None:
    ch = channel("1773241800.8", MAIN, digits=["HANGUP"])
    assert run_agi(ch, engine.url, engine.key, MAIN) == 0
    record = engine.call("1773241800.8")
    assert record["status"] == "ended" and record["end_reason"] == "caller hung up"


def test_an_engine_gone_mid_call_leaves_the_call_on_its_latest_fallback(tmp_path: Path) -> None:
    with running_engine(tmp_path) as gone:
        ch = channel(
            "1773241900.9",
            CARDIOLOGY,
            dials=[Dialed("NOANSWER", rang_s=12), Dialed("ANSWER", rang_s=2, talked_s=40)],
            on_dial=gone.stop,  # stopped as the office rings
        )
        assert run_agi(ch, gone.url, gone.key, CARDIOLOGY) == 0
    # the office did not answer, the engine could not be told: the line's fallback, the desk
    assert dials(ch)[1] == 'EXEC Dial "PJSIP/routing-targets/sip:front-desk@mercy.example,30"'
    assert ch.variables["ROUTING_FALLBACK_REASON"] == "unreachable"
    assert ch.variables["ROUTING_STATUS"] == "done"
