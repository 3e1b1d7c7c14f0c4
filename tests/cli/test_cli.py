"""The command line as a user runs it: exit codes, text and JSON output, rules."""

from __future__ import annotations

import json
import re

from conftest import FIXTURES, run_cli

FIVE = FIXTURES / "five-mistakes"


def test_validate_hospital_is_clean() -> None:
    result = run_cli("validate", "examples/hospital")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "examples/hospital: ok: 0 error(s), 0 warning(s)" in result.stdout


def test_five_mistakes_are_all_reported_at_their_line_and_column() -> None:
    result = run_cli("validate", str(FIVE))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    found = re.findall(r"^\S+main\.yaml:(\d+):(\d+): (\w+) ", result.stdout, re.MULTILINE)
    assert sorted((int(line), int(column), code) for line, column, code in found) == [
        (8, 12, "S108"),
        (10, 14, "S105"),
        (14, 14, "S104"),
        (16, 7, "S110"),
        (17, 3, "G202"),
    ], result.stdout
    assert "5 error(s)" in result.stdout


def test_text_output_shows_the_line_a_caret_and_the_hint() -> None:
    result = run_cli("validate", str(FIVE))
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "S108" in line)
    assert lines[at].endswith("S108 no node or flow named 'ring-ofice' (from node 'welcome')")
    assert lines[at + 1].strip().startswith('"1": ring-ofice')
    assert lines[at + 2] == "    " + " " * 11 + "^" + "~" * 9
    assert lines[at + 3] == "    hint: did you mean 'ring-office'?"


def test_json_output_carries_the_same_records() -> None:
    result = run_cli("validate", str(FIVE), "--format", "json")
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert {(r["code"], r["line"], r["column"]) for r in records} == {
        ("S108", 8, 12),
        ("S105", 10, 14),
        ("S104", 14, 14),
        ("S110", 16, 7),
        ("G202", 17, 3),
    }
    assert set(records[0]) == {
        "code", "severity", "message", "file", "line", "column", "end_line", "end_column", "hint",
    }  # fmt: skip
    assert all(r["severity"] == "error" and r["file"].endswith("main.yaml") for r in records)


def test_validating_one_file_reads_its_whole_deployment() -> None:
    result = run_cli("validate", str(FIVE / "main.yaml"), "--format", "json")
    assert result.returncode == 1
    assert len(json.loads(result.stdout)) == 5


def test_several_paths_and_a_missing_one() -> None:
    result = run_cli("validate", "examples/hospital", "no/such/dir")
    assert result.returncode == 1
    assert "no such file or directory: no/such/dir" in result.stdout
    assert "examples/hospital: ok" in result.stdout


def test_warnings_alone_exit_zero(tmp_path) -> None:
    (tmp_path / "deployment.yaml").write_text(
        "deployment: w\nfallback: {ring: desk}\nentries: {'+12125550100': main}\n"
        "targets: {desk: {uri: 'sip:desk@example.com'}}\n"
    )
    (tmp_path / "main.yaml").write_text("flow: main\nstart: bye\nnodes: {bye: {hangup: }}\n")
    (tmp_path / "spare.yaml").write_text("flow: spare\nstart: bye\nnodes: {bye: {hangup: }}\n")
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "W303 warning: flow 'spare' is never entered" in result.stdout


def test_usage_errors_exit_two() -> None:
    assert run_cli("validate").returncode == 2
    assert run_cli("validate", "examples/hospital", "--format", "xml").returncode == 2
    assert run_cli("no-such-command").returncode == 2


def test_rules_lists_every_rule_and_explains_one() -> None:
    from routing_engine.validate import RULES

    listing = run_cli("rules")
    assert listing.returncode == 0
    for code in RULES:
        assert code in listing.stdout
    explained = run_cli("rules", "--explain", "g204")
    assert explained.returncode == 0
    assert explained.stdout.startswith("G204 unhandled-outcome (error)")
    assert "Example:" in explained.stdout
    as_json = json.loads(run_cli("rules", "--format", "json").stdout)
    assert {r["code"] for r in as_json} == set(RULES)
    unknown = run_cli("rules", "--explain", "X999")
    assert unknown.returncode == 2 and "no rule" in unknown.stderr


def test_bad_input_never_prints_a_traceback(tmp_path) -> None:
    cases = {
        "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00",
        "deep.yaml": b"[" * 50000,
        "alias.yaml": b"a: &x [1]\nb: *x\n",
        "list.yaml": b"- just\n- a list\n",
        "scalar.yaml": b"hello\n",
        "empty.yaml": b"",
        "weird.yaml": b"flow: [1, 2]\nstart: {}\nnodes: 3\n",
    }
    for name, data in cases.items():
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_bytes(data)
        result = run_cli("validate", str(folder))
        assert result.returncode == 1, (name, result.stdout)
        assert "Traceback" not in result.stdout + result.stderr, name
        assert ": S1" in result.stdout, (name, result.stdout)
