"""Flow diff: pairs of deployments with known changes; what changes for calls, nodes and edges;
the hospital against a changed copy; `cli.py diff` in text and JSON, on directories and on git
revisions (`REV:DIR`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, write_files

from routing_engine import load_deployment
from routing_engine.review.diff import DeploymentDiff, diff_deployments
from routing_engine.review.diff_changes import Change, Status

DEPLOYMENT = """
    deployment: small
    fallback: {ring: desk}
    entries:
      "+12125550100": main
    targets:
      desk: {uri: "sip:desk@example.com"}
      office: {uri: "sip:office@example.com"}
      backup: {uri: "sip:backup@example.com"}
    boards:
      desk-board: {name: Desk}
"""
MAIN = """
    flow: main
    start: route
    nodes:
      route:
        branch:
          - when: 'caller.state == "NY"'
            then: ring-office
        else: ring-desk
      ring-office:
        ring: office
        timeout: 2 rings
        on: {no-answer: ring-backup}
      ring-desk:
        ring: desk
        timeout: 20s
        on: {no-answer: bye}
      ring-backup:
        ring: backup
        on: {no-answer: bye}
      bye:
        hangup: nobody answered
"""
NY = 'when caller.state == "NY"'


def build(root: Path, main: str = MAIN, deployment: str = DEPLOYMENT) -> Path:
    return write_files(root, {"deployment.yaml": deployment, "main.yaml": main})


def diff(tmp_path: Path, main: str = MAIN, deployment: str = DEPLOYMENT) -> DeploymentDiff:
    """The small deployment against a changed copy of it."""
    old = load_deployment(build(tmp_path / "old")).compiled
    new = load_deployment(build(tmp_path / "new", main, deployment)).compiled
    return diff_deployments(old, new)


def of(found: DeploymentDiff, status: Status) -> list[tuple[tuple[str, ...], str | None]]:
    return [
        (c.key, c.old if status is Status.REMOVED else c.new)
        for c in found.outcomes
        if c.status is status
    ]


def test_the_same_deployment_has_no_changes(tmp_path: Path) -> None:
    found = diff(tmp_path)
    assert not found.changed and found.old.hash == found.new.hash
    assert found.to_json()["outcomes"] == {
        "changed": [],
        "added": [],
        "removed": [],
        "truncated": False,
        "callers": [],
        "unsure": [],
    }


def test_a_ring_target_swapped_changes_where_calls_end(tmp_path: Path) -> None:
    found = diff(tmp_path, MAIN.replace("ring: office", "ring: backup"))
    [changed] = found.outcomes
    assert changed.status is Status.CHANGED
    assert (changed.entry, changed.flow, changed.key) == (
        "+12125550100",
        "main",
        ("+12125550100", NY, "answered"),
    )
    assert (changed.old, changed.new) == ("connected to office", "connected to backup")
    [node] = found.nodes
    assert (node.unit, node.node, node.status) == ("main", "ring-office", Status.CHANGED)
    assert node.changes == (Change("targets", "office", "backup"),)
    assert found.edges == () and found.entries == ()


def test_a_condition_rewritten_names_the_callers_it_moves(tmp_path: Path) -> None:
    """NY -> NJ: New York callers now take else (the desk), New Jersey callers the office;
    the paths through the rewritten case end as before, so none is reported gone or new."""
    found = diff(tmp_path, MAIN.replace('"NY"', '"NJ"'))
    assert found.outcomes == ()
    moves = {(m.old_choice, m.new_choice): m for m in found.callers}
    assert set(moves) == {(NY, "else"), ("else", 'when caller.state == "NJ"')}
    to_desk, to_office = moves[(NY, "else")], moves[("else", 'when caller.state == "NJ"')]
    assert to_desk.callers == ("US-NY",) and to_desk.example.startswith("+1")
    assert to_office.callers == ("US-NJ",)
    assert to_desk.node == "main/route"
    assert to_desk.old_outcomes[0] == "connected to office"
    assert to_desk.new_outcomes[0] == "connected to desk"
    [node] = found.nodes
    assert node.changes == (Change("case 1 when", 'caller.state == "NY"', 'caller.state == "NJ"'),)
    assert found.edges == ()  # the case leads where it did


def test_a_condition_widened_moves_only_the_new_callers(tmp_path: Path) -> None:
    found = diff(tmp_path, MAIN.replace('"NY"', '"NY" or caller.type != "geographic"'))
    assert found.outcomes == ()
    [move] = found.callers
    assert move.callers == ("toll-free", "international", "withheld")
    assert (move.old_choice, move.new_choice) == (
        "else",
        'when caller.state == "NY" or caller.type != "geographic"',
    )
    text = run_cli("diff", str(tmp_path / "old"), str(tmp_path / "new")).stdout
    assert "at main/route, calls from toll-free, international, withheld (e.g. +1800" in text
    assert "used to take: else" in text
    assert "ending: connected to desk (and 1 ending both share)" in text
    assert "ending: connected to office | connected to backup (and 1 ending both share)" in text


def test_a_node_added_in_the_middle_changes_structure_but_no_outcome(tmp_path: Path) -> None:
    main = MAIN.replace("else: ring-desk", "else: greet").replace(
        "  ring-desk:\n",
        "  greet:\n        say: Please hold.\n        next: ring-desk\n      ring-desk:\n",
    )
    found = diff(tmp_path, main)
    assert found.changed and found.outcomes == ()
    assert [(n.node, n.kind, n.status) for n in found.nodes] == [("greet", "say", Status.ADDED)]
    assert [(e.node, e.outcome, e.status, e.old, e.new) for e in found.edges] == [
        ("greet", "next", Status.ADDED, None, "ring-desk"),
        ("route", "else", Status.REWIRED, "ring-desk", "greet"),
    ]


def test_a_ticket_added_in_the_middle_changes_the_outcome(tmp_path: Path) -> None:
    main = MAIN.replace(
        "on: {no-answer: bye}\n      ring-backup",
        "on: {no-answer: note}\n"
        "      note:\n        ticket: desk-board\n        next: bye\n"
        "      ring-backup",
    )
    found = diff(tmp_path, main)
    [changed] = found.outcomes
    assert changed.key == ("+12125550100", "else", "no-answer")
    assert changed.when == ("else at route", "no-answer")
    assert (changed.old, changed.new) == (
        "hangup (nobody answered)",
        "ticket on board desk-board, then hangup (nobody answered)",
    )


def test_an_entry_added_and_one_removed(tmp_path: Path) -> None:
    moved = DEPLOYMENT.replace('"+12125550100": main', '"+12125550199": main')
    found = diff(tmp_path, deployment=moved)
    assert [(e.number, e.status, e.old, e.new) for e in found.entries] == [
        ("+12125550100", Status.REMOVED, "main", None),
        ("+12125550199", Status.ADDED, None, "main"),
    ]
    added, removed = of(found, Status.ADDED), of(found, Status.REMOVED)
    assert len(added) == len(removed) == 5  # every path of the flow, under each number
    assert {key[0] for key, _ in added} == {"+12125550199"}
    assert {key[0] for key, _ in removed} == {"+12125550100"}
    assert [key[1:] for key, _ in added] == [key[1:] for key, _ in removed]
    assert found.nodes == () and found.edges == ()


def test_a_lines_and_a_flows_own_fallback_changed_are_shown(tmp_path: Path) -> None:
    own = DEPLOYMENT.replace(
        '"+12125550100": main', '"+12125550100": {flow: main, fallback: {ring: office}}'
    )
    flow = MAIN.replace("flow: main\n", "flow: main\n    fallback: {ring: backup}\n", 1)
    found = diff(tmp_path, flow, deployment=own)
    assert [(e.number, e.status, e.old, e.new) for e in found.entries] == [
        (
            "+12125550100",
            Status.CHANGED,
            "main",
            "main (fallback: targets office; timeout 30s)",
        ),
    ]
    assert [(d.what, d.name, d.changes) for d in found.definitions] == [
        (
            "flow",
            "main",
            (Change("fallback targets", None, "backup"), Change("fallback timeout", None, "30s")),
        ),
    ]


def test_a_timeout_changed_is_a_node_change_only(tmp_path: Path) -> None:
    found = diff(tmp_path, MAIN.replace("timeout: 20s", "timeout: 45s"))
    [node] = found.nodes
    assert (node.node, node.kind, node.changes) == (
        "ring-desk",
        "ring",
        (Change("timeout", "20s", "45s"),),
    )
    assert found.outcomes == () and found.edges == ()


def test_definitions_targets_and_settings(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace("sip:backup@", "sip:backup2@").replace(
        "fallback: {ring: desk}", "fallback: {ring: office}\n    ring_cadence: 5s"
    )
    found = diff(tmp_path, deployment=deployment)
    assert [(d.what, d.name, d.status, d.changes) for d in found.definitions] == [
        (
            "deployment",
            "settings",
            Status.CHANGED,
            (Change("fallback targets", "desk", "office"), Change("ring cadence", "6s", "5s")),
        ),
        (
            "target",
            "backup",
            Status.CHANGED,
            (Change("uri", "sip:backup@example.com", "sip:backup2@example.com"),),
        ),
    ]


# --- the hospital -----------------------------------------------------------------------------


@pytest.fixture
def hospital_copy(tmp_path: Path) -> Path:
    """A copy of the hospital that a test may change, with the shared modules beside it."""
    copy = tmp_path / "hospital"
    shutil.copytree(ROOT / "examples" / "hospital", copy)
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    edit(copy / "deployment.yaml", "../../flows", "../flows")
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_hospital_against_a_changed_copy(hospital_copy: Path) -> None:
    edit(hospital_copy / "flows" / "billing.yaml", "office: billing-ny", "office: billing-central")
    edit(hospital_copy.parent / "flows" / "office-ringover.yaml", "default: 15m", "default: 30m")
    simultaneous = "strategy: simultaneous\n    timeout: "  # ring-both's, not the fallback's
    edit(hospital_copy / "flows" / "er.yaml", f"{simultaneous}30s", f"{simultaneous}40s")
    old = load_deployment(ROOT / "examples" / "hospital").compiled
    found = diff_deployments(old, load_deployment(hospital_copy).compiled)
    changed = {(c.entry, c.when, c.old, c.new) for c in found.outcomes}
    assert changed == {
        (
            number,
            (*digit, NY, "office-hours open", "answered"),
            "connected to billing-ny",
            "connected to billing-central",
        )
        for number, digit in (
            ("+12125550140", ()),
            ("+12125550111", ("digit 3",)),
            ("+12125550199", ("digit 3",)),
        )
    }
    assert [(n.unit, n.node, n.changes) for n in found.nodes] == [
        ("billing", "new-york", (Change("with office", "billing-ny", "billing-central"),)),
        ("er", "ring-both", (Change("timeout", "30s", "40s"),)),
    ]
    # a module changed once shows once, not once per use
    assert [(d.what, d.name, d.changes) for d in found.definitions] == [
        ("module", "office-ringover", (Change("param sla", "duration = 15m", "duration = 30m"),))
    ]
    assert found.edges == () and found.entries == ()


# --- the command line -------------------------------------------------------------------------


def test_the_cli_text_puts_outcome_changes_first(tmp_path: Path) -> None:
    old = build(tmp_path / "old")
    new = build(tmp_path / "new", MAIN.replace("ring: office", "ring: backup").replace("20s", "9s"))
    result = run_cli("diff", str(old), str(new))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "paths: 1 end differently, 0 new, 0 gone; changed: 2 nodes" in text
    assert (
        'a call to +12125550100 (main): when caller.state == "NY", answered\n'
        "      used to: connected to office\n"
        "      now:     connected to backup"
    ) in text
    assert "~ main/ring-desk (ring): timeout: 20s -> 9s" in text
    assert "~ main/ring-office (ring): targets: office -> backup" in text
    assert text.index("end differently") < text.index("Nodes:")
    same = run_cli("diff", str(old), str(old))
    assert same.returncode == 0 and "no changes" in same.stdout


def test_the_cli_json_is_the_diff(tmp_path: Path) -> None:
    old = build(tmp_path / "old")
    new = build(
        tmp_path / "new",
        MAIN.replace(
            "no-answer: bye}\n      ring-backup", "no-answer: ring-backup}\n      ring-backup"
        ),
    )
    result = run_cli("diff", str(old), str(new), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["changed"] is True
    assert data["old"]["hash"] != data["new"]["hash"]
    assert data["edges"] == {
        "rewired": [
            {
                "unit": "main",
                "node": "ring-desk",
                "outcome": "no-answer",
                "label": "no-answer",
                "status": "rewired",
                "old": "bye",
                "new": "ring-backup",
            }
        ],
        "added": [],
        "removed": [],
    }
    outcomes = data["outcomes"]
    assert outcomes["truncated"] is False and outcomes["changed"] == []
    assert [(o["key"], o["when"], o["old"]) for o in outcomes["removed"]] == [
        (
            ["+12125550100", "else", "no-answer"],
            ["else at route", "no-answer"],
            "hangup (nobody answered)",
        ),
    ]
    assert [(o["key"][1:], o["new"]) for o in outcomes["added"]] == [
        (["else", "no-answer", "answered"], "connected to backup"),
        (["else", "no-answer", "no-answer"], "hangup (nobody answered)"),
    ]


def test_the_cli_exit_codes(tmp_path: Path) -> None:
    good = build(tmp_path / "good")
    bad = build(tmp_path / "bad", MAIN.replace("ring: office", "ring: ofice"))
    broken = run_cli("diff", str(good), str(bad))
    assert broken.returncode == 1
    assert "did you mean 'office'?" in broken.stderr and "cannot diff" in broken.stderr
    missing = run_cli("diff", str(good), str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


# --- git revisions ----------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )


MODULE = """
    module: try
    params:
      office: target
    exits: [nobody]
    start: ring
    nodes:
      ring:
        ring: $office
        on: {no-answer: nobody}
"""
USING = """
    flow: main
    start: first
    nodes:
      first:
        use: try
        with: {office: office}
        exits: {nobody: bye}
      bye:
        hangup: nobody answered
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with two commits of app/ (which uses modules in ../lib): the second
    rings the desk instead of the office, and leaves app/ broken in a third."""
    root = tmp_path / "repo"
    deployment = DEPLOYMENT + "    modules: [../lib]\n"
    write_files(root, {"app/deployment.yaml": deployment, "app/main.yaml": USING})
    write_files(root, {"lib/try.yaml": MODULE})
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    write_files(root, {"app/main.yaml": USING.replace("office: office", "office: desk")})
    git(root, "commit", "-q", "-am", "second")
    return root


def test_git_revisions_are_read_with_their_module_folders(repo: Path) -> None:
    result = run_cli("diff", "HEAD~1:app", "HEAD:app", "--format", "json", cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(o["key"], o["old"], o["new"]) for o in data["outcomes"]["changed"]] == [
        (["+12125550100", "answered"], "connected to office", "connected to desk")
    ]
    against_dir = run_cli("diff", "HEAD~1:app", "app", "--format", "json", cwd=repo)
    assert json.loads(against_dir.stdout) == data  # the same files: the same hashes
    in_subfolder = run_cli("diff", "HEAD~1:.", ".", cwd=repo / "app")
    assert in_subfolder.returncode == 0 and "connected to desk" in in_subfolder.stdout


def test_git_revision_problems(repo: Path, tmp_path: Path) -> None:
    unknown = run_cli("diff", "nope:app", "app", cwd=repo)
    assert unknown.returncode == 2 and "no git revision 'nope'" in unknown.stderr
    no_dir = run_cli("diff", "HEAD~1:elsewhere", "app", cwd=repo)
    assert no_dir.returncode == 2 and "has no directory 'elsewhere'" in no_dir.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    no_repo = run_cli("diff", "HEAD:app", str(repo / "app"), cwd=outside)
    assert no_repo.returncode == 2 and "not inside a git repository" in no_repo.stderr
    write_files(repo, {"app/main.yaml": USING.replace("use: try", "use: tyr")})
    git(repo, "commit", "-q", "-am", "broken")
    broken = run_cli("diff", "HEAD~1:app", "HEAD:app", cwd=repo)
    assert broken.returncode == 1
    assert "HEAD:app/main.yaml:5:" in broken.stderr  # named as git names it, not a temp path


# --- found in review ---------------------------------------------------------------------------

TWO_CASES = """
    flow: main
    start: route
    nodes:
      route:
        branch:
          - when: 'caller.state == "NY"'
            then: ring-office
          - when: 'caller.state == "TX"'
            then: ring-backup
        else: ring-desk
      ring-office:
        ring: office
        on: {no-answer: bye}
      ring-desk:
        ring: desk
        on: {no-answer: bye}
      ring-backup:
        ring: backup
        on: {no-answer: bye}
      bye:
        hangup: nobody answered
"""


def pair(tmp_path: Path, old_files: dict[str, str], new_files: dict[str, str]) -> DeploymentDiff:
    old = load_deployment(write_files(tmp_path / "old", old_files)).compiled
    new = load_deployment(write_files(tmp_path / "new", new_files)).compiled
    return diff_deployments(old, new)


def test_a_case_inserted_first_moves_only_its_callers(tmp_path: Path) -> None:
    inserted = TWO_CASES.replace(
        "      branch:\n",
        "      branch:\n"
        "          - when: 'caller.state == \"CA\"'\n"
        "            then: ring-backup\n",
    )
    found = pair(
        tmp_path,
        {"deployment.yaml": DEPLOYMENT, "main.yaml": TWO_CASES},
        {"deployment.yaml": DEPLOYMENT, "main.yaml": inserted},
    )
    # the new case is a new way through; NY and TX callers end as they did
    assert {(c.status, c.key[1]) for c in found.outcomes} == {
        (Status.ADDED, 'when caller.state == "CA"')
    }
    [move] = found.callers
    assert (move.callers, move.old_choice, move.new_choice) == (
        ("US-CA",),
        "else",
        'when caller.state == "CA"',
    )


def test_the_same_text_in_another_flow_is_not_a_rewrite(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace(
        '"+12125550100": main', '"+12125550100": main\n      "+12125550101": other'
    )
    other = MAIN.replace("flow: main", "flow: other")
    found = pair(
        tmp_path,
        {"deployment.yaml": deployment, "main.yaml": MAIN, "other.yaml": other},
        {"deployment.yaml": deployment, "other.yaml": other,
         "main.yaml": MAIN.replace('"NY"', '"NJ"')},
    )  # fmt: skip
    assert found.outcomes == ()
    assert {move.node for move in found.callers} == {"main/route"}


def test_a_condition_on_the_dialed_number_names_the_numbers(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace(
        '"+12125550100": main', '"+12125550100": main\n      "+12125550101": main'
    )
    old = MAIN.replace('caller.state == "NY"', 'dialed == "+12125550100"')
    new = MAIN.replace('caller.state == "NY"', 'dialed == "+12125550101"')
    found = pair(
        tmp_path,
        {"deployment.yaml": deployment, "main.yaml": old},
        {"deployment.yaml": deployment, "main.yaml": new},
    )  # fmt: skip
    moves = {(m.old_choice, m.new_choice): m for m in found.callers}
    away = moves[('when dialed == "+12125550100"', "else")]
    to = moves[("else", 'when dialed == "+12125550101"')]
    assert (away.dialed, away.every_caller) == (("+12125550100",), True)
    assert (to.dialed, to.every_caller) == (("+12125550101",), True)
    text = run_cli("diff", str(tmp_path / "old"), str(tmp_path / "new")).stdout
    assert "at main/route, calls to +12125550101 from any caller:" in text


def test_a_condition_on_call_variables_is_flagged_unsure(tmp_path: Path) -> None:
    found = diff(tmp_path, MAIN.replace('caller.state == "NY"', "vars.vip == true"))
    assert found.unsure == ("main/route",)
    text = run_cli("diff", str(tmp_path / "old"), str(tmp_path / "new")).stdout
    assert "note: the rewritten conditions at main/route read call variables" in text


def test_an_hours_schedule_swapped_changes_the_paths(tmp_path: Path) -> None:
    schedules = """
    schedules:
      week: {timezone: America/New_York, weekly: {mon-fri: '08:00-18:00'}}
      late: {timezone: America/New_York, weekly: {mon-fri: '12:00-20:00'}}
"""
    hours = """
    flow: main
    start: hours
    nodes:
      hours:
        hours: week
        open: ring-office
        closed: bye
      ring-office:
        ring: office
        on: {no-answer: bye}
      bye:
        hangup: closed
"""
    deployment = DEPLOYMENT + schedules
    found = pair(
        tmp_path,
        {"deployment.yaml": deployment, "main.yaml": hours},
        {"deployment.yaml": deployment, "main.yaml": hours.replace("hours: week", "hours: late")},
    )
    added = [c.key for c in found.outcomes if c.status is Status.ADDED]
    removed = [c.key for c in found.outcomes if c.status is Status.REMOVED]
    assert ("+12125550100", "late open", "answered") in added
    assert ("+12125550100", "week open", "answered") in removed


def test_each_entry_has_its_own_path_budget(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace(
        '"+12125550100": main', '"+12125550100": main\n      "+12125550101": other'
    )
    other = MAIN.replace("flow: main", "flow: other")
    files = {"deployment.yaml": deployment, "main.yaml": MAIN, "other.yaml": other}
    swapped = {**files, "main.yaml": MAIN.replace("ring: office", "ring: backup")}
    old = load_deployment(write_files(tmp_path / "old", files)).compiled
    new = load_deployment(write_files(tmp_path / "new", swapped)).compiled
    found = diff_deployments(old, new, max_paths=2)  # main has 4 paths: cut; other: cut too
    assert found.truncated
    assert all(c.status is Status.CHANGED for c in found.outcomes)  # nothing "gone" or "new"
    assert {c.entry for c in found.outcomes} == {"+12125550100"}


def test_a_deployment_renamed_is_a_change(tmp_path: Path) -> None:
    found = diff(tmp_path, deployment=DEPLOYMENT.replace("deployment: small", "deployment: clinic"))
    assert found.changed
    [settings] = [d for d in found.definitions if d.what == "deployment"]
    assert Change("name", "small", "clinic") in settings.changes
