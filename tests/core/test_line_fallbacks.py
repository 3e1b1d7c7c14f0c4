"""A fallback per line: each decision carries the fallback of the call's flow, else of the
entry it dialed, else the deployment's; and the engine's own fallback answers pick it alike."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FIXTURES

from routing_engine import LoadedDeployment, load_deployment
from routing_engine.core.runtime import Where, fallback_decision

AT, LATER = "2026-11-23T10:00:00-05:00", "2026-11-23T10:00:05-05:00"
ER, IVR = "+12125550100", "+12125550111"
NURSES = ["er-nurse", "er-nurse-backup"]


def call(
    loaded: LoadedDeployment, to: str, *events: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    state, decision = loaded.start_call(
        {"call_id": "c1", "from": "+12125550123", "to": to, "at": AT}
    )
    decisions = [decision]
    for number, kind in enumerate(events, start=1):
        body = {"event_id": f"e{number}", "seq": decision["seq"], "type": kind, "at": LATER}
        state, decision = loaded.apply_event(state, body)
        decisions.append(decision)
    return state, decisions


def rung(plan: dict[str, Any]) -> list[str]:
    """The names a fallback plan rings."""
    return [t["name"] for a in plan["actions"] if a["type"] == "ring" for t in a["targets"]]


def test_every_decision_of_an_er_call_falls_back_to_the_nurses(hospital: LoadedDeployment) -> None:
    state, decisions = call(hospital, ER, "dial.no-answer", "dial.no-answer", "dial.no-answer")
    assert state["status"] == "ended" and len(decisions) == 4
    for decision in decisions:
        assert rung(decision["fallback"]) == NURSES, decision["node"]
        assert decision["fallback"]["actions"][0]["timeout_s"] == 30.0


def test_an_ivr_call_still_falls_back_to_the_front_desk(hospital: LoadedDeployment) -> None:
    _, decisions = call(hospital, IVR, "no-input")
    assert [rung(d["fallback"]) for d in decisions] == [["front-desk-office"]] * 2


def test_the_engines_own_fallback_answer_is_the_lines(hospital: LoadedDeployment) -> None:
    """What the service answers when it cannot decide in time: a new ER call's, from the
    number it dialed; an event's, from where the stored call stands."""
    compiled = hospital.compiled
    new = fallback_decision(compiled, "c9", 1, "deadline", Where.of_new_call(compiled, ER))
    assert rung(new["fallback"]) == NURSES and rung(new) == NURSES
    assert (new["flow"]["name"], new["node"], new["fallback_reason"]) == ("er", None, "deadline")
    stored = {"flow": "er", "node": "ring-backup", "to": ER}
    later = fallback_decision(compiled, "c9", 3, "internal-error", Where.of_state(stored))
    assert rung(later) == NURSES and (later["flow"]["name"], later["node"]) == ("er", "ring-backup")
    ivr = fallback_decision(compiled, "c8", 1, "deadline", Where.of_new_call(compiled, IVR))
    assert rung(ivr) == ["front-desk-office"]
    unknown = fallback_decision(compiled, "c7", 2, "deadline")
    assert rung(unknown) == ["front-desk-office"] and unknown["flow"]["name"] is None


@pytest.fixture(scope="module")
def lines() -> LoadedDeployment:
    return load_deployment(FIXTURES / "parity" / "fallbacks.yaml")


@pytest.mark.parametrize(
    ("dialed", "expected"),
    [
        ("+12125550100", ["nurse"]),  # its flow's own
        ("+12125550111", ["desk"]),  # an exact entry without one, under a prefix with one
        ("+12125550199", ["desk", "night-desk"]),  # its entry's own
        ("+12125559876", ["night-desk"]),  # the prefix entry's
        ("+13105550000", ["desk"]),  # no entry: the deployment's
    ],
)
def test_the_fallback_is_the_flows_else_the_lines_else_the_deployments(
    lines: LoadedDeployment, dialed: str, expected: list[str]
) -> None:
    _, (decision,) = call(lines, dialed)
    assert rung(decision["fallback"]) == expected


def test_an_entrys_own_fallback_is_whole_and_wins_for_its_number(lines: LoadedDeployment) -> None:
    _, (decision,) = call(lines, "+12125550199")
    assert decision["fallback"]["actions"] == [
        {"type": "say", "text": "Please hold for the desk."},
        {
            "type": "ring",
            "targets": [
                {"name": "desk", "uri": "sip:desk@example.com"},
                {"name": "night-desk", "uri": "sip:night-desk@example.com"},
            ],
            "timeout_s": 20.0,
            "strategy": "simultaneous",
        },
        {"type": "hangup", "reason": "fallback"},
    ]


def test_a_call_that_moves_to_a_flow_with_its_own_takes_the_flows(
    lines: LoadedDeployment,
) -> None:
    _, (first, second) = call(lines, "+12125550199", "dial.no-answer")
    assert (first["flow"]["name"], rung(first["fallback"])) == ("main", ["desk", "night-desk"])
    assert (second["flow"]["name"], rung(second["fallback"])) == ("emergency", ["nurse"])


def test_a_no_entry_fallback_names_no_flow_and_no_node(lines: LoadedDeployment) -> None:
    state, (decision,) = call(lines, "+13105550000")
    assert decision["fallback_reason"] == "no-entry"
    assert (decision["flow"]["name"], decision["node"]) == (None, None)
    assert decision["flow"]["hash"] == lines.compiled.digest
    assert rung(decision) == ["desk"] and decision["await"] == []
    assert state["status"] == "ended"
