"""Modules: `use` with arguments and exits, expansion, checks at the use site, and the shipped
library in flows/."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT, run_cli

from routing_engine import check, load_deployment

DEPLOYMENT = """
    deployment: test
    fallback: {ring: desk}
    modules: [../lib]
    entries:
      "+12125550100": main
    targets:
      desk: {uri: "sip:desk@example.com"}
      office: {uri: "sip:office@example.com"}
      agents: {kind: queue, uri: "sip:agents@example.com"}
    contacts:
      boss: {name: The boss}
    boards:
      general: {name: General office}
"""
MODULE = """
    module: try-office
    params:
      office: target
      name: text
      rings: {type: duration, default: 3 rings}
      board: {type: board, default: general}
    exits: [nobody]
    start: greet
    nodes:
      greet:
        say: Connecting you to ${name}.
        next: ring
      ring:
        ring: $office
        timeout: $rings
        on: {no-answer: note}
      note:
        ticket: $board
        summary: ${name} did not answer
        next: nobody
"""
MAIN = """
    flow: main
    start: first
    nodes:
      first:
        use: try-office
        with: {office: office, name: the office, rings: 2 rings}
        exits: {nobody: second}
      second:
        use: try-office
        with: {office: desk, name: the front desk}
        exits: {nobody: bye}
      bye:
        hangup: nobody answered
"""
AT = "2026-11-23T10:00:00-05:00"


def write(tmp_path, main: str = MAIN, module: str = MODULE, deployment: str = DEPLOYMENT):
    from conftest import write_files

    write_files(
        tmp_path, {"app/deployment.yaml": deployment, "app/main.yaml": main, "lib/mod.yaml": module}
    )
    return tmp_path / "app"


def walk(path, *events: str) -> list[dict[str, Any]]:
    engine = load_deployment(path)
    state, decision = engine.start_call(
        {"call_id": "c", "from": "+12125550123", "to": "+12125550100", "at": AT}
    )
    decisions = [decision]
    for number, event in enumerate(events, start=1):
        body = {"event_id": f"e{number}", "seq": decision["seq"], "type": event, "at": AT}
        state, decision = engine.apply_event(state, body)
        decisions.append(decision)
    return decisions


def test_each_use_is_expanded_with_its_arguments(tmp_path) -> None:
    first, second, last = walk(write(tmp_path), "dial.no-answer", "dial.no-answer")
    assert first["node"] == "first.ring"
    assert first["actions"][0] == {"type": "say", "text": "Connecting you to the office."}
    assert first["actions"][1]["targets"] == [{"name": "office", "uri": "sip:office@example.com"}]
    assert first["actions"][1]["timeout_s"] == 12.0  # the argument: 2 rings
    assert second["node"] == "second.ring"
    ticket, say, ring = second["actions"]
    assert (ticket["board"], ticket["summary"]) == (
        "general",
        "the office did not answer",
    )  # a default
    assert say["text"] == "Connecting you to the front desk."
    assert (ring["targets"][0]["name"], ring["timeout_s"]) == ("desk", 18.0)  # default 3 rings
    assert last["node"] == "bye" and last["actions"][-1] == {
        "type": "hangup",
        "reason": "nobody answered",
    }
    assert "use first: module try-office -> main/first.greet" in first["trace"]
    assert "ticket second.note -> main/bye" in last["trace"]


def test_problems_of_a_use_point_at_the_use(tmp_path) -> None:
    main = MAIN.replace(
        "office: office, name: the office", "office: ofice, name: the office"
    ).replace("exits: {nobody: bye}", "exits: {}")
    result = check(write(tmp_path, main=main))
    found = {
        (d.code, d.span.file.rsplit("/", 1)[-1], d.span.line, d.message) for d in result.diagnostics
    }
    assert ("S108", "main.yaml", 6, "no target named 'ofice' (in ring node 'ring')") in found
    assert any(code == "S114" and "does not map exit 'nobody'" in msg for code, _, _, msg in found)
    assert all(file == "main.yaml" for _, file, _, _ in found)


def test_a_problem_inside_a_module_is_reported_once_however_often_it_is_used(tmp_path) -> None:
    module = MODULE.replace("        next: nobody\n", "")  # the ticket becomes a dead end
    result = check(write(tmp_path, module=module))
    dead_ends = [d for d in result.diagnostics if d.code == "G202"]
    assert len(dead_ends) == 1
    assert dead_ends[0].span.file.endswith("mod.yaml")


@pytest.mark.parametrize(
    ("module_change", "message"),
    [
        (("ring: $office", "ring: $offices"), "module 'try-office' has no parameter 'offices'"),
        (
            ("ticket: $board", "ticket: $board\n        managers: $office"),
            "'$office' is a target parameter, used here as a contact",
        ),
        (
            ("Connecting you to ${name}.", "Connecting you to ${nam}."),
            "module 'try-office' has no parameter 'nam'",
        ),
        (("next: nobody", "next: nobdy"), "no node or exit named 'nobdy'"),
    ],
)
def test_module_definitions_are_checked(
    tmp_path, module_change: tuple[str, str], message: str
) -> None:
    result = check(write(tmp_path, module=MODULE.replace(*module_change)))
    assert any(message in d.message for d in result.diagnostics), [
        d.message for d in result.diagnostics
    ]


def test_a_parameter_outside_a_module_is_an_error(tmp_path) -> None:
    main = MAIN.replace(
        "      bye:\n        hangup: nobody answered",
        "      bye:\n        ring: $office\n        on: {no-answer: end}\n      end: {hangup: }",
    )
    result = check(write(tmp_path, main=main))
    assert any(
        "'$office' is a module parameter, but this is not a module" in d.message
        for d in result.diagnostics
    )


def test_a_module_may_not_use_itself(tmp_path) -> None:
    module = MODULE.replace(
        "        next: nobody\n",
        "        next: again\n      again:\n        use: try-office\n"
        "        with: {office: $office, name: x}\n        exits: {nobody: nobody}\n",
    )
    result = check(write(tmp_path, module=module))
    assert any(d.code == "S114" and "uses itself" in d.message for d in result.diagnostics)


def test_an_unknown_module_is_named(tmp_path) -> None:
    result = check(
        write(
            tmp_path,
            main=MAIN.replace(
                "use: try-office\n        with: {office: office",
                "use: try-ofice\n        with: {office: office",
            ),
        )
    )
    (problem,) = [d for d in result.diagnostics if d.code == "S108"]
    assert problem.message == "no module named 'try-ofice' (used by node 'first')"
    assert problem.hint == "did you mean 'try-office'?"


def test_a_missing_module_folder_is_reported(tmp_path) -> None:
    result = check(write(tmp_path, deployment=DEPLOYMENT.replace("../lib", "../nowhere")))
    assert any("no module folder or file '../nowhere'" in d.message for d in result.diagnostics)


def test_the_shipped_library_checks_on_its_own() -> None:
    for target in ("flows", "flows/office-ringover.yaml", "flows/menu-with-retries.yaml"):
        result = run_cli("validate", target, cwd=ROOT)
        assert result.returncode == 0, result.stdout
        assert "0 error(s), 0 warning(s)" in result.stdout


def test_menu_with_retries_apologises_then_falls_back(tmp_path) -> None:
    from conftest import write_files

    write_files(
        tmp_path,
        {
            "app/deployment.yaml": DEPLOYMENT.replace("../lib", str(ROOT / "flows")),
            "app/main.yaml": """
                flow: main
                start: menu
                nodes:
                  menu:
                    use: menu-with-retries
                    with: {prompt: "Press 1 for sales, 2 for support."}
                    exits:
                      choice-1: sales
                      choice-2: support
                      choice-3: menu
                      choice-4: menu
                      fallback: desk
                  sales: {ring: office, on: {no-answer: bye}}
                  support: {ring: office, on: {no-answer: bye}}
                  desk: {ring: desk, on: {no-answer: bye}}
                  bye: {hangup: }
            """,
        },
    )
    engine = load_deployment(tmp_path / "app")
    state, decision = engine.start_call(
        {"call_id": "c", "from": "+12125550123", "to": "+12125550100", "at": AT}
    )
    assert decision["actions"][0]["prompt"] == "Press 1 for sales, 2 for support."
    state, decision = engine.apply_event(
        state, {"event_id": "e1", "seq": 1, "type": "digits", "data": {"digits": "9"}, "at": AT}
    )
    assert [a["type"] for a in decision["actions"]] == ["say", "menu"]
    assert decision["actions"][0]["text"] == "Sorry, I did not get that."
    state, decision = engine.apply_event(
        state, {"event_id": "e2", "seq": 2, "type": "no-input", "at": AT}
    )
    assert decision["node"] == "desk"
    assert decision["actions"][0]["text"] == "Sorry, I did not get that. Let me put you through."
