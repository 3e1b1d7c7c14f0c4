"""Scenario tests: the runner's pass and fail cases, file problems, the fake clock, coverage
arithmetic, and the CLI's text, JSON and JUnit output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import HOSPITAL, run_cli, write_files

from routing_engine import LoadedDeployment, load_deployment
from routing_engine.core.analysis import build_index
from routing_engine.review.coverage import measure, move_outcome, trace_moves
from routing_engine.review.scenarios import Report, run_files

CALL = "from: '+12125550123', to: '+12125550140', at: 2026-11-24T10:00:00-05:00"


def scenario_file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    return write_files(tmp_path, {name: text}) / name


def run(hospital: LoadedDeployment, tmp_path: Path, text: str) -> Report:
    """Play a scenario file's text; `@CALL` stands for a call to billing on a weekday morning."""
    text = text.replace("@CALL", CALL)
    return run_files(hospital.compiled, [scenario_file(tmp_path, text)])


def failures(report: Report) -> list[str]:
    return [f"{f.what}: {f.message}" for r in report.results for f in r.failures]


def test_the_hospital_scenarios_pass_with_full_coverage() -> None:
    result = run_cli("test", str(HOSPITAL))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "coverage: nodes 67/67 (100%), edges 80/80 (100%)" in result.stdout
    assert "edges no scenario takes" not in result.stdout


def test_a_wrong_expectation_fails_with_a_readable_diff(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: billing rings the wrong office
            call:
              from: '+12125550123'
              to: '+12125550140'
              at: 2026-11-24T10:00:00-05:00
              expect: {ring: [billing-central]}
            events:
              - event: dial.no-answer
                expect: {node: new-york.take-message}
            expect:
              path: [billing/route-by-state, central, central.check-hours]
              tickets: [{board: billing}]
              status: ended
        """,
    )
    assert not report.passed
    found = failures(report)
    assert "the first decision: ring: expected [billing-central], got [billing-ny]" in found
    assert any(
        f.startswith("the decision after event 1 (dial.no-answer): node: expected "
                     "billing/new-york.take-message, got billing/new-york.ring-overflow")
        for f in found
    )  # fmt: skip
    path = next(f for f in found if f.startswith("path:"))
    assert "- billing/central\n" in path and "+ billing/new-york\n" in path
    assert "  billing/route-by-state" in path  # the common part is shown for context
    assert "tickets: expected 1 ticket(s), the call raised 0: []" in found
    assert "end: status: expected ended, got active" in found


def test_failures_point_at_the_line_of_the_expectation(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: first
            call: {@CALL}
            expect:
              ends: hangup
        """,
    )
    (failure,) = report.results[0].failures
    assert failure.what == "end"
    assert (failure.span.line, failure.span.column) == (5, 13)  # the value of `ends`
    assert "ends: expected 'hangup', got '(not ended: active)'" in failure.message


def test_a_refused_event_stops_the_scenario(hospital: LoadedDeployment, tmp_path: Path) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: digits while ringing
            call: {@CALL}
            events:
              - digits: '3'
              - hangup
            expect:
              ends: caller hung up
        """,
    )
    assert failures(report) == [
        "event 1 (digits 3): refused (unexpected-event): 'digits' is not awaited now; "
        "the call awaits dial.answered, dial.no-answer, dial.busy, dial.failed, hangup"
    ]  # and the whole-call expectations are not checked against a call cut short


def test_the_fake_clock_moves_by_the_waits_and_by_after(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    """A ring's timeout passes before dial.no-answer; `after` adds time; the ticket's due time
    is counted from the clock when it is raised."""
    text = """
        scenarios:
          - name: due time
            call: {@CALL}
            events:
              - event: dial.no-answer
              - event: dial.no-answer
              - recording: r1
                after: 1h
            expect:
              tickets: [{board: billing, due: DUE, sla: 15m, recording: r1}]
        """  # fmt: skip
    # 10:00 + 12 s (2 rings) + 30 s (overflow timeout) + 1 h = 11:00:42, due 15 min later
    assert run(hospital, tmp_path, text.replace("DUE", "2026-11-24T11:15:42-05:00")).passed
    wrong = run(hospital, tmp_path, text.replace("DUE", "2026-11-24T11:15:00-05:00"))
    assert failures(wrong) == [
        "ticket 1: due: expected 2026-11-24T11:15:00-05:00, got 2026-11-24T11:15:42-05:00"
    ]


def test_live_targets_and_overrides_change_the_call(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: office away, override closed
            targets: {billing-ny: false}
            overrides: {office-hours: closed}
            call: {@CALL}
            expect:
              visits: [new-york.check-hours, new-york.after-hours]
          - name: office away
            targets: {billing-ny: {available: false}}
            call: {@CALL, expect: {ring: [offshore-center]}}
            events:
              - event: dial.no-answer
                targets: {offshore-center: false}
                expect: {node: new-york.take-message}
        """,
    )
    assert report.passed, failures(report)


def test_unknown_names_in_a_scenario_are_failures_with_hints(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: typos
            targets: {billing-nyc: false}
            overrides: {office-hour: open}
            call: {@CALL}
        """,
    )
    assert failures(report) == [
        "targets: no target 'billing-nyc' in the deployment; did you mean 'billing-ny'?",
        "overrides: no schedule 'office-hour' in the deployment; did you mean 'office-hours'?",
    ]


def test_file_problems_have_line_and_column_and_spare_the_other_scenarios(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: fine
            call: {@CALL}
          - name: broken
            call: {from: '+12125550123', to: '+12125550140', at: 2026-11-24T10:00:00}
            events: [{evnt: hangup}, dial.nope, {digits: '1', outcome: x}]
        """,
    )
    assert [r.scenario.name for r in report.results] == ["fine"]
    problems = {(d.span.line, d.span.column, d.code, d.message) for d in report.problems}
    assert problems == {
        (5, 58, "S105", "scenarios.1.call.at: Input should have timezone info"),
        (6, 15, "S103", "unknown field 'evnt' in scenarios.1.events.0"),
        (6, 30, "S105", problem_about_event_name()),
        (6, 41, "S105", "scenarios.1.events.2: Value error, an event is one of digits, "
                        "outcome, not several"),
    }  # fmt: skip
    assert not report.passed


def problem_about_event_name() -> str:
    return (
        "scenarios.1.events.1: Input should be 'digits', 'no-input', 'dial.answered', "
        "'dial.no-answer', 'dial.busy', 'dial.failed', 'outcome', 'queue.timeout', "
        "'recording.done' or 'hangup'"
    )


def test_a_file_that_is_not_a_scenario_file(hospital: LoadedDeployment, tmp_path: Path) -> None:
    report = run(hospital, tmp_path, "flow: main\nnodes: {}\n")
    assert {(d.code, d.message) for d in report.problems} == {
        ("S102", "the file is missing 'scenarios'"),
        ("S103", "unknown field 'flow' in file"),
        ("S103", "unknown field 'nodes' in file"),
    }
    broken = run(hospital, tmp_path, "scenarios: [\n")
    assert [d.code for d in broken.problems] == ["S100"]


def test_a_scenario_files_problems_are_capped(hospital: LoadedDeployment, tmp_path: Path) -> None:
    broken = "".join(f"  - name: s{i}\n    call: {{from: x}}\n" for i in range(150))
    report = run(hospital, tmp_path, "scenarios:\n" + broken)
    assert len(report.problems) == 101 and report.problems[-1].code == "S116"
    assert "more problem(s) in this file" in report.problems[-1].message


# --- coverage ---------------------------------------------------------------------------------

SMALL = {
    "main.yaml": """
        flow: main
        start: hours
        nodes:
          hours:
            hours: week
            open: menu
            closed: bye
          menu:
            menu: Press 1 or 2
            options: {'1': office, '2': office}
            fallback: bye
          office:
            ring: office
            'on': {no-answer: bye}
          bye:
            hangup: done
    """,
    "deployment.yaml": """
        deployment: test
        fallback: {ring: desk}
        entries: {'+12125550100': main}
        targets:
          desk: {uri: 'sip:desk@example.com'}
          office: {uri: 'sip:office@example.com'}
        schedules:
          week: {timezone: America/New_York, weekly: {mon-fri: '08:00-18:00'}, holidays: US}
    """,
}


def small_report(tmp_path: Path, scenarios: str) -> Report:
    root = write_files(tmp_path / "dep", SMALL)
    loaded = load_deployment(root)
    path = write_files(tmp_path / "sc", {"s.yaml": scenarios}) / "s.yaml"
    return run_files(loaded.compiled, [path])


def test_coverage_counts_each_edge_once_and_lists_the_missed_ones(tmp_path: Path) -> None:
    """7 edges: the entry, hours open/closed, menu 1/2/fallback, ring no-answer. One call
    pressing 2 on a holiday override... takes entry, open, digit 2, no-answer."""
    report = small_report(
        tmp_path,
        """
        scenarios:
          - name: press 2, nobody answers
            call: {from: '+12125550123', to: '+12125550100', at: 2026-11-24T10:00:00-05:00}
            events: [{digits: '2'}, dial.busy]
            expect: {path: [main/hours, menu, office, bye], ends: done}
          - name: press 2 again
            call: {from: '+12125550123', to: '+12125550100', at: 2026-11-24T10:00:00-05:00}
            events: [{digits: '2'}, hangup]
        """,
    )
    assert report.passed, failures(report)
    coverage = report.coverage
    assert coverage is not None
    assert (len(coverage.edges), len(coverage.edges_hit)) == (7, 4)
    assert coverage.edge_percent == 57.1
    assert (len(coverage.nodes), len(coverage.nodes_hit)) == (4, 4)
    assert coverage.node_percent == 100.0
    missed = [edge.describe() for edge in coverage.missed_edges]
    assert missed == [
        "main/hours --closed--> main/bye",
        "main/menu --digit:1 (1)--> main/office",
        "main/menu --fallback--> main/bye",
    ]
    # busy took the no-answer link (the ring has no busy handler of its own)
    assert any(e.outcome == "no-answer" for e in coverage.edges_hit)


def test_a_holiday_takes_the_closed_link_and_the_fallback_is_told_apart(tmp_path: Path) -> None:
    report = small_report(
        tmp_path,
        """
        scenarios:
          - name: Thanksgiving
            call: {from: '+12125550123', to: '+12125550100', at: 2026-11-26T10:00:00-05:00}
          - name: silence, three times
            call: {from: '+12125550123', to: '+12125550100', at: 2026-11-24T10:00:00-05:00}
            events: [no-input, no-input, no-input]
            expect: {path: [main/hours, menu, bye]}
        """,
    )
    assert report.passed, failures(report)
    assert report.coverage is not None
    hit = {(e.source[1], e.outcome) for e in report.coverage.edges_hit}
    assert hit == {("+12125550100", "entry"), ("hours", "closed"), ("hours", "open"),
                   ("menu", "fallback")}  # fmt: skip


def test_moves_are_read_from_the_runtimes_trace(hospital: LoadedDeployment) -> None:
    holiday = "2026-07-03T10:00:00-04:00"
    state, _ = hospital.start_call(
        {"call_id": "c", "from": "+18005550123", "to": "+12125550140", "at": holiday}
    )
    moves = [(a[1], outcome, b[1]) for a, outcome, b in trace_moves(state["trace"])]
    assert moves == [
        ("+12125550140", "entry", "route-by-state"),
        ("route-by-state", "case:1", "central"),
        ("central", "enter", "central.check-hours"),
        ("central.check-hours", "holiday", "central.after-hours"),
        ("central.after-hours", "enter", "central.after-hours.take-message"),
    ]
    assert move_outcome("ring r: nobody answered (busy)") == "busy"
    assert move_outcome("ring r: no target available (failed): no handler") == "failed"
    assert move_outcome("menu m: digit 12") == "digit:12"
    assert move_outcome("menu m: no input, retries used up") == "fallback"
    assert move_outcome("billing/x.ring-overflow: outcome needs-office") == "needs-office"
    index = build_index(hospital.compiled.deployment)
    assert measure(index, [state["trace"]]).edge_percent == 6.2  # 5 of 80


# --- the command ------------------------------------------------------------------------------


FAILING = """
scenarios:
  - name: passes
    call: {from: '+12125550123', to: '+12125550100', at: 2026-11-24T10:00:00-05:00}
    expect: {path: [er/ring-nurse]}
  - name: fails
    call: {from: '+12125550123', to: '+12125550100', at: 2026-11-24T10:00:00-05:00}
    expect: {path: [er/ring-backup]}
"""


def test_the_command_exits_1_on_failure_with_json_and_junit(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, FAILING)
    junit = tmp_path / "junit.xml"
    result = run_cli("test", str(HOSPITAL), str(path), "--format", "json", "--junit", str(junit))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["passed"], data["scenarios"], data["failed"]) == (False, 2, 1)
    failed = data["results"][1]
    assert failed["name"] == "fails" and failed["failures"][0]["what"] == "path"
    assert failed["trace"] == ["entry +12125550100 -> er/ring-nurse"]
    assert data["coverage"]["edges"]["total"] == 80
    assert data["coverage"]["edges"]["covered"] == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["passes", "fails"]
    failure = cases[1].find("failure")
    assert failure is not None and "path differs" in (failure.text or "")
    assert cases[0].find("failure") is None


def test_the_command_prints_pass_fail_and_the_call(tmp_path: Path) -> None:
    result = run_cli("test", str(HOSPITAL), str(scenario_file(tmp_path, FAILING)))
    assert result.returncode == 1
    out = result.stdout
    assert "PASS  passes" in out and "FAIL  fails" in out
    assert "path: path differs (- expected, + actual):" in out
    assert "| entry +12125550100 -> er/ring-nurse" in out
    assert "2 scenarios: 1 passed, 1 failed" in out
    assert "edges no scenario takes:" in out


@pytest.mark.parametrize(("minimum", "code"), [("100", 0), ("101", 1)])
def test_min_coverage_fails_the_run_below_it(minimum: str, code: int) -> None:
    result = run_cli("test", str(HOSPITAL), "--min-coverage", minimum)
    assert result.returncode == code, result.stdout


def test_the_command_refuses_missing_scenarios(tmp_path: Path) -> None:
    root = write_files(tmp_path / "dep", SMALL)
    result = run_cli("test", str(root))
    assert result.returncode == 2
    assert "no scenario files" in result.stderr
    assert run_cli("test", str(HOSPITAL), str(tmp_path / "nope.yaml")).returncode == 2


def test_render_highlights_a_scenarios_path(tmp_path: Path) -> None:
    scenarios = HOSPITAL / "scenarios" / "billing.yaml"
    name = "a California caller reaches central billing, then the offshore center"
    result = run_cli(
        "render", str(HOSPITAL), "--flow", "billing", "--format", "dot",
        "--highlight", f"{scenarios}#{name}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bold = {
        line.split('"')[1]
        for line in result.stdout.splitlines()
        if "#d62728" in line and "->" not in line and line.strip().startswith('"')
    }
    assert {"billing/central", "billing/central.ring-overflow", "billing/central.done"} <= bold
    assert not any(node.startswith("billing/new-york") for node in bold)
    missing = run_cli("render", str(HOSPITAL), "--highlight", f"{scenarios}#no such scenario")
    assert missing.returncode == 2
    assert "no scenario named 'no such scenario'" in missing.stderr


def test_the_dsl_hospital_passes_the_same_scenarios() -> None:
    """The DSL twin of the hospital is the same deployment, so the same calls do the same."""
    result = run_cli(
        "test", str(HOSPITAL.parent / "hospital-dsl"), str(HOSPITAL / "scenarios"),
        "--min-coverage", "100",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "33 scenarios: 33 passed" in result.stdout


def test_scenario_files_are_not_flow_files_on_disk_or_sent_as_texts() -> None:
    from routing_engine.api import check, check_texts

    assert check(HOSPITAL).ok
    files = {str(p.relative_to(HOSPITAL)): p.read_text() for p in HOSPITAL.rglob("*.yaml")}
    files = {name: text.replace("../../flows", "modules") for name, text in files.items()}
    for module in (HOSPITAL.parent.parent / "flows").glob("*.yaml"):
        files[f"modules/{module.name}"] = module.read_text()
    assert any(name.startswith("scenarios/") for name in files)
    result = check_texts(files)
    assert result.ok, [d.message for d in result.diagnostics]
    assert not any(name.startswith("scenarios/") for name in result.sources)


# --- found in review --------------------------------------------------------------------------

VIP = {
    "main.yaml": """
        flow: main
        start: check
        nodes:
          check:
            branch:
              - when: attributes.vip == true and attributes.tier == 2
                then: vip
            else: plain
          vip:
            hangup: vip
          plain:
            hangup: plain
    """,
    "deployment.yaml": """
        deployment: test
        fallback: {ring: desk}
        entries: {'+12125550100': main, '+1666*': main}
        targets:
          desk: {uri: 'sip:desk@example.com'}
    """,
}


def vip_report(tmp_path: Path, scenarios: str, **options: object) -> Report:
    loaded = load_deployment(write_files(tmp_path / "dep", VIP))
    path = write_files(tmp_path / "sc", {"s.yaml": scenarios}) / "s.yaml"
    return run_files(loaded.compiled, [path], **options)  # type: ignore[arg-type]


def test_call_attributes_are_typed_as_the_api_sends_them(tmp_path: Path) -> None:
    report = vip_report(
        tmp_path,
        """
        scenarios:
          - name: a VIP
            call: {from: anonymous, to: '+12125550100', at: 2026-11-24T10:00:00Z,
                   attributes: {vip: true, tier: 2}}
            expect: {ends: vip}
        """,
    )
    assert report.passed, failures(report)


def test_a_prefix_entry_is_covered_by_a_number_it_takes(tmp_path: Path) -> None:
    report = vip_report(
        tmp_path,
        """
        scenarios:
          - name: through the prefix
            call: {from: anonymous, to: '+16665550100', at: 2026-11-24T10:00:00Z}
        """,
    )
    assert report.coverage is not None
    hit = {e.source[1] for e in report.coverage.edges_hit if e.outcome == "entry"}
    assert hit == {"+1666*"}


def test_expectations_naming_no_node_fail(hospital: LoadedDeployment, tmp_path: Path) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: avoids a node that is not there
            call: {@CALL}
            expect: {avoids: [office-ticket, new-york.office-tiket]}
        """,
    )
    assert failures(report) == [
        "avoids: no node 'billing/office-ticket' in the deployment; "
        "did you mean 'billing/central.office-ticket'?",
        "avoids: no node 'billing/new-york.office-tiket' in the deployment; "
        "did you mean 'billing/new-york.office-ticket'?",
    ]


def test_the_frame_of_a_file_is_checked_and_empty_files_fail(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    extra = run(hospital, tmp_path, "defaults: {}\nscenarios:\n  - name: a\n    call: {@CALL}\n")
    assert [(d.code, d.message) for d in extra.problems] == [
        ("S103", "unknown field 'defaults' in file")
    ]
    assert [r.scenario.name for r in extra.results] == ["a"]
    empty = run(hospital, tmp_path, "# all commented out\n")
    assert [(d.code, d.message) for d in empty.problems] == [
        ("S102", "the file holds no scenarios")
    ]
    assert not empty.passed
    listed = run(hospital, tmp_path, "- name: a\n")
    assert [d.message for d in listed.problems] == [
        "a scenario file is a mapping: `scenarios:` and a list of scenarios"
    ]


def test_a_scenario_that_cannot_be_played_fails_alone(
    hospital: LoadedDeployment, tmp_path: Path
) -> None:
    report = run(
        hospital,
        tmp_path,
        """
        scenarios:
          - name: the end of time
            call: {from: anonymous, to: '+12125550140', at: 9999-12-31T23:59:00Z}
            events: [{event: dial.no-answer, after: 1h}]
          - name: fine
            call: {@CALL}
        """,
    )
    [broken, fine] = report.results
    assert broken.failures[0].message.startswith("could not be played: OverflowError")
    assert fine.passed


def test_min_coverage_fails_the_report_in_every_format(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, FAILING.split("  - name: fails")[0])
    junit = tmp_path / "deep" / "junit.xml"  # its folder is made
    result = run_cli(
        "test", str(HOSPITAL), str(path), "--min-coverage", "50", "--format", "json",
        "--junit", str(junit),
    )  # fmt: skip
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["passed"], data["coverage_low"], data["failed"]) == (False, True, 0)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert suite.findall("testcase")[-1].get("name") == "edge coverage"


def test_coverage_never_rounds_up_to_full(tmp_path: Path) -> None:
    from routing_engine.review.coverage import Coverage

    assert Coverage.percent(1999, 2000) == 99.9
    assert Coverage.percent(2, 3) == 66.6


def test_match_picks_scenarios_by_name_and_junit_holds_odd_text(tmp_path: Path) -> None:
    text = FAILING.replace("name: fails", 'name: "fails \\x01 here"')
    junit = tmp_path / "j.xml"
    result = run_cli(
        "test", str(HOSPITAL), str(scenario_file(tmp_path, text)), "-k", "FAILS",
        "--junit", str(junit),
    )  # fmt: skip
    assert "1 scenarios: 0 passed, 1 failed" in result.stdout
    [case] = ET.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "fails \ufffd here"
