"""Every validation rule, tested from data: one annotated fixture file per rule code, in the
style of pycodestyle and ruff.

Each file in `fixtures/diagnostics/` is a whole deployment in one multi-document YAML stream
(a deployment document, then flow documents), named `<CODE>-<slug>.yaml`. Its first lines state
the diagnostics it must produce, one per line:

    # expect: S103 12:5

(the rule's code, then the 1-based line:column the diagnostic points at). A fixture must produce
exactly these, no more and no fewer; the same place may be expected twice. A `clean-<slug>.yaml`
fixture expects nothing at all. Problems with whole files (too large, not UTF-8, no files) are
written to tmp_path by the tests at the end.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES

from routing_engine import CheckResult, Diagnostic, check
from routing_engine.core import ir
from routing_engine.core.diagnostics import render_all_text
from routing_engine.sources.loader import MAX_FILE_BYTES, find_deployment_root
from routing_engine.validate import RULES

DIAGNOSTICS = FIXTURES / "diagnostics"
FIXTURES = sorted(DIAGNOSTICS.glob("*.yaml"))
EXPECT = re.compile(r"# expect: (?P<code>[A-Z][0-9]{3}) (?P<line>[0-9]+):(?P<column>[0-9]+)")
NAME = re.compile(r"(?P<code>[A-Z][0-9]{3}|clean)-[a-z0-9]+(?:-[a-z0-9]+)*\.yaml")

Found = tuple[str, int, int]


class BadFixture(Exception):
    """A fixture file that does not state its expectations in the agreed form."""


def expectations(fixture: Path) -> list[Found]:
    """The `# expect: CODE LINE:COLUMN` lines that open a fixture, in order."""
    expected: list[Found] = []
    opening = True
    for number, text in enumerate(fixture.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.startswith("# expect"):
            opening = False
            continue
        match = EXPECT.fullmatch(text.rstrip())
        if match is None:
            raise BadFixture(f"{fixture.name}:{number}: write '# expect: CODE LINE:COLUMN'")
        if not opening:
            raise BadFixture(f"{fixture.name}:{number}: expectations go on the first lines")
        expected.append((match["code"], int(match["line"]), int(match["column"])))
    return expected


def found(result: CheckResult) -> list[Found]:
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


def explain(expected: list[Found], result: CheckResult) -> str:
    """What went wrong, for the assertion message: the difference, then every diagnostic as a
    person would read it."""
    want, got = Counter(expected), Counter(found(result))
    missing = sorted((want - got).elements())
    unexpected = sorted((got - want).elements())
    shown = render_all_text(result.diagnostics, result.sources) or "(no diagnostics)"
    return (
        f"\nmissing:    {missing}\nunexpected: {unexpected}\n"
        f"diagnostics produced:\n{textwrap.indent(shown, '  ')}"
    )


def code_of(fixture: Path) -> str:
    return fixture.name.split("-", 1)[0]


def the_diagnostic(fixture: str, code: str, word: str) -> Diagnostic:
    """The one diagnostic of `code` in a fixture whose message quotes `word`."""
    result = check(DIAGNOSTICS / fixture)
    matching = [d for d in result.diagnostics if d.code == code and f"'{word}'" in d.message]
    assert len(matching) == 1, render_all_text(result.diagnostics, result.sources)
    return matching[0]


# --- the fixtures -------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.name)
def test_fixture_produces_exactly_the_expected_diagnostics(fixture: Path) -> None:
    expected = expectations(fixture)
    result = check(fixture)
    assert Counter(found(result)) == Counter(expected), explain(expected, result)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.name)
def test_fixture_states_its_expectations_on_its_first_line(fixture: Path) -> None:
    first = fixture.read_text(encoding="utf-8").splitlines()[:1]
    expected = expectations(fixture)  # raises BadFixture for a malformed or misplaced line
    if fixture.name.startswith("clean-"):
        assert expected == [], f"{fixture.name}: a clean fixture expects nothing"
    else:
        assert first and EXPECT.fullmatch(first[0].rstrip()), (
            f"{fixture.name}: the first line must be '# expect: CODE LINE:COLUMN'"
        )


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.name)
def test_fixture_is_named_for_a_rule_it_expects(fixture: Path) -> None:
    match = NAME.fullmatch(fixture.name)
    assert match is not None, f"{fixture.name}: name it '<CODE>-<slug>.yaml' or 'clean-<slug>.yaml'"
    if match["code"] != "clean":
        assert match["code"] in RULES, f"{fixture.name}: no rule {match['code']}"
        assert match["code"] in {code for code, _, _ in expectations(fixture)}


def test_fixtures_are_read_on_their_own() -> None:
    assert FIXTURES, f"no fixtures in {DIAGNOSTICS}"
    # a deployment.yaml in a folder above would make each fixture part of that deployment
    assert find_deployment_root(FIXTURES[0]) is None


def test_every_rule_has_a_fixture() -> None:
    covered = {code_of(fixture) for fixture in FIXTURES}
    missing = sorted(set(RULES) - covered)
    assert not missing, f"rules without a fixture in {DIAGNOSTICS}: {missing}"


def test_a_clean_fixture_uses_every_node_kind() -> None:
    clean = [fixture for fixture in FIXTURES if fixture.name.startswith("clean-")]
    assert clean, "add a clean-*.yaml fixture: the 'no false alarms' side"
    kinds: set[str] = set()
    for fixture in clean:  # that they are clean is the first test's to say
        deployment = check(fixture).deployment
        assert deployment is not None, fixture.name
        kinds |= {node.KIND for flow in deployment.flows for node in flow.nodes}
    assert sorted(set(ir.KIND_NAMES) - kinds) == [], "node kinds no clean fixture uses"


def test_a_fixture_without_expectations_is_refused(tmp_path: Path) -> None:
    fixture = tmp_path / "S103-no-expectations.yaml"
    fixture.write_text("# this file forgot its expectations\ndeployment: test\n", "utf-8")
    assert expectations(fixture) == []
    misplaced = tmp_path / "S103-misplaced.yaml"
    misplaced.write_text("deployment: test\n# expect: S103 1:1\n", "utf-8")
    with pytest.raises(BadFixture):
        expectations(misplaced)
    malformed = tmp_path / "S103-malformed.yaml"
    malformed.write_text("# expect: S103 line 1\n", "utf-8")
    with pytest.raises(BadFixture):
        expectations(malformed)


# --- the rules' documentation and hints ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_is_documented(code: str) -> None:
    rule = RULES[code]
    summary = rule.summary
    assert summary != rule.name and len(summary.split()) >= 4, f"{code}: write a summary"
    assert summary.endswith("."), f"{code}: the summary is a sentence: {summary!r}"
    examples = [
        line.strip() for line in rule.doc.splitlines() if line.strip().startswith("Example:")
    ]
    assert examples, f"{code}: the doc needs an 'Example:' line"
    assert len(examples[0].removeprefix("Example:").strip()) >= 10, f"{code}: {examples[0]!r}"


@pytest.mark.parametrize(
    ("fixture", "code", "typo", "meant"),
    [
        ("S103-unknown-field.yaml", "S103", "timout", "timeout"),
        ("S103-unknown-field-deployment.yaml", "S103", "ringcadence", "ring_cadence"),
        ("S103-unknown-field-deployment.yaml", "S103", "regoin", "region"),
        ("S106-unknown-kind.yaml", "S106", "rng", "ring"),
        ("S108-unknown-reference.yaml", "S108", "biling", "billing"),
        ("S108-unknown-reference.yaml", "S108", "bilind", "billing"),
        ("S108-unknown-reference.yaml", "S108", "dsk", "desk"),
        ("S108-unknown-reference.yaml", "S108", "bos", "boss"),
        ("S108-unknown-start.yaml", "S108", "welcom", "welcome"),
        ("S108-unknown-schedule.yaml", "S108", "ofice", "office"),
        ("S110-unknown-outcome.yaml", "S110", "no-anwser", "no-answer"),
        ("S111-bad-condition.yaml", "S111", "calller", "caller"),
        ("S111-unknown-caller-field.yaml", "S111", "stat", "state"),
    ],
)
def test_a_typo_gets_a_did_you_mean_hint(fixture: str, code: str, typo: str, meant: str) -> None:
    diagnostic = the_diagnostic(fixture, code, typo)
    assert f"did you mean '{meant}'?" in diagnostic.hint, diagnostic


@pytest.mark.parametrize(
    ("fixture", "code", "word", "message"),
    [
        (
            "S102-missing-field.yaml",
            "S102",
            "fallback",
            "menu node 'welcome' is missing 'fallback'",
        ),
        (
            "S102-deployment-fallback.yaml",
            "S102",
            "fallback",
            "deployment 'test' is missing 'fallback'",
        ),
    ],
)
def test_a_missing_field_is_named_with_its_owner(
    fixture: str, code: str, word: str, message: str
) -> None:
    assert the_diagnostic(fixture, code, word).message == message


# --- whole files, written to tmp_path -----------------------------------------------------------

DEPLOYMENT = """\
deployment: test
fallback:
  ring: desk
entries:
  "+12125550100": main
targets:
  desk:
    uri: sip:desk@example.com
"""
MAIN = """\
flow: main
start: bye
nodes:
  bye:
    hangup:
"""


def deployment_with(tmp_path: Path, name: str, data: bytes) -> Path:
    """A clean deployment directory plus one more file, `name`, holding `data`."""
    root = tmp_path / "deployment"
    root.mkdir()
    (root / "deployment.yaml").write_text(DEPLOYMENT, encoding="utf-8")
    (root / "main.yaml").write_text(MAIN, encoding="utf-8")
    (root / name).write_bytes(data)
    return root


def found_in_files(result: CheckResult) -> list[tuple[str, str, int, int]]:
    return sorted(
        (d.code, Path(d.span.file).name, d.span.line, d.span.column) for d in result.diagnostics
    )


def test_the_deployment_written_to_tmp_path_is_clean(tmp_path: Path) -> None:
    result = check(deployment_with(tmp_path, "other.yaml", b"# nothing here\n"))
    assert found_in_files(result) == [], render_all_text(result.diagnostics, result.sources)


def test_S100_a_flow_file_that_is_not_yaml_is_reported_alone(tmp_path: Path) -> None:
    # in a directory, the other files are read as usual: the one problem is the broken file
    data = b"flow: extra\nstart: bye\nnodes:\n\tbye:\n    hangup:\n"
    result = check(deployment_with(tmp_path, "extra.yaml", data))
    assert found_in_files(result) == [("S100", "extra.yaml", 4, 1)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S101_an_anchor_in_a_flow_file_is_reported_alone(tmp_path: Path) -> None:
    data = b"flow: extra\nstart: bye\nnodes:\n  bye: &end\n    hangup:\n"
    result = check(deployment_with(tmp_path, "extra.yaml", data))
    assert found_in_files(result) == [("S101", "extra.yaml", 4, 8)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S101_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    padding = b"# padding to make the file too large to read\n"
    data = b"flow: big\n" + padding * (MAX_FILE_BYTES // len(padding) + 1)
    result = check(deployment_with(tmp_path, "big.yaml", data))
    assert found_in_files(result) == [("S101", "big.yaml", 1, 1)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S101_a_file_that_is_not_utf8_is_refused_at_the_bad_byte(tmp_path: Path) -> None:
    data = b"flow: extra\nstart: bye\nnodes:\n  bye:\n    hangup: caf\xe9\n"
    result = check(deployment_with(tmp_path, "extra.yaml", data))
    assert found_in_files(result) == [("S101", "extra.yaml", 5, 16)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S101_the_column_of_a_bad_byte_counts_characters_like_every_other_column(
    tmp_path: Path,
) -> None:
    # 'é' is two bytes but one character: the bad byte is the 15th character of its line
    data = "flow: extra\nstart: bye\nnodes:\n  bye:\n    say: Café ".encode() + b"\xff\n"
    result = check(deployment_with(tmp_path, "extra.yaml", data))
    assert found_in_files(result) == [("S101", "extra.yaml", 5, 15)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S101_a_file_that_is_not_a_flow_file_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(DEPLOYMENT, encoding="utf-8")
    result = check(notes)
    assert found_in_files(result) == [("S101", "notes.txt", 1, 1)], render_all_text(
        result.diagnostics, result.sources
    )


def test_S109_a_directory_without_flow_files(tmp_path: Path) -> None:
    result = check(tmp_path)
    # a directory has no line to point at: 0:0, as for every problem with no place in a file
    assert found(result) == [("S109", 0, 0)], render_all_text(result.diagnostics, result.sources)
