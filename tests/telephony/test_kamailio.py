"""The hospital over real SIP: SIPp callers dial through Kamailio running the shipped
configuration (examples/telephony/kamailio/kamailio.cfg, only its addresses changed), which asks
the engine (`POST /v1/route`) and rings SIPp phones on their own ports. Each test checks where
the call landed in the SIP trace (which phone got the INVITE, with which headers) and that the
engine's call record shows the same path.

The engine's clock is set with `serve --now` (office hours: a Monday morning; after hours: a
Sunday evening, both in New York), never today's date."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sipstack import (
    PHONES,
    Engine,
    Proxy,
    Sipp,
    call,
    engine,
    free_port,
    hospital_for_sip,
    kamailio,
    phone_uri,
    phones,
    wait_until,
)

pytestmark = pytest.mark.telephony

MONDAY_MORNING = "2026-11-23T10:15:00-05:00"  # every office open
SUNDAY_EVENING = "2026-11-22T20:00:00-05:00"  # every office closed
ER = "+12125550100"
CARDIOLOGY = "+12125550120"
BILLING = "+12125550140"
NEW_YORKER = "+12125550123"
CALIFORNIAN = "+14155550123"


@dataclass
class Site:
    """The hospital's engine and its proxy, and the ports its phones answer on."""

    work: Path
    ports: dict[str, int]
    engine: Engine | None
    proxy: Proxy


KEY = "telephony-key-for-the-sip-tests"


def sites(work: Path, now: str | None, key: str = "") -> Iterator[Site]:
    """The hospital with its targets on SIPp phones' ports; its engine at `now` (None: no
    engine, nothing listens on its port) and Kamailio asking it with `key`."""
    ports = {name: free_port() for name in PHONES}
    deployment = hospital_for_sip(work, ports)
    front_desk = phone_uri("front-desk-office", ports)
    if now is None:
        with kamailio(work, f"http://127.0.0.1:{free_port()}", key, front_desk) as proxy:
            yield Site(work, ports, None, proxy)
        return
    with (
        engine(deployment, work, now, key) as running,
        kamailio(work, running.url, key, front_desk) as proxy,
    ):
        yield Site(work, ports, running, proxy)


@pytest.fixture(scope="module")
def open_hours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Office hours, the engine with API keys (Kamailio sends its `telephony` key)."""
    yield from sites(tmp_path_factory.mktemp("open"), MONDAY_MORNING, KEY)


@pytest.fixture(scope="module")
def after_hours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """After hours, the engine without keys (Kamailio sends none)."""
    yield from sites(tmp_path_factory.mktemp("closed"), SUNDAY_EVENING)


@pytest.fixture(scope="module")
def no_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from sites(tmp_path_factory.mktemp("down"), None, KEY)


def header(message: str, name: str) -> str | None:
    for line in message.splitlines():
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def sip_path(rung: dict[str, Sipp]) -> list[tuple[int, str]]:
    """(X-Call-Seq, X-Route-Target) of every INVITE the phones got, in seq order: the path the
    call took, as the SIP trace shows it."""
    legs = [
        (int(header(invite, "X-Call-Seq") or 0), str(header(invite, "X-Route-Target")))
        for phone in rung.values()
        for invite in phone.invites()
    ]
    return sorted(legs)


def engine_path(record: dict[str, Any]) -> list[tuple[int, str]]:
    """(seq, target) of every target the engine's decisions for a call rang (or, for a
    voicemail, the voicemail server): the path in the engine's call record."""
    legs = []
    for decision in record["decisions"]:
        for action in decision["actions"]:
            if action["type"] == "ring":
                legs += [(decision["seq"], target["name"]) for target in action["targets"]]
            elif action["type"] == "voicemail":
                legs.append((decision["seq"], "voicemail"))
    return legs


def place(
    site: Site, call_id: str, caller: str, dialed: str, plays: dict[str, str]
) -> dict[str, Sipp]:
    """One call from `caller` to `dialed`, the phones in `plays` answering as told; asserts
    the caller was answered and hung up, and every phone played its part."""
    with phones(site.work, site.ports, plays) as rung:
        dialing = call(site.work, site.proxy, call_id, caller, dialed)
        assert dialing.finish() == 0, dialing.output.read_text() + site.proxy.log.read_text()
        for phone in rung.values():
            assert phone.finish() == 0, phone.output.read_text()
    return rung


def test_an_er_call_lands_on_the_nurse(open_hours: Site) -> None:
    site = open_hours
    rung = place(site, "sip-er-1", NEW_YORKER, ER, {"er-nurse": "answer"})
    assert sip_path(rung) == [(1, "er-nurse")]
    assert site.engine is not None
    record = site.engine.call("sip-er-1")
    assert engine_path(record) == sip_path(rung)
    assert record["trace"] == [
        "entry +12125550100 -> er/ring-nurse",
        "ring ring-nurse: answered, connected",  # reported when the nurse answered
        "er/ring-nurse: caller hung up",  # reported on the caller's BYE
    ]
    assert (record["status"], record["end_reason"]) == ("ended", "caller hung up")


def test_a_cardiology_call_rings_the_office_12_s_then_lands_on_the_offshore_center(
    open_hours: Site,
) -> None:
    site = open_hours
    plays = {"cardiology-office": "no-answer", "offshore-center": "answer"}
    rung = place(site, "sip-cardiology-1", NEW_YORKER, CARDIOLOGY, plays)
    assert sip_path(rung) == [(1, "cardiology-office"), (2, "offshore-center")]
    office = rung["cardiology-office"].log()
    invited, cancelled = (
        message_time(office, r"INVITE sip:"),
        message_time(office, r"CANCEL sip:"),
    )
    assert 11.5 <= cancelled - invited <= 13.5  # 2 rings of 6 s, then the proxy gives up
    offshore = rung["offshore-center"].invites()[0]
    assert header(offshore, "X-Routing-Call") == "sip-cardiology-1"
    assert site.engine is not None
    record = site.engine.call("sip-cardiology-1")
    assert engine_path(record) == sip_path(rung)
    assert record["trace"][2:-1] == [
        "hours office.check-hours: office-hours open -> cardiology/office.ring-office",
        "ring office.ring-office: no-answer -> cardiology/office.ring-overflow",  # 408 after 12 s
        "ring office.ring-overflow: answered, connected",  # the agent may report an outcome
    ]
    assert record["decisions"][2]["await"] == ["outcome", "hangup"]  # after the answer
    # the caller's BYE: the caller is gone, the agent's report is still awaited (wrap-up)
    assert record["trace"][-1].startswith(
        "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report"
    )
    assert (record["status"], record["await"]) == ("connected", ["outcome"])
    # then the agent reports needs-office on the link the INVITE carried: the ticket is raised
    link = header(offshore, "X-Disposition-URL") or ""
    path, _, query = link.partition("?")
    assert path == "/disposition/sip-cardiology-1" and query.startswith("token=")
    form = {"token": query.removeprefix("token="), "outcome": "needs-office"}
    reported = httpx.post(f"{site.engine.url}{path}", data=form, timeout=5)
    assert reported.status_code == 200, reported.text
    assert "A ticket is on the cardiology board" in reported.text
    record = site.engine.call("sip-cardiology-1")
    (ticket,) = [a for d in record["decisions"] for a in d["actions"] if a["type"] == "ticket"]
    assert (ticket["board"], ticket["caller"]) == ("cardiology", NEW_YORKER)
    assert (record["status"], record["end_reason"]) == ("ended", "caller had hung up")


def message_time(log: str, first_line: str) -> float:
    """When SIPp logged the first message starting with `first_line` (its own timestamp)."""
    import re
    from datetime import datetime

    for block in re.split(r"\n(?=-{5,} )", log):
        head, _, rest = block.partition("\n")
        if re.search(r"^" + first_line, rest.split("\n\n", 1)[-1].lstrip("\n"), re.M):
            stamp = head.strip("- ").strip()
            return datetime.fromisoformat(stamp).timestamp()
    raise AssertionError(f"no '{first_line}' in the log")


@pytest.mark.parametrize(
    ("caller", "office"), [(NEW_YORKER, "billing-ny"), (CALIFORNIAN, "billing-central")]
)
def test_billing_callers_reach_their_states_billing_office(
    open_hours: Site, caller: str, office: str
) -> None:
    site = open_hours
    call_id = f"sip-billing-{office}"
    rung = place(site, call_id, caller, BILLING, {office: "answer"})
    assert sip_path(rung) == [(1, office)]
    assert site.engine is not None
    record = site.engine.call(call_id)
    assert engine_path(record) == sip_path(rung)
    assert (
        f"billing/{'new-york' if office == 'billing-ny' else 'central'}.ring-office: caller hung up"
        in record["trace"]
    )


def test_after_hours_a_call_reaches_the_voicemail_server(after_hours: Site) -> None:
    site = after_hours
    rung = place(site, "sip-closed-1", NEW_YORKER, CARDIOLOGY, {"voicemail": "answer"})
    assert sip_path(rung) == [(1, "voicemail")]
    [invite] = rung["voicemail"].invites()
    assert header(invite, "X-Voicemail-Board") == "cardiology"
    assert header(invite, "X-Voicemail-Max-Length") == "120"
    assert site.engine is not None
    record = site.engine.call("sip-closed-1")
    assert engine_path(record) == sip_path(rung)
    assert record["decisions"][0]["await"] == ["recording.done", "hangup"]
    # the voicemail server answering is no `dial.answered` (a voicemail awaits none); the
    # caller's BYE ends the call
    assert (record["status"], record["end_reason"]) == ("ended", "caller hung up")


def test_with_the_engine_stopped_the_call_lands_on_the_fallback_target(no_engine: Site) -> None:
    rung = place(no_engine, "sip-down-1", NEW_YORKER, ER, {"front-desk-office": "answer"})
    [invite] = rung["front-desk-office"].invites()
    assert header(invite, "X-Route-Fallback") == "unreachable"
    assert header(invite, "X-Call-Seq") is None  # no decision: the configured fallback


def test_an_engine_that_stops_answering_mid_call_gets_the_decisions_own_fallback(
    open_hours: Site,
) -> None:
    """The ER's first leg is rung from the engine's answer; the engine then hangs (SIGSTOP)
    before the nurse's busy comes back: Kamailio waits its 1 s, then rings the fallback that
    answer carried (the ER line's: both nurses), not the configured front desk."""
    site = open_hours
    assert site.engine is not None
    running = site.engine
    plays = {"er-nurse": "busy-later", "er-nurse-backup": "answer"}
    with phones(site.work, site.ports, plays) as rung:
        dialing = call(site.work, site.proxy, "sip-er-hung", NEW_YORKER, ER)
        try:
            # the nurse rings: the engine's first answer reached Kamailio; she is busy 1.5 s on
            wait_until(lambda: rung["er-nurse"].invites() != [], "the nurse's INVITE", 10)
            os.kill(running.process.pid, signal.SIGSTOP)
            started = time.monotonic()
            assert dialing.finish() == 0, dialing.output.read_text()
            assert time.monotonic() - started >= 1.0  # the proxy's wait for the engine
        finally:
            os.kill(running.process.pid, signal.SIGCONT)
        for phone in rung.values():
            assert phone.finish() == 0, phone.output.read_text()
    assert (
        [header(invite, "X-Route-Fallback") for invite in rung["er-nurse"].invites()]
        == [
            None,  # the engine's answer: the nurse
            "unreachable",  # the fallback rings both nurses at once
        ][: len(rung["er-nurse"].invites())]
    )
    [backup] = rung["er-nurse-backup"].invites()
    assert header(backup, "X-Route-Fallback") == "unreachable"
    assert header(backup, "X-Routing-Call") == "sip-er-hung"


def test_a_request_user_that_is_no_number_rings_the_fallback_without_asking_the_engine(
    open_hours: Site,
) -> None:
    """What would not be a number in the engine's request (here `reception`; a quote could
    add JSON fields of its own) never reaches it: the configured fallback rings."""
    site = open_hours
    rung = place(site, "sip-odd-1", NEW_YORKER, "reception", {"front-desk-office": "answer"})
    [invite] = rung["front-desk-office"].invites()
    assert header(invite, "X-Route-Fallback") == "unreachable"
    assert site.engine is not None
    assert site.engine.get("/v1/calls/sip-odd-1").status_code == 404
