"""Escalation steps and call time limits as written: the DSL's `escalate` lines and their
mistakes, module parameters in them, and what the compiled deployment and the runtime make of
them (the rule codes have their fixtures in fixtures/diagnostics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import write_files

from routing_engine import check, load_deployment
from routing_engine.core.calls import Event, EventType, NewCall
from routing_engine.core.runtime import start, step
from routing_engine.sources.dsl_reader import read_dsl

DEPLOYMENT = """
deployment d
  fallback
    ring desk
  entry +12125550100 -> main
  target desk
    uri sip:desk@example.com
  contact manager
    email manager@example.com
  contact duty
    webhook https://hooks.example.com/duty
  schedule office
    timezone America/New_York
    weekly mon-fri 08:00-18:00
  board office "The office"
"""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("escalate soon notify duty", "unexpected 'soon' in an escalation"),
        ("escalate after notify duty", "'after' needs a value"),
        ("escalate after 30m notify", "'notify' needs a value"),
        ("escalate after 30m after 1h notify duty", "'after' is given twice"),
    ],
)
def test_a_malformed_escalation_line_is_reported_at_its_place(line: str, message: str) -> None:
    text = f"flow main\n  t: ticket office\n    {line}\n"
    documents, problems = read_dsl(text, "main.flow")
    assert documents == []
    (problem,) = problems
    assert problem.code == "S100" and problem.message == message
    assert problem.span.line == 3


def test_escalation_lines_add_steps_in_order() -> None:
    text = (
        "flow main\n  t: ticket office\n    sla 15m\n"
        "    escalate after 30m notify duty\n"
        '    escalate after 2 rings notify duty, "after"\n'
    )
    (document,), problems = read_dsl(text, "main.flow")
    assert problems == []
    assert document.data["nodes"]["t"]["escalate"] == [
        {"after": "30m", "notify": ["duty"]},
        {"after": "2 rings", "notify": ["duty", "after"]},
    ]
    assert document.key_span(("nodes", "t", "escalate", 1, "notify")).line == 5


def test_module_parameters_stand_for_escalation_contacts_and_times(tmp_path) -> None:
    root = write_files(
        tmp_path / "d",
        {
            "deployment.flow": DEPLOYMENT + "  modules lib\n",
            "lib/note.flow": """
                module note
                  param boss contact default duty
                  param later duration default 45m
                  exits done
                  t: ticket office -> done
                    sla_from office
                    escalate after $later notify $boss
                """,
            "main.flow": """
                flow main
                  resolve_within 1h
                  notify manager
                  first: use note
                    later = 2h
                    done -> second
                  second: use note
                    boss = manager
                    done -> bye
                  bye: hangup
                """,
        },
    )
    result = check(root)
    assert [d for d in result.diagnostics if d.is_error] == []
    compiled = load_deployment(root).compiled
    first, second = (compiled.nodes[("main", f"{n}.t")] for n in ("first", "second"))
    assert first.escalations == ((7200.0, ("duty",)),)  # type: ignore[attr-defined]
    assert second.escalations == ((2700.0, ("manager",)),)  # type: ignore[attr-defined]
    at = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Monday 21:00 in New York: closed
    state, decision = start(compiled, NewCall("c", "+12125550123", "+12125550100", at))
    tickets = [a for a in decision.actions if a["type"] == "ticket"]
    assert [t["escalations"] for t in tickets] == [
        [{"level": 1, "after_s": 7200.0, "due": "2026-11-24T15:00:00Z", "notify": ["duty"]}],
        [{"level": 1, "after_s": 2700.0, "due": "2026-11-24T13:45:00Z", "notify": ["manager"]}],
    ]  # counted from the opening (08:00 in New York), as the SLA is
    assert state.deadlines[0]["due"] == "2026-11-24T03:00:00Z"


def test_a_parameter_of_the_wrong_type_in_an_escalation_is_named(tmp_path) -> None:
    root = write_files(
        tmp_path / "d",
        {
            "deployment.flow": DEPLOYMENT + "  modules lib\n",
            "lib/note.flow": """
                module note
                  param later duration default 45m
                  exits done
                  t: ticket office -> done
                    escalate after 1h notify $later
                """,
            "main.flow": """
                flow main
                  first: use note
                    done -> bye
                  bye: hangup
                """,
        },
    )
    problems = [(d.code, d.message) for d in check(root).diagnostics if d.is_error]
    assert (
        "S108",
        "'$later' is a duration parameter, used here as a contact (in escalation 1 of node 't')",
    ) in problems


def test_a_call_entering_a_second_flow_starts_its_limit_then(tmp_path) -> None:
    root = write_files(
        tmp_path / "d",
        {
            "deployment.flow": DEPLOYMENT,
            "main.flow": """
                flow main
                  resolve_within 5m
                  notify manager
                  ring-desk: ring desk
                    no-answer -> billing
                    attempts 2 -> bye
                  bye: hangup
                flow billing
                  resolve_within 1h
                  notify duty, manager
                  ring-again: ring desk
                    no-answer -> main
                """,
        },
    )
    compiled = load_deployment(root).compiled
    at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    state, _ = start(compiled, NewCall("c", "+12125550123", "+12125550100", at))
    later = datetime(2026, 11, 24, 15, 1, tzinfo=UTC)
    state, _ = step(compiled, state, Event(EventType.DIAL_NO_ANSWER, 1, later))
    state, _ = step(compiled, state, Event(EventType.DIAL_NO_ANSWER, 2, later))  # back to main
    assert [(d["flow"], d["due"], d["notify"], d["seq"]) for d in state.deadlines] == [
        ("main", "2026-11-24T15:05:00Z", ["manager"], 1),
        ("billing", "2026-11-24T16:01:00Z", ["duty", "manager"], 2),
    ]
