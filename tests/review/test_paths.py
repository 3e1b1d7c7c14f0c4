"""Path queries: every path through a deployment (`paths`), and who answers a concrete call at a
given time (`who-answers`), through the library and the command line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from conftest import FIXTURES, MINIMAL_DEPLOYMENT, run_cli, write_files

from routing_engine import LoadedDeployment, load_deployment
from routing_engine.review.explore import (
    Turn,
    explore_call,
)
from routing_engine.review.paths import (
    STOPPED,
    CallPath,
    UnknownNumber,
    enumerate_paths,
)

BILLING = "+12125550140"
MAIN_LINE = "+12125550111"
NY_CALLER = "+12125550123"
HOLIDAY = "2026-07-03T10:00:00-04:00"  # Friday: Independence Day (observed)
TUESDAY = "2026-11-24T10:00:00-05:00"
HOSPITAL_DIR = "examples/hospital"


def by_key(paths: tuple[CallPath, ...]) -> dict[tuple[str, ...], CallPath]:
    return {path.key(): path for path in paths}


# --- enumerate_paths on the hospital --------------------------------------------------------------


def test_billing_has_the_new_york_and_central_branches_with_their_outcomes(
    hospital: LoadedDeployment,
) -> None:
    report = enumerate_paths(hospital.compiled, BILLING)
    assert not report.truncated
    assert len(report.paths) == 15
    assert {path.flow for path in report.paths} == {"billing"}
    ny, central = 'when caller.state == "NY"', 'when caller.type != "geographic"'
    outcomes = {key: path.outcome for key, path in by_key(report.paths).items()}
    assert outcomes[(BILLING, ny, "open", "answered")] == "connected to billing-ny"
    assert outcomes[(BILLING, central, "open", "answered")] == "connected to billing-central"
    assert outcomes[(BILLING, "else", "open", "answered")] == "connected to billing-central"
    assert outcomes[(BILLING, ny, "open", "no-answer", "outcome handled")] == (
        "offshore-center answered and reported handled, then hangup"
    )
    assert outcomes[(BILLING, ny, "open", "no-answer", "outcome needs-office")] == (
        "offshore-center answered and reported needs-office, ticket on board billing, then hangup"
    )
    assert outcomes[(BILLING, ny, "open", "no-answer", "no-answer")] == (
        "voicemail for board billing"
    )
    assert outcomes[(BILLING, ny, "closed")] == "voicemail for board billing"
    # the module's hours node has no holiday link of its own: no separate holiday path
    assert not any("holiday" in key for key in outcomes)


def test_a_path_lists_each_node_with_its_kind_and_choice(hospital: LoadedDeployment) -> None:
    paths = by_key(enumerate_paths(hospital.compiled, BILLING).paths)
    key = (BILLING, 'when caller.state == "NY"', "open", "no-answer", "outcome needs-office")
    steps = [(step.node, step.kind, step.choice) for step in paths[key].steps]
    assert steps == [
        ("billing/route-by-state", "branch", 'when caller.state == "NY"'),
        ("billing/new-york", "use", "enter"),
        ("billing/new-york.check-hours", "hours", "open"),
        ("billing/new-york.ring-office", "ring", "no-answer"),
        ("billing/new-york.ring-overflow", "ring", "outcome needs-office"),
        ("billing/new-york.office-ticket", "ticket", "next"),
        ("billing/new-york.tell-callback", "say", "next"),
        ("billing/new-york.done", "hangup", "end"),
    ]
    assert paths[key].steps[3].detail == "rings billing-ny for 12s"


def test_path_counts_per_number(hospital: LoadedDeployment) -> None:
    report = enumerate_paths(hospital.compiled)
    assert not report.truncated
    counts = Counter(path.entry for path in report.paths)
    assert counts == {
        "+12125550100": 4,  # er: nurse, backup, both at once, advice and hang up
        "+12125550111": 40,  # ivr: five offices (billing has three branches) and the fallback
        "+12125550199": 40,
        "+12125550120": 5,  # office-ringover: answered, handled, needs-office, voicemail, closed
        "+12125550130": 5,
        "+12125550140": 15,
        "+12125550150": 5,
    }
    keys = [path.key() for path in report.paths]
    assert len(set(keys)) == len(keys)


def test_emergency_paths_and_the_menu_fallback(hospital: LoadedDeployment) -> None:
    er = [path.outcome for path in enumerate_paths(hospital.compiled, "+12125550100").paths]
    assert er == [
        "connected to er-nurse",
        "connected to er-nurse-backup",
        "connected to er-nurse or er-nurse-backup",
        "hangup (no nurse answered)",
    ]
    ivr = by_key(enumerate_paths(hospital.compiled, MAIN_LINE).paths)
    fallback = ivr[(MAIN_LINE, "no input (retries used up)", "open", "answered")]
    assert fallback.outcome == "connected to front-desk-office"
    assert fallback.steps[1].node == "front-desk/office"  # the path crosses into another flow
    assert ivr[(MAIN_LINE, "digit 1", "closed")].outcome == "voicemail for board cardiology"


def test_outcomes_never_name_nodes(hospital: LoadedDeployment) -> None:
    node_ids = {key[1].rsplit(".", 1)[-1] for key in hospital.compiled.nodes}
    for path in enumerate_paths(hospital.compiled).paths:
        words = set(path.outcome.replace(",", " ").split())
        assert not words & (node_ids - {"done"}), path.outcome


def test_an_unknown_number_names_the_numbers(hospital: LoadedDeployment) -> None:
    with pytest.raises(UnknownNumber) as raised:
        enumerate_paths(hospital.compiled, "+19995550000")
    assert BILLING in raised.value.numbers
    assert BILLING in str(raised.value)


def test_max_paths_truncates_and_says_so(hospital: LoadedDeployment) -> None:
    report = enumerate_paths(hospital.compiled, max_paths=3)
    assert report.truncated
    assert len(report.paths) == 3
    exact = enumerate_paths(hospital.compiled, BILLING, max_paths=15)
    assert not exact.truncated and len(exact.paths) == 15


# --- small deployments ----------------------------------------------------------------------------

OFFICE = """
    flow: main
    start: {welcome}
    nodes:
      {welcome}:
        menu: 'Press 1 for the office.'
        options:
          '1': {hours}
        retries: 1
        timeout: 5s
        fallback: {bye}
      {hours}:
        hours: office-hours
        open: {ring}
        closed: {bye}
        holiday: {message}
      {ring}:
        ring: [office, backup]
        timeout: 20s
        'on':
          busy: {message}
          no-answer: {ticket}
      {ticket}:
        ticket: office-board
        sla: 1h
        next: {bye}
      {message}:
        voicemail: office-board
        prompt: Leave a message.
        max_length: 1m
      {bye}:
        hangup: closed
"""
SCHEDULE = (
    MINIMAL_DEPLOYMENT
    + """
    schedules:
      office-hours:
        timezone: America/New_York
        weekly:
          mon-fri: 09:00-17:00
        holidays: US
    boards:
      office-board: {name: Office}
"""
)
NAMES = {"welcome": "welcome", "hours": "hours", "ring": "ring-office", "ticket": "ticket"}
RENAMED = {"welcome": "greeting", "hours": "opening", "ring": "call-desk", "ticket": "raise"}


def office_paths(root: Path, names: dict[str, str]) -> tuple[CallPath, ...]:
    text = OFFICE.format(**names, message=names["ticket"] + "-vm", bye=names["hours"] + "-bye")
    loaded = load_deployment(write_files(root, {"deployment.yaml": SCHEDULE, "main.yaml": text}))
    report = enumerate_paths(loaded.compiled)
    assert not report.truncated
    return report.paths


def test_keys_and_outcomes_survive_renaming_nodes(tmp_path: Path) -> None:
    before = office_paths(tmp_path / "before", NAMES)
    after = office_paths(tmp_path / "after", RENAMED)
    assert [p.key() for p in before] == [p.key() for p in after]
    assert [p.outcome for p in before] == [p.outcome for p in after]
    assert [s.node for s in before[0].steps] != [s.node for s in after[0].steps]


def test_distinct_implicit_outcomes_get_paths_of_their_own(tmp_path: Path) -> None:
    paths = by_key(office_paths(tmp_path, NAMES))
    entry = "+12125550100"
    assert set(paths) == {
        (entry, "digit 1", "open", "answered"),
        (entry, "digit 1", "open", "no-answer"),
        (entry, "digit 1", "open", "busy"),  # a handler of its own, elsewhere than no-answer
        (entry, "digit 1", "closed"),
        (entry, "digit 1", "holiday"),  # the hours node links holidays to their own node
        (entry, "no input (retries used up)"),
    }  # failed takes the no-answer handler: no path of its own
    assert paths[(entry, "digit 1", "open", "answered")].outcome == "connected to office or backup"
    assert paths[(entry, "digit 1", "open", "no-answer")].outcome == (
        "ticket on board office-board, then hangup (closed)"
    )
    assert paths[(entry, "digit 1", "holiday")].outcome == "voicemail for board office-board"
    assert paths[(entry, "no input (retries used up)")].outcome == "hangup (closed)"


LOOP = """
    flow: main
    start: welcome
    nodes:
      welcome:
        menu: 'Press 1 for the office.'
        options:
          '1': ring-office
        retries: 0
        timeout: 5s
        fallback: sorry
        attempts: 3  # every loop has a bound; the path bound (2 visits) cuts it first
        exhausted: bye
      sorry:
        say: Sorry.
        next: welcome
      ring-office:
        ring: office
        timeout: 20s
        'on':
          no-answer: welcome
      bye:
        hangup:
"""


def test_a_looping_flow_is_cut_by_the_visit_bound_and_reported(
    deployment_dir: Callable[[dict[str, str]], Path],
) -> None:
    loaded = load_deployment(deployment_dir({"main.yaml": LOOP}))
    report = enumerate_paths(loaded.compiled)
    assert report.truncated
    stopped = [path for path in report.paths if path.outcome == STOPPED]
    assert stopped
    for path in report.paths:
        assert max(Counter(step.node for step in path.steps).values()) <= 2
    once = enumerate_paths(loaded.compiled, max_visits=1)
    assert once.truncated
    assert [p.outcome for p in once.paths] == ["connected to office", STOPPED, STOPPED]


# --- who answers: the real runtime at one time ----------------------------------------------------


def rings(turn: Turn) -> list[str]:
    """The targets rung in this turn."""
    return [t["name"] for a in turn.actions if a["type"] == "ring" for t in a["targets"]]


def test_billing_rings_new_york_then_the_offshore_center(hospital: LoadedDeployment) -> None:
    call = explore_call(hospital, BILLING, datetime.fromisoformat(TUESDAY), NY_CALLER)
    assert call.flow == "billing" and not call.truncated
    assert rings(call.first) == ["billing-ny"]
    answered, nobody = call.first.then
    assert answered.event == "billing-ny answers" and answered.end == "connected to billing-ny"
    assert nobody.event == "no answer from billing-ny"
    assert rings(nobody) == ["offshore-center"]
    assert [turn.event for turn in nobody.then] == [
        "offshore-center answers",
        "no answer from offshore-center",
    ]
    reported = [turn.event for turn in nobody.then[0].then]
    assert reported == ["they report handled", "they report needs-office"]
    endings = [(e.events[-1], e.end, [t["board"] for t in e.tickets]) for e in call.endings()]
    assert endings == [
        ("billing-ny answers", "connected to billing-ny", []),
        ("they report handled", "hangup", []),
        ("they report needs-office", "hangup", ["billing"]),
        ("message recorded", "hangup (voicemail recorded)", ["billing"]),
    ]


def test_a_withheld_caller_reaches_central_billing(hospital: LoadedDeployment) -> None:
    call = explore_call(hospital, BILLING, datetime.fromisoformat(TUESDAY))
    assert call.caller == "anonymous"
    assert rings(call.first) == ["billing-central"]
    assert any('caller.type != "geographic"' in reason for reason in call.first.reasons)


def test_on_the_holiday_every_option_leaves_a_message_due_at_the_next_opening(
    hospital: LoadedDeployment,
) -> None:
    call = explore_call(hospital, MAIN_LINE, datetime.fromisoformat(HOLIDAY))
    (schedule,) = call.schedules
    assert (schedule.state, schedule.holiday) == ("holiday", "Independence Day (observed)")
    assert schedule.next_open == datetime.fromisoformat("2026-07-06T08:00:00-04:00")
    options = [turn.event for turn in call.first.then]
    assert options == [
        "digit 1",
        "digit 2",
        "digit 3",
        "digit 4",
        "digit 0",
        "no input (3 times: the menu's fallback)",
    ]
    for turn in call.first.then:
        assert any("holiday (Independence Day (observed))" in r for r in turn.reasons)
        assert [a["type"] for a in turn.actions] == ["voicemail"]
    endings = call.endings()
    assert len(endings) == 6
    for ending in endings:
        (ticket,) = ending.tickets
        assert ticket["due"] == "2026-07-06T12:00:00Z"
        assert ending.end == "hangup (voicemail recorded)"


def test_explore_refuses_an_unknown_number(hospital: LoadedDeployment) -> None:
    with pytest.raises(UnknownNumber):
        explore_call(hospital, "+19995550000", datetime.fromisoformat(TUESDAY))


# --- the command line -----------------------------------------------------------------------------


def test_cli_paths_for_billing() -> None:
    result = run_cli("paths", "examples/hospital", "--to", BILLING)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.rstrip().endswith(f"15 path(s) from {BILLING}, complete")
    assert out.count("path ") >= 15
    assert 'when caller.state == "NY"' in out
    assert "=> connected to billing-ny" in out
    assert "outcome needs-office" in out
    assert "=> offshore-center answered and reported needs-office, ticket on board billing" in out


def test_cli_paths_json_and_the_path_bound() -> None:
    result = run_cli("paths", "examples/hospital", "--format", "json", "--max-paths", "7")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["count"] == 7 and data["truncated"] is True
    first = data["paths"][0]
    assert first["entry"] == "+12125550100" and first["outcome"] == "connected to er-nurse"
    assert first["key"] == ["+12125550100", "answered"]
    assert first["steps"][0]["kind"] == "ring"


def test_cli_paths_refuses_unknown_numbers_and_broken_deployments() -> None:
    unknown = run_cli("paths", "examples/hospital", "--to", "+19995550000")
    assert unknown.returncode == 2
    assert "no entry for +19995550000" in unknown.stderr and BILLING in unknown.stderr
    broken = run_cli("paths", str(FIXTURES / "five-mistakes"))
    assert broken.returncode == 1
    assert "cannot list paths" in broken.stderr


def test_cli_who_answers_explains_the_holiday() -> None:
    result = run_cli("who-answers", HOSPITAL_DIR, MAIN_LINE, "--at", HOLIDAY)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "caller anonymous (a withheld number)" in out
    assert (
        "schedule office-hours: closed for Independence Day (observed) at this time; "
        "it next opens 2026-07-06T08:00:00-04:00" in out
    )
    assert "hours office.check-hours: office-hours holiday (Independence Day (observed))" in out
    assert 'voicemail for board cardiology: "The Cardiology office is closed.' in out
    assert "- no input (3 times: the menu's fallback):" in out
    due = "due 2026-07-06T08:00:00-04:00 (when office-hours next opens)"
    assert out.count(due) == 12  # in the tree and in the list of endings, for six options
    assert "6 way(s) the call can end:" in out


def test_cli_who_answers_rings_billing_ny_then_offshore() -> None:
    result = run_cli("who-answers", HOSPITAL_DIR, BILLING, "--at", TUESDAY, "--from", NY_CALLER)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    ny, offshore = out.index("ring billing-ny for 12s"), out.index("ring offshore-center for 30s")
    assert ny < out.index("- no answer from billing-ny:") < offshore
    assert "=> connected to billing-ny" in out
    assert "- they report handled:" in out and "- they report needs-office:" in out
    assert "schedule office-hours: open at this time" in out


def test_cli_who_answers_json() -> None:
    result = run_cli("who-answers", HOSPITAL_DIR, BILLING, "--at", TUESDAY, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["caller"] == "anonymous" and data["flow"] == "billing"
    assert data["call"]["ringing"] == ["billing-central"]
    assert len(data["endings"]) == 4
    assert data["endings"][0]["end"] == "connected to billing-central"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "2026-11-24T10:00:00"], "needs a UTC offset"),
        (["--at", "tomorrow"], "is not an ISO time"),
        (["--at", TUESDAY, "--from", "555"], "not an E.164 phone number"),
    ],
)
def test_cli_who_answers_refuses_bad_input(args: list[str], message: str) -> None:
    result = run_cli("who-answers", HOSPITAL_DIR, BILLING, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_cli_who_answers_takes_the_deployment_first_like_every_command() -> None:
    first = run_cli("who-answers", HOSPITAL_DIR, BILLING, "--at", TUESDAY, "--format", "json")
    option = run_cli(  # the older form, the deployment as an option, still works
        "who-answers", BILLING, "--at", TUESDAY, "--format", "json", "--deployment", HOSPITAL_DIR
    )
    assert first.returncode == option.returncode == 0, first.stderr + option.stderr
    assert json.loads(first.stdout) == json.loads(option.stdout)
    assert json.loads(first.stdout)["flow"] == "billing"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [BILLING, "--at", TUESDAY],
            "who-answers needs the deployment, then the number: got only '+12125550140' (that "
            "looks like the number); write: who-answers DEPLOYMENT NUMBER --at TIME",
        ),
        (
            [HOSPITAL_DIR, BILLING, "--at", TUESDAY, "--deployment", HOSPITAL_DIR],
            "the deployment is given twice",
        ),
    ],
)
def test_cli_who_answers_says_how_to_give_the_deployment(args: list[str], message: str) -> None:
    result = run_cli("who-answers", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_cli_who_answers_refuses_an_unknown_number() -> None:
    result = run_cli("who-answers", HOSPITAL_DIR, "+19995550000", "--at", TUESDAY)
    assert result.returncode == 2
    assert "no entry for +19995550000" in result.stderr and BILLING in result.stderr


# --- found in review ---------------------------------------------------------------------------


def test_who_answers_tries_busy_where_it_leads_elsewhere(tmp_path: Path) -> None:
    text = OFFICE.format(**NAMES, message="ticket-vm", bye="hours-bye")
    files = {"deployment.yaml": SCHEDULE, "main.yaml": text}
    loaded = load_deployment(write_files(tmp_path, files))
    exploration = explore_call(
        loaded, "+12125550100", datetime.fromisoformat("2026-11-24T10:00:00-05:00")
    )
    endings = [(ending.events, ending.end) for ending in exploration.endings()]
    busy = [(events, end) for events, end in endings if "backup busy" in events]
    # busy has a handler of its own (a voicemail): tried at the last target, where it differs
    assert busy == [
        (("digit 1", "no answer from office", "backup busy", "message recorded"),
         "hangup (voicemail recorded)")
    ]  # fmt: skip
    assert not any("office busy" in events for events, _ in endings)


def test_a_prefix_entry_enters_its_own_flow(tmp_path: Path) -> None:
    deployment = SCHEDULE.replace(
        '"+12125550100": main', '"+1212555*": main\n      "+1212555": other'
    )
    other = OFFICE.format(**NAMES, message="ticket-vm", bye="hours-bye").replace(
        "flow: main", "flow: other"
    )
    main = OFFICE.format(**NAMES, message="ticket-vm", bye="hours-bye")
    files = {"deployment.yaml": deployment, "main.yaml": main, "o.yaml": other}
    report = enumerate_paths(load_deployment(write_files(tmp_path, files)).compiled)
    entered = {(p.entry, p.flow) for p in report.paths}
    assert entered == {("+1212555*", "main"), ("+1212555", "other")}


def test_who_answers_names_a_bad_dialed_number(tmp_path: Path) -> None:
    deployment = SCHEDULE.replace('"+12125550100": main', '"+1212555*": main')
    main = OFFICE.format(**NAMES, message="ticket-vm", bye="hours-bye")
    root = write_files(tmp_path, {"deployment.yaml": deployment, "main.yaml": main})
    result = run_cli("who-answers", "+1212555x", "--at", TUESDAY, "--deployment", str(root))
    assert result.returncode == 2
    assert "NUMBER '+1212555x'" in result.stderr and "--from" not in result.stderr
