"""Rings that pick targets at call time by skills and region (`prefer`), and queue regions."""

from __future__ import annotations

import pytest

from routing_engine import load_deployment

DEPLOYMENT = """
    deployment: pick
    fallback: {ring: central}
    entries:
      "+12125550100": main
      "+12125550101": queued
    targets:
      central: {uri: "sip:central@example.com", region: US-IL, skills: [billing]}
      ny-1: {uri: "sip:ny1@example.com", region: US-NY, skills: [billing, spanish]}
      ny-2: {uri: "sip:ny2@example.com", region: US-NY, skills: [billing]}
      ca-1: {uri: "sip:ca1@example.com", region: US-CA, skills: [billing]}
      nurse: {uri: "sip:nurse@example.com", region: US-NY, skills: [nursing]}
      agents: {kind: queue, uri: "sip:agents@example.com", region: US-NY, skills: [billing]}
"""
FLOWS = """
    flow: main
    start: ring-billing
    nodes:
      ring-billing:
        ring: central
        prefer: {skills: [billing], region: caller}
        timeout: 10s
        on: {no-answer: bye}
      bye: {hangup: }
    ---
    flow: queued
    start: wait
    nodes:
      wait:
        queue: agents
        skills: [billing]
        region: caller
        max_wait: 2m
        on: {timeout: bye}
      bye: {hangup: }
"""


@pytest.fixture
def pick(deployment_dir):
    return load_deployment(deployment_dir({"deployment.yaml": DEPLOYMENT, "flows.yaml": FLOWS}))


def start(pick, caller: str, targets=None):
    from datetime import datetime

    from routing_engine.core.runtime import NewCall, start

    call = NewCall("c", caller, "+12125550100", datetime.fromisoformat("2026-11-23T10:00:00-05:00"))
    return start(pick.compiled, call, targets)


def rung(decision) -> list[str]:
    return [t["name"] for a in decision.actions if a["type"] == "ring" for t in a["targets"]]


def test_picks_the_callers_region_in_declaration_order(pick) -> None:
    state, decision = start(pick, "+12125550123")
    assert rung(decision) == ["ny-1"]
    assert state.ringing == ("ny-1", "ny-2")


def test_next_picked_target_on_no_answer(pick) -> None:
    from datetime import datetime

    from routing_engine.core.runtime import Event, EventType, step

    state, _ = start(pick, "+12125550123")
    state, decision = step(
        pick.compiled, state, Event(EventType.DIAL_NO_ANSWER, 1, datetime.now().astimezone())
    )
    assert rung(decision) == ["ny-2"]
    state, decision = step(
        pick.compiled, state, Event(EventType.DIAL_NO_ANSWER, 2, datetime.now().astimezone())
    )
    assert decision.node == "bye"


def test_unavailable_and_unskilled_targets_are_not_picked(pick) -> None:
    _, decision = start(pick, "+12125550123", {"ny-1": False})
    assert rung(decision) == ["ny-2"]
    _, decision = start(pick, "+12125550123", {"ny-1": {"skills": ["spanish"]}})  # lost billing
    assert rung(decision) == ["ny-2"]
    _, decision = start(pick, "+12125550123", {"nurse": {"skills": ["nursing", "billing"]}})
    assert rung(decision) == ["ny-1"]  # gained billing: picked too, after the others
    state, _ = start(pick, "+12125550123", {"nurse": {"skills": ["nursing", "billing"]}})
    assert state.ringing == ("ny-1", "ny-2", "nurse")


def test_falls_back_to_its_own_targets(pick) -> None:
    _, decision = start(pick, "+12125550123", {"ny-1": False, "ny-2": False})
    assert rung(decision) == ["central"]
    _, decision = start(pick, "+13125550123")  # Illinois: central has billing in US-IL
    assert rung(decision) == ["central"]
    _, decision = start(pick, "+18005550123")  # toll-free: no region, so no preference
    assert rung(decision) == ["central"]


def test_queue_carries_the_callers_region(pick) -> None:
    from datetime import datetime

    from routing_engine.core.runtime import NewCall, start

    call = NewCall(
        "q", "+14155550123", "+12125550101", datetime.fromisoformat("2026-11-23T10:00:00-05:00")
    )
    _, decision = start(pick.compiled, call)
    (action,) = decision.actions
    assert (action["type"], action["region"], action["skills"]) == ("queue", "US-CA", ["billing"])
