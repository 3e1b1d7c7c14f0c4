"""Regressions for problems a review found: each test failed before its fix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import write_files

from routing_engine import BadRequest, EventRejected, check, load_deployment
from routing_engine.core import ir
from routing_engine.core.schedules import compile_schedule

AT = "2026-11-23T10:00:00-05:00"
DEPLOYMENT = """
    deployment: test
    fallback: {ring: desk}
    modules: [mods]
    entries:
      "+12125550100": main
    targets:
      desk: {uri: "sip:desk@example.com"}
"""
PLAIN = DEPLOYMENT.replace("    modules: [mods]\n", "")
PICK = """
    module: pick
    params:
      st: text
    start: check
    nodes:
      check:
        branch:
          - when: caller.state == "${st}"
            then: match
        else: other
      match: {say: match, next: bye}
      other: {say: other, next: bye}
      bye: {hangup: }
"""


def start(path, caller: str = "+12125550123") -> dict:
    engine = load_deployment(path)
    _, decision = engine.start_call(
        {"call_id": "c", "from": caller, "to": "+12125550100", "at": AT}
    )
    return decision


def test_each_use_of_a_module_evaluates_its_own_conditions(tmp_path) -> None:
    main = """
        flow: main
        start: check
        nodes:
          check:
            branch:
              - when: dialed == "+12125550100"
                then: first
            else: bye
          first:
            use: pick
            with: {st: NY}
          bye: {hangup: }
    """
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": PICK}
    )
    decision = start(tmp_path)  # a New York caller, and the flow's own branch is not the module's
    assert [a["text"] for a in decision["actions"] if a["type"] == "say"] == ["match"]
    assert decision["trace"][1].startswith("branch check: when dialed")


def test_an_empty_argument_is_a_diagnostic_not_a_crash(tmp_path) -> None:
    main = "flow: main\nstart: first\nnodes:\n  first:\n    use: pick\n    with: {st: }\n"
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": PICK}
    )
    result = check(tmp_path)
    assert any(d.code == "S114" and "is given no value" in d.message for d in result.diagnostics)


def test_a_module_folder_inside_the_deployment_is_read_once(tmp_path) -> None:
    main = "flow: main\nstart: first\nnodes:\n  first:\n    use: pick\n    with: {st: NY}\n"
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": PICK}
    )
    result = check(tmp_path)
    assert result.ok, [str(d) for d in result.diagnostics]


def test_a_parameter_reference_in_a_flow_argument_is_refused(tmp_path) -> None:
    main = "flow: main\nstart: first\nnodes:\n  first:\n    use: pick\n    with: {st: $st}\n"
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": PICK}
    )
    result = check(tmp_path)
    assert any(
        "names a module parameter, but this is a flow" in d.message for d in result.diagnostics
    )


def test_two_entries_for_one_date_add_up() -> None:
    schedule = ir.Schedule(
        "s", "America/New_York", (), "", (
            ir.DateHours("2026-12-24", (ir.TimeRange(9 * 60, 10 * 60),)),
            ir.DateHours("2026-12-24", (ir.TimeRange(14 * 60, 15 * 60),)),
        ), (), "",
    )  # fmt: skip
    compiled = compile_schedule(schedule)
    assert compiled.closures[datetime(2026, 12, 24).date()] == (
        ir.TimeRange(540, 600),
        ir.TimeRange(840, 900),
    )


def test_next_open_is_never_before_now_in_the_autumn_hour() -> None:
    schedule = ir.Schedule(
        "s", "America/New_York", (ir.DayHours((6,), (ir.TimeRange(90, 300),)),), "", (), (), ""
    )
    compiled = compile_schedule(schedule)
    at = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, after the clocks went back
    opens = compiled.next_open(at)
    assert opens is not None and opens >= at


def test_a_long_chain_of_rings_does_not_exhaust_the_stack(tmp_path) -> None:
    nodes = "".join(f"  s{i}: {{say: hi, next: s{i + 1}}}\n" for i in range(600))
    ring = "  r: {ring: desk, on: {no-answer: s0}}\n"
    main = f"flow: main\nstart: r\nnodes:\n{ring}{nodes}  s600: {{hangup: }}\n"
    # 600 announcements take 4 minutes to play: over the default caller_max_wait (G205)
    deployment = PLAIN.replace("deployment: test\n", "deployment: test\n    caller_max_wait: 10m\n")
    write_files(
        tmp_path,
        {"deployment.yaml": deployment, "main.yaml": main},
    )
    assert check(tmp_path).ok


def test_a_duration_over_a_year_is_refused(tmp_path) -> None:
    main = (
        "flow: main\nstart: t\nnodes:\n  t: {ticket: b, sla: 99999999h, next: e}\n  e: {hangup: }\n"
    )
    write_files(
        tmp_path,
        {"deployment.yaml": PLAIN, "main.yaml": main},
    )
    result = check(tmp_path)
    assert any(d.code == "S104" and "longer than a year" in d.message for d in result.diagnostics)


def test_a_state_from_another_version_or_a_malformed_one_is_refused(tmp_path) -> None:
    main = "flow: main\nstart: r\nnodes:\n  r: {ring: desk, on: {no-answer: e}}\n  e: {hangup: }\n"
    write_files(
        tmp_path,
        {"deployment.yaml": PLAIN, "main.yaml": main},
    )
    engine = load_deployment(tmp_path)
    state, _ = engine.start_call(
        {"call_id": "c", "from": "+12125550123", "to": "+12125550100", "at": AT}
    )
    (tmp_path / "main.yaml").write_text(main.replace("ring: desk,", "ring: desk, timeout: 9s,"))
    changed = load_deployment(tmp_path)
    event = {"event_id": "e", "seq": 1, "type": "dial.no-answer", "at": AT}
    with pytest.raises(EventRejected) as refused:
        changed.apply_event(state, event)
    assert refused.value.reason == "wrong-version"
    for broken in (
        {**state, "seq": "1"},
        {k: v for k, v in state.items() if k != "vars"},
        {**state, "status": "x"},
    ):
        with pytest.raises(BadRequest):
            engine.apply_event(broken, event)


def test_a_bad_value_in_the_deployment_does_not_hide_the_flows_problems(tmp_path) -> None:
    deployment = PLAIN.replace('"+12125550100": main', '"212-555-0100": main')
    main = "flow: main\nstart: r\nnodes:\n  r: {ring: dsk, on: {no-answer: e}}\n  e: {hangup: }\n"
    write_files(tmp_path, {"deployment.yaml": deployment, "main.yaml": main})
    codes = {d.code for d in check(tmp_path).diagnostics}
    assert {"S105", "S108"} <= codes
    assert "W303" not in codes  # the entry was in error, not missing


def test_a_flow_node_named_like_a_use_copy_is_reported(tmp_path) -> None:
    main = """
        flow: main
        start: first
        nodes:
          first:
            use: pick
            with: {st: NY}
          first.check: {hangup: }
    """
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": PICK}
    )
    result = check(tmp_path)
    assert any(d.code == "S107" and "module use 'first'" in d.message for d in result.diagnostics)


def test_target_parameters_work_inside_module_conditions(tmp_path) -> None:
    module = PICK.replace("st: text", "st: text\n      who: target").replace(
        'caller.state == "${st}"', 'available("${who}")'
    )
    main = (
        "flow: main\nstart: first\nnodes:\n  first:\n    use: pick\n    with: {st: NY, who: desk}\n"
    )
    write_files(
        tmp_path, {"deployment.yaml": DEPLOYMENT, "main.yaml": main, "mods/pick.yaml": module}
    )
    result = check(tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    assert [a["text"] for a in start(tmp_path)["actions"] if a["type"] == "say"] == ["match"]


def test_an_unreadable_flow_file_does_not_make_its_entry_look_wrong(tmp_path) -> None:
    write_files(tmp_path, {"deployment.yaml": PLAIN, "main.yaml": "flow: main\nstart: [\n"})
    codes = [d.code for d in check(tmp_path).diagnostics]
    assert codes == ["S100"]
