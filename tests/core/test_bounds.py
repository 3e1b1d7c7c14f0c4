"""Bounded loops at run time: a node with `attempts: N` is entered at most N times a call, then
the call goes to `exhausted`; the counts live in the call state and survive its JSON. And the
worst-case waits worked out from the bounds, on a deployment with known timeouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, write_files

from routing_engine import BadRequest, LoadedDeployment, check, load_deployment
from routing_engine.core.analysis import build_index
from routing_engine.core.waits import Waits, prompt_seconds, say_seconds
from routing_engine.review.render import build

AT = "2026-11-23T10:00:00-05:00"
CALLER = "+12125550123"

DEPLOYMENT = """
    deployment: bounds
    caller_max_wait: 3m
    fallback:
      ring: desk
    entries:
      "+12125550100": main
    targets:
      desk:
        uri: sip:desk@example.com
      nurse:
        uri: sip:nurse@example.com
    boards:
      front:
        name: Front desk
"""

# The desk and the nurse ring each other on no answer; the desk may be entered 3 times.
LOOP = """
    flow: main
    start: ring-desk
    nodes:
      ring-desk:
        ring: desk
        timeout: 20s
        attempts: 3
        exhausted: voicemail
        on:
          no-answer: ring-nurse
      ring-nurse:
        ring: nurse
        timeout: 20s
        on:
          no-answer: ring-desk
      voicemail:
        voicemail: front
"""


@pytest.fixture
def loop(tmp_path: Path) -> LoadedDeployment:
    return load_deployment(
        write_files(tmp_path / "d", {"deployment.yaml": DEPLOYMENT, "main.yaml": LOOP})
    )


def no_answer(
    loaded: LoadedDeployment, state: dict[str, Any], through_json: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    if through_json:  # as a store keeps it: text, read back
        state = json.loads(json.dumps(state))
    event = {"event_id": f"e{state['seq']}", "seq": state["seq"], "type": "dial.no-answer"}
    return loaded.apply_event(state, {**event, "at": AT})


@pytest.mark.parametrize("through_json", [False, True])
def test_a_bounded_ring_loop_rings_exactly_n_times_then_goes_to_exhausted(
    loop: LoadedDeployment, through_json: bool
) -> None:
    state, decision = loop.start_call(
        {"call_id": "c1", "from": CALLER, "to": "+12125550100", "at": AT}
    )
    rung = [decision["actions"][0]["targets"][0]["name"]]
    while decision["actions"] and decision["actions"][0]["type"] == "ring":
        state, decision = no_answer(loop, state, through_json)
        if decision["actions"] and decision["actions"][0]["type"] == "ring":
            rung.append(decision["actions"][0]["targets"][0]["name"])
    assert rung == ["desk", "nurse", "desk", "nurse", "desk", "nurse"]
    assert decision["node"] == "voicemail"
    assert decision["actions"][0]["type"] == "voicemail"
    assert state["entered"] == {"main/ring-desk": 3}
    assert "ring ring-desk: exhausted (3 attempts used up) -> main/voicemail" in decision["trace"]


def test_the_ticket_story_says_the_attempts_were_used_up(loop: LoadedDeployment) -> None:
    state, decision = loop.start_call(
        {"call_id": "c1", "from": CALLER, "to": "+12125550100", "at": AT}
    )
    for _ in range(6):
        state, decision = no_answer(loop, state, True)
    event = {"event_id": "rec", "seq": state["seq"], "type": "recording.done", "at": AT}
    state, decision = loop.apply_event(state, {**event, "data": {"recording": "r.wav"}})
    story = decision["actions"][0]["story"]
    assert "ring-desk: tried 3 times; passed on" in story


def test_a_state_stored_before_bounds_existed_still_loads(loop: LoadedDeployment) -> None:
    state, _ = loop.start_call({"call_id": "c1", "from": CALLER, "to": "+12125550100", "at": AT})
    old = {key: value for key, value in state.items() if key != "entered"}
    new, decision = no_answer(loop, old, True)
    assert decision["actions"][0]["targets"][0]["name"] == "nurse"
    assert new["entered"] == {}  # the entries before it was stored are not known: none
    new, decision = no_answer(loop, new, True)
    assert decision["actions"][0]["targets"][0]["name"] == "desk"
    assert new["entered"] == {"main/ring-desk": 1}


def test_a_state_with_bad_counts_is_refused_as_a_bad_request(loop: LoadedDeployment) -> None:
    state, _ = loop.start_call({"call_id": "c1", "from": CALLER, "to": "+12125550100", "at": AT})
    with pytest.raises(BadRequest, match="entered"):
        no_answer(loop, {**state, "entered": {"main/ring-desk": "three"}}, False)


# -- worst-case waits ----------------------------------------------------------------------------

WAITS = """
    flow: main
    start: greet
    nodes:
      greet:
        say: Welcome to the clinic, please hold.
        next: choose
      choose:
        menu: Press one for the desk.
        retries: 1
        timeout: 5s
        options:
          "1": ring-both
        fallback: ring-both
      ring-both:
        ring: [desk, nurse]
        timeout: 2 rings
        on:
          no-answer: ring-nurse
          answered: after-answer
      after-answer:
        ring: nurse
        timeout: 10m
        on:
          no-answer: bye
      ring-nurse:
        ring: nurse
        timeout: 15s
        attempts: 2
        exhausted: bye
        on:
          no-answer: sorry
      sorry:
        say: Sorry, still trying.
        next: ring-nurse
      bye:
        hangup:
"""


def test_worst_waits_add_rings_prompts_menus_and_bounded_loops(tmp_path: Path) -> None:
    root = write_files(tmp_path / "d", {"deployment.yaml": DEPLOYMENT, "main.yaml": WAITS})
    result = check(root)
    assert result.ok, result.diagnostics
    assert result.context is not None
    [(entry, wait)] = list(Waits(result.context).entries())
    assert entry.number == "+12125550100"
    greet = prompt_seconds("Welcome to the clinic, please hold.")  # 6 words: 2.4 s
    menu = (5 + prompt_seconds("Press one for the desk.")) * 2  # 5 words: (5 + 2) x 2
    both = 2 * 12.0  # two targets one by one, 2 rings of 6 s each
    loop = 2 * (15 + prompt_seconds("Sorry, still trying."))  # 2 entries of the nurse, each
    # followed by the apology (entered at its bounded ring: no extra pass); after an answer
    # (after-answer's 10 minutes) the wait is over
    assert greet == pytest.approx(2.4) and menu == pytest.approx(14.0)
    assert wait.seconds == pytest.approx(greet + menu + both + loop)
    assert say_seconds(wait.seconds) == "1m 13s"
    assert [step.key[1] for step in wait.steps[1:]] == [
        "greet",
        "choose",
        "ring-both",
        "ring-nurse",
        "bye",
    ]
    assert wait.steps[4].loop


def test_validate_verbose_and_paths_show_each_numbers_worst_wait(tmp_path: Path) -> None:
    root = write_files(tmp_path / "d", {"deployment.yaml": DEPLOYMENT, "main.yaml": WAITS})
    verbose = run_cli("validate", "--verbose", str(root))
    assert f"{root}: +12125550100 -> main: a caller waits at most 1m 13s unanswered" in (
        verbose.stdout
    )
    text = run_cli("paths", str(root))
    assert "worst wait: +12125550100 -> main: a caller waits at most 1m 13s unanswered" in (
        text.stdout
    )
    assert "worst wait: flow main: a caller waits at most 1m 13s unanswered" in text.stdout
    report = json.loads(run_cli("paths", str(root), "--format", "json").stdout)
    by_entry = {w["entry"]: w for w in report["waits"]}
    assert by_entry["+12125550100"]["seconds"] == 72.8
    assert by_entry[None]["flow"] == "main"
    moves = {step["choice"] for path in report["paths"] for step in path["steps"]}
    assert "exhausted (after 2 attempts)" in moves


def test_the_exhausted_edge_is_drawn_with_its_attempts(loop: LoadedDeployment) -> None:
    graph = build(build_index(loop.compiled.deployment))
    [edge] = [e for e in graph.edges() if e.attr["label"] == "after 3 attempts"]
    assert (edge[0], edge[1]) == ("main/ring-desk", "main/voicemail")
