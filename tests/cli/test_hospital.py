"""The hospital example end to end, through `cli.py simulate` as a user runs it.

Every call below is one subprocess; they are all started together (module fixture `runs`) so
the file stays quick, and each test reads the results of its own calls.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import run_cli, write_files

AT = "2026-11-23T10:00:00-05:00"  # a Monday morning in New York
DUE = "2026-11-23T15:15:00Z"  # 15 minutes later, in UTC
CALLER = "+12125550123"  # a Manhattan number: the caller is in New York State
CHICAGO_CALLER = "+13125550123"  # Illinois
# Billing rings by the caller's state (New York billing team, else central billing); every
# other office rings its own line.
CALLERS = {"direct-billing": CHICAGO_CALLER, "desk-3": CHICAGO_CALLER}
ER, MAIN, FRONT_DESK = "+12125550100", "+12125550111", "+12125550199"
DIRECT = {
    "cardiology": "+12125550120",
    "radiology": "+12125550130",
    "billing": "+12125550140",
    "pharmacy": "+12125550150",
}
OPTIONS = {"1": "cardiology", "2": "radiology", "3": "billing", "4": "pharmacy", "0": "front-desk"}
AWAIT_RING = ["dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup"]

# How a call leaves the offshore center: the events after its ring, by ending.
ENDINGS = {
    "handled": ["dial.answered", "outcome:handled"],
    "needs-office": ["dial.answered", "outcome:needs-office"],
    "voicemail": ["dial.no-answer", "recording.done:rec-123"],
    "voicemail-busy": ["dial.busy", "recording.done:rec-123"],
}

# (name, dialed, events before the office rings, office, how the office rolls over, ending)
IVR_CALLS = [
    ("main-1", MAIN, ["digits:1"], "cardiology", "no-answer", "handled"),
    ("main-2", MAIN, ["digits:2"], "radiology", "busy", "needs-office"),
    ("main-3", MAIN, ["digits:3"], "billing", "failed", "voicemail"),
    ("main-4", MAIN, ["digits:4"], "pharmacy", "no-answer", "needs-office"),
    ("main-0", MAIN, ["digits:0"], "front-desk", "busy", "handled"),
    ("desk-1", FRONT_DESK, ["digits:1"], "cardiology", "failed", "needs-office"),
    ("desk-2", FRONT_DESK, ["digits:2"], "radiology", "no-answer", "voicemail"),
    ("desk-3", FRONT_DESK, ["digits:3"], "billing", "busy", "handled"),
    ("desk-4", FRONT_DESK, ["digits:4"], "pharmacy", "failed", "voicemail-busy"),
    ("desk-0", FRONT_DESK, ["digits:0"], "front-desk", "no-answer", "needs-office"),
]  # fmt: skip
DIRECT_CALLS = [
    ("direct-cardiology", DIRECT["cardiology"], [], "cardiology", "busy", "voicemail"),
    ("direct-radiology", DIRECT["radiology"], [], "radiology", "failed", "handled"),
    ("direct-billing", DIRECT["billing"], [], "billing", "no-answer", "needs-office"),
    ("direct-pharmacy", DIRECT["pharmacy"], [], "pharmacy", "busy", "handled"),
]
# three failures at the menu, then the front-desk office
RETRY_CALLS = [
    ("retry-no-input", MAIN, ["no-input"] * 3, "front-desk", "no-answer", "voicemail"),
    ("retry-wrong-digit", FRONT_DESK, ["digits:9", "digits:7", "digits:5"], "front-desk",
     "failed", "needs-office"),
]  # fmt: skip
OFFICE_CALLS = IVR_CALLS + DIRECT_CALLS + RETRY_CALLS
ROW = ("name", "dialed", "before", "office", "rollover", "ending")

# the nurse does not answer, the backup is busy, both at once fail
ER_EVENTS = ["dial.no-answer", "dial.busy", "dial.failed"]

BROKEN = {
    "deployment.yaml": """
        deployment: broken
        fallback:
          ring: desk
        entries:
          "+12125550100": main
        targets:
          desk:
            uri: sip:desk@example.com
    """,
    "main.yaml": """
        flow: main
        start: ring-desk
        nodes:
          ring-desk:
            ring: desk
            on:
              no-answer: voicemial
    """,
}


def use_of(office: str, caller: str) -> str:
    """The node of the office's flow that uses the office-ringover module for this caller;
    the module's nodes are copied under it (`office.ring-office`)."""
    if office == "billing":
        return "new-york" if caller == CALLER else "central"
    return "office"


def office_ring(office: str, caller: str) -> tuple[str, str]:
    """The node and target that ring the office first, for this caller."""
    if office == "billing":
        target = "billing-ny" if caller == CALLER else "billing-central"
        return f"{use_of(office, caller)}.ring-office", target
    return "office.ring-office", f"{office}-office"


def simulate(
    to: str, events: list[str], *extra: str, at: str = AT, caller: str = CALLER
) -> tuple[str, ...]:
    args = ["simulate", "examples/hospital", "--from", caller, "--to", to, "--at", at]
    for event in events:
        args += ["--event", event]
    return (*args, *extra)


def commands(broken: str) -> dict[str, tuple[str, ...]]:
    """Every command line this file runs, by name."""
    found = {
        name: simulate(
            to,
            [*before, f"dial.{rollover}", *ENDINGS[ending]],
            "--format",
            "json",
            caller=CALLERS.get(name, CALLER),
        )
        for name, to, before, _, rollover, ending in OFFICE_CALLS
    }
    found |= {
        "er": simulate(ER, ER_EVENTS, "--format", "json"),
        "text": simulate(MAIN, ["digits:3", "dial.no-answer"]),
        "bad-at": simulate(MAIN, ["digits:3"], at="Monday at ten"),
        "refused": simulate(DIRECT["billing"], ["digits:3"], "--format", "json"),
        "broken": ("simulate", broken, "--from", CALLER, "--to", ER, "--at", AT),
    }
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    broken = write_files(tmp_path_factory.mktemp("broken"), BROKEN)
    todo = commands(str(broken))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        started = {name: pool.submit(run_cli, *args) for name, args in todo.items()}
        return {name: future.result() for name, future in started.items()}


def decisions_of(runs: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result = runs[name]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    output = json.loads(result.stdout)
    assert set(output) == {"decisions", "state"}
    decisions = output["decisions"]
    assert [d["seq"] for d in decisions] == list(range(1, len(decisions) + 1))
    assert output["state"]["seq"] == decisions[-1]["seq"]
    return decisions, output["state"]


def types(decision: dict[str, Any]) -> list[str]:
    return [action["type"] for action in decision["actions"]]


def rung(decision: dict[str, Any]) -> list[str]:
    return [t["name"] for a in decision["actions"] if a["type"] == "ring" for t in a["targets"]]


def ring_of(decision: dict[str, Any]) -> dict[str, Any]:
    (ring,) = [a for a in decision["actions"] if a["type"] == "ring"]
    return ring


def part(action: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: action.get(key, "<missing>") for key in keys}


def where(decision: dict[str, Any]) -> str:
    return f"{decision['flow']['name']}/{decision['node']}"


# --- the emergency line --------------------------------------------------------------------------


def test_er_rings_nurse_then_backup_then_both_then_advises(runs) -> None:
    decisions, state = decisions_of(runs, "er")
    assert [where(d) for d in decisions] == [
        "er/ring-nurse",
        "er/ring-backup",
        "er/ring-both",
        "er/goodbye",
    ]
    assert rung(decisions[0]) == ["er-nurse"]
    assert rung(decisions[1]) == ["er-nurse-backup"]
    assert rung(decisions[2]) == ["er-nurse", "er-nurse-backup"]
    assert [ring_of(d)["timeout_s"] for d in decisions[:3]] == [18.0, 18.0, 30.0]
    assert [ring_of(d)["strategy"] for d in decisions[:3]] == [
        "sequential",
        "sequential",
        "simultaneous",
    ]
    assert all(d["await"] == AWAIT_RING for d in decisions[:3])
    assert state["trace"] == [
        f"entry {ER} -> er/ring-nurse",
        "ring ring-nurse: no-answer -> er/ring-backup",
        "ring ring-backup: busy -> er/ring-both",  # busy and failed roll over like no-answer
        "ring ring-both: failed -> er/emergency-advice",
        "say emergency-advice -> er/goodbye",
    ]
    say, hangup = decisions[-1]["actions"]
    assert say["type"] == "say" and "911" in say["text"]
    assert hangup == {"type": "hangup", "reason": "no nurse answered"}
    assert decisions[-1]["await"] == []
    assert (state["status"], state["entry_flow"], state["flow"]) == ("ended", "er", "er")


def test_an_er_call_never_reaches_the_ivr_or_the_offshore_center(runs) -> None:
    decisions, state = decisions_of(runs, "er")
    for decision in decisions:
        assert decision["flow"]["name"] == "er"
        assert "offshore-center" not in rung(decision)
        assert "menu" not in types(decision)
        assert "ticket" not in types(decision) and "voicemail" not in types(decision)
        assert decision["fallback_reason"] is None
    assert not any(line.startswith("entry") and "ivr" in line for line in state["trace"])
    assert all("offshore" not in line and "/ivr" not in line for line in state["trace"])


# --- the menu, the offices and the offshore center ---------------------------------------------


def check_office_call(
    decisions: list[dict[str, Any]],
    state: dict[str, Any],
    office: str,
    rollover: str,
    ending: str,
) -> None:
    """From the decision that rings the office on: 2 rings, offshore, then the ending."""
    caller = state["from"]
    node, target = office_ring(office, caller)
    inside = f"{office}/{use_of(office, caller)}"
    ring_office, ring_offshore, *rest = decisions
    assert where(ring_office) == f"{office}/{node}"
    assert part(ring_of(ring_office), ("type", "timeout_s", "strategy")) | {
        "targets": rung(ring_office)
    } == {
        "type": "ring",
        "targets": [target],
        "timeout_s": 12.0,  # 2 rings at the 6 s cadence
        "strategy": "sequential",
    }
    assert ring_office["await"] == AWAIT_RING
    assert where(ring_offshore) == f"{inside}.ring-overflow"
    assert rung(ring_offshore) == ["offshore-center"]
    assert ring_of(ring_offshore)["timeout_s"] == 30.0
    assert ring_offshore["trace"][-1] == f"ring {node}: {rollover} -> {inside}.ring-overflow"
    last = rest[-1]
    assert last["await"] == [] and state["status"] == "ended"
    assert last["actions"][-1]["type"] == "hangup"
    assert all(d["flow"]["name"] == office for d in decisions)
    assert all(d["fallback_reason"] is None for d in decisions)
    if ending == "handled":
        connected, _ = rest
        assert where(connected) == f"{inside}.ring-overflow"
        assert connected["actions"] == [] and connected["await"] == ["outcome", "hangup"]
        assert types(last) == ["hangup"]
        assert last["trace"][-1] == f"{inside}.ring-overflow: outcome handled -> {inside}.done"
        assert "ticket" not in {t for d in decisions for t in types(d)}
    elif ending == "needs-office":
        connected, _ = rest
        assert connected["await"] == ["outcome", "hangup"]
        ticket, say, _ = last["actions"]
        assert (say["type"], ticket["type"]) == ("say", "ticket")
        assert ticket["board"] == office
        assert ticket["sla_s"] == 900.0
        assert ticket["due"] == DUE
        assert ticket["managers"] == [f"{office}-manager"]
        assert ticket["node"] == f"{inside}.office-ticket"
        assert ticket["caller"] == caller
        assert "must call back" in ticket["summary"]
        assert "will call you back" in say["text"]
    else:
        voicemail, _ = rest
        assert where(voicemail) == f"{inside}.take-message"
        assert types(voicemail) == ["voicemail"]
        assert voicemail["actions"][0]["board"] == office
        assert voicemail["await"] == ["recording.done", "hangup"]
        ticket, hangup = last["actions"]
        assert ticket["type"] == "ticket"
        assert (ticket["board"], ticket["recording"]) == (office, "rec-123")
        assert (ticket["sla_s"], ticket["due"]) == (900.0, DUE)
        assert ticket["managers"] == [f"{office}-manager"]
        assert hangup == {"type": "hangup", "reason": "voicemail recorded"}
        assert state["end_reason"] == "voicemail recorded"


@pytest.mark.parametrize(ROW, IVR_CALLS, ids=[row[0] for row in IVR_CALLS])
def test_the_menu_sends_each_option_to_its_office(
    runs, name, dialed, before, office, rollover, ending
) -> None:
    decisions, state = decisions_of(runs, name)
    (menu_decision, *office_decisions) = decisions
    assert where(menu_decision) == "ivr/main-menu"
    (menu,) = menu_decision["actions"]
    assert (menu["type"], menu["attempt"], menu["timeout_s"]) == ("menu", 1, 5.0)
    assert menu["options"] == ["1", "2", "3", "4", "0"]
    assert menu_decision["await"] == ["digits", "no-input", "hangup"]
    assert OPTIONS[before[0].removeprefix("digits:")] == office
    digit = before[0].removeprefix("digits:")
    new_lines = office_decisions[0]["trace"][len(menu_decision["trace"]) :]
    assert new_lines[0].startswith(f"menu main-menu: digit {digit} -> {office}/"), new_lines
    assert state["entry_flow"] == "ivr"
    check_office_call(office_decisions, state, office, rollover, ending)


@pytest.mark.parametrize(ROW, DIRECT_CALLS, ids=[row[0] for row in DIRECT_CALLS])
def test_direct_office_numbers_enter_the_office_pattern(
    runs, name, dialed, before, office, rollover, ending
) -> None:
    decisions, state = decisions_of(runs, name)
    assert decisions[0]["trace"][0].startswith(f"entry {dialed} -> {office}/")
    assert state["entry_flow"] == office
    assert not any("menu" in types(d) for d in decisions)
    check_office_call(decisions, state, office, rollover, ending)


@pytest.mark.parametrize(ROW, RETRY_CALLS, ids=[row[0] for row in RETRY_CALLS])
def test_menu_retries_twice_then_the_front_desk_office(
    runs, name, dialed, before, office, rollover, ending
) -> None:
    decisions, state = decisions_of(runs, name)
    menus, office_decisions = decisions[:3], decisions[3:]
    assert [where(d) for d in menus] == ["ivr/main-menu"] * 3
    assert [d["actions"][0]["attempt"] for d in menus] == [1, 2, 3]
    assert all(types(d) == ["menu"] for d in menus)
    problems = [
        "no input" if event == "no-input" else f"no option '{event.removeprefix('digits:')}'"
        for event in before
    ]
    assert menus[1]["trace"][-1] == f"menu main-menu: {problems[0]}, replay (2 of 3)"
    assert menus[2]["trace"][-1] == f"menu main-menu: {problems[1]}, replay (3 of 3)"
    # the third failure: no replay, the front-desk office rings
    assert where(office_decisions[0]) == "front-desk/office.ring-office"
    new_lines = office_decisions[0]["trace"][len(menus[2]["trace"]) :]
    assert new_lines[0].startswith(
        f"menu main-menu: {problems[2]}, retries used up -> front-desk/"
    ), new_lines
    check_office_call(office_decisions, state, office, rollover, ending)


def test_every_option_and_number_is_covered() -> None:
    """The table above reaches every office from both IVR numbers and every direct number."""
    via_ivr = {(row[1], row[2][0]) for row in IVR_CALLS}
    assert via_ivr == {(n, f"digits:{d}") for n in (MAIN, FRONT_DESK) for d in OPTIONS}
    assert {row[1] for row in DIRECT_CALLS} == set(DIRECT.values())
    offices = {row[3] for row in OFFICE_CALLS}
    for ending in ("handled", "needs-office"):
        assert {row[3] for row in OFFICE_CALLS if row[5] == ending} == offices
    assert {row[3] for row in OFFICE_CALLS if row[5].startswith("voicemail")} == offices
    assert {row[4] for row in OFFICE_CALLS} == {"no-answer", "busy", "failed"}


# --- the text output and usage errors ----------------------------------------------------------


def test_text_output_is_readable(runs) -> None:
    result = runs["text"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] ivr/main-menu" in out
    assert "menu (try 1)" in out
    assert "  > digits:3" in out
    assert "[2] billing/new-york.ring-office" in out
    assert "ring billing-ny <sip:billing-ny@mercy.example> for 12s" in out
    assert "  > dial.no-answer" in out
    assert "[3] billing/new-york.ring-overflow" in out
    assert "ring offshore-center <+443005550100> for 30s" in out
    assert "await: dial.answered, dial.no-answer, dial.busy, dial.failed, hangup" in out
    assert not out.lstrip().startswith("{")
    assert result.stderr == ""


def test_a_bad_at_is_a_usage_error(runs) -> None:
    result = runs["bad-at"]
    assert result.returncode == 2
    assert "not an ISO time" in result.stderr
    assert "--at" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_event_that_does_not_fit_is_refused(runs) -> None:
    result = runs["refused"]
    assert result.returncode == 1
    assert "event refused (unexpected-event)" in result.stderr
    assert "'digits' is not awaited now" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_deployment_with_errors_cannot_be_simulated(runs) -> None:
    result = runs["broken"]
    assert result.returncode == 1
    assert "main.yaml:7:" in result.stderr
    assert "S108" in result.stderr and "voicemial" in result.stderr
    assert "cannot simulate" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
