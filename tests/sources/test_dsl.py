"""The text DSL: reading, errors in plain words with hints, and hostile input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_cli

from routing_engine.sources.dsl_reader import MAX_DEPTH, read_dsl
from routing_engine.sources.yaml_reader import read_yaml


def test_seeded_mistakes_in_a_dsl_file_are_reported_at_their_line_and_column() -> None:
    result = run_cli("validate", str(FIXTURES / "dsl-mistakes"), "--format", "json")
    assert result.returncode == 1
    found = {(r["code"], r["line"], r["column"]) for r in json.loads(result.stdout)}
    assert found == {
        ("S108", 4, 10),  # 1 -> ring-ofice (did you mean ring-office?)
        ("S105", 6, 13),  # retries twice
        ("S104", 8, 32),  # 2 ringz
        ("S110", 9, 5),  # no-anwser
        ("S111", 11, 17),  # caller.stat: at the field's name, inside the condition
        ("G202", 13, 3),  # a say with no next
    }


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"),
    [
        (
            'flow x\n  a: say "hello\n',
            (2, 10),
            "unexpected character",
            "a quoted text is not closed",
        ),
        (
            "flow x\n  a: say hi ->\n",
            (2, 15),
            "the line ends too early",
            "a '->' needs a node after it",
        ),
        (
            "flow x\n  a: ring b\n    no-answer c\n",
            (3, 15),
            "lacks its '->'",
            "write: no-answer -> c",
        ),
        ("flow x\n  a: rng b\n", (2, 6), "'rng' is not a node kind", "did you mean 'ring'?"),
        ("flows x\n", (1, 1), "'flows' cannot start a block here", "did you mean 'flow'?"),
        (
            "flow x\n    a: say hi\n  b: say hi\n",
            (3, 3),
            "matches no line above it",
            "indent it like",
        ),
        ("flow x\n\ta: say hi\n", (2, 1), "a tab in the indentation", "indent with spaces"),
        (
            "flow x\n  a: ring b\n    -> c\n",
            (3, 5),
            "a line cannot start with '->'",
            "OUTCOME -> NODE",
        ),
        ("flow x\n  a: say hi\n  a: say ho\n", (3, 3), "'a' is given twice", "give each key once"),
        ("flow\n", (1, 1), "'flow' needs a name", "write: flow NAME"),
        ("flow x\n  a: menu\n", (2, 6), "needs its prompt", ""),
        (
            'flow x\n  r: branch\n    when (caller.state == "NY" -> a\n',
            (3, 32),
            "a bracket is not closed",
            "')'",
        ),
        (
            "deployment d\n  targte er\n    uri x\n",
            (2, 3),
            "not a section",
            "did you mean 'target'?",
        ),
    ],
)
def test_errors_say_what_is_wrong_and_where(
    text: str, where: tuple[int, int], message: str, hint: str
) -> None:
    documents, problems = read_dsl(text, "f.flow")
    assert documents == []
    (problem,) = problems
    assert (problem.code, problem.span.line, problem.span.column) == ("S100", *where)
    assert message in problem.message
    assert hint in problem.hint


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("flow x\n  a: ring b\n    , -> c\n", (3, 5), "unexpected ','"),
        ("flow x\n  a: set\n    =\n", (3, 5), "unexpected '='"),
        ("flow x\n  a: branch\n    branch x\n    when a -> b\n", (4, 10), "given twice"),
        (
            'deployment d\n  schedule s\n    "weekly" x\n    weekly mon 09:00-10:00\n',
            (4, 5),
            "'weekly' is given twice",
        ),
    ],
)
def test_lines_that_once_crashed_the_reader_get_a_diagnostic(
    text: str, where: tuple[int, int], message: str
) -> None:
    documents, problems = read_dsl(text, "f.flow")
    assert documents == []
    (problem,) = problems
    assert (problem.code, problem.span.line, problem.span.column) == ("S100", *where)
    assert message in problem.message


def test_a_keyword_is_a_plain_word_where_no_statement_expects_it() -> None:
    """`for`, `after`, `timeout`, `default`... are keywords only where a line takes them."""
    text = (
        "module m\n  param note text default call for help\n  exits done\n"
        "  a: ring after, for-you at once\n    timeout 20s\n    no-answer -> b\n"
        "  b: ticket default -> done\n    summary after notify\n"
        "    escalate after 1h notify after-hours\n"
    )
    (document,), problems = read_dsl(text, "m.flow")
    assert problems == []
    nodes = document.data["nodes"]
    assert nodes["a"] == {
        "strategy": "simultaneous",
        "ring": ["after", "for-you"],
        "timeout": "20s",
        "on": {"no-answer": "b"},
    }
    assert nodes["b"] == {
        "ticket": "default",
        "next": "done",
        "summary": "after notify",
        "escalate": [{"after": "1h", "notify": ["after-hours"]}],
    }
    assert document.data["params"]["note"] == {"type": "text", "default": "call for help"}


def test_misspelt_fields_get_the_builders_did_you_mean(tmp_path) -> None:
    (tmp_path / "deployment.flow").write_text(
        "deployment d\n  fallback\n    ring desk\n  entry +12125550100 -> m\n"
        "  target desk\n    uri sip:d@e.com\n"
        "flow m\n  a: ring desk\n    timout 20s\n    no-answer -> b\n  b: hangup\n"
    )
    result = run_cli("validate", str(tmp_path))
    assert "S103 unknown field 'timout' in ring node 'a'" in result.stdout
    assert "did you mean 'timeout'?" in result.stdout


def test_deep_nesting_is_refused_quickly() -> None:
    text = "flow x\n" + "".join("  " * i + f"a{i}: say hi\n" for i in range(1, MAX_DEPTH + 5))
    (problem,) = read_dsl(text, "f.flow")[1]
    assert f"deeper than {MAX_DEPTH}" in problem.message


HOSPITAL_TEXTS = [
    (path, path.read_text(encoding="utf-8"))
    for path in sorted([*(ROOT / "examples").rglob("*.flow"), *(ROOT / "examples").rglob("*.yaml")])
]
JUNK = [
    "",
    "\x00",
    "\x01\x02",
    "->",
    "'",
    '"',
    "#",
    ":",
    "{",
    "[",
    "]",
    "\t",
    "\n",
    "when",
    "- ",
    " " * 9,
    "\\",
    "é",
]


def mutate(text: str, rng: random.Random) -> str:
    """Cut, repeat or overwrite a random piece of the text with junk."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        match rng.randrange(4):
            case 0:
                text = text[:at] + rng.choice(JUNK) + text[at:]
            case 1:
                text = text[:at] + text[at + rng.randint(1, 20) :]
            case 2:
                text = text[:at] + text[at : at + 40] * rng.randint(2, 5) + text[at:]
            case _:
                text = (
                    text[:at]
                    + "".join(rng.choice(JUNK) for _ in range(rng.randint(1, 8)))
                    + text[at:]
                )
    return text


def test_mutated_and_random_input_never_crashes_either_reader() -> None:
    """Both readers answer every input with documents or diagnostics, never an exception."""
    rng = random.Random(20261123)
    inputs = [mutate(text, rng) for _path, text in HOSPITAL_TEXTS for _ in range(40)]
    inputs += [
        "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randint(0, 300)))
        for _ in range(200)
    ]
    for text in inputs:
        for reader, name in ((read_dsl, "f.flow"), (read_yaml, "f.yaml")):
            documents, problems = reader(text, name)
            assert isinstance(documents, list) and isinstance(problems, list)
            for problem in problems:
                assert problem.span.line >= 1 and problem.span.column >= 1


def test_every_shipped_file_is_in_canonical_form() -> None:
    result = run_cli("fmt", "--check", "examples", "flows")
    assert result.returncode == 0, result.stdout
    assert "0 of 19 file(s) would be reformatted" in result.stdout


def test_fmt_keeps_comments_and_is_idempotent(tmp_path) -> None:
    path = tmp_path / "x.flow"
    messy = [
        "# about x",
        "flow x   # the flow",
        "  # the first node",
        "  a:   say   hi   ->   b  # go on",
    ]
    path.write_text("\n".join([*messy, "  b: hangup", ""]))
    assert run_cli("fmt", str(path)).returncode == 0
    once = path.read_text()
    tidy = ["# about x", "flow x  # the flow", "  # the first node", '  a: say "hi" -> b  # go on']
    assert once == "\n".join([*tidy, "  b: hangup", ""])
    assert run_cli("fmt", "--check", str(path)).returncode == 0
    assert path.read_text() == once


def test_a_graph_rules_hint_is_written_in_the_syntax_of_the_file_it_points_at(
    tmp_path: Path,
) -> None:
    """G204's hint shows the DSL's handler line in a .flow file, YAML's `on:` in a YAML one."""
    (tmp_path / "deployment.flow").write_text(
        "deployment d\n  fallback\n    hangup\n  entry +12125550100 -> main\n"
        "  target office\n    uri sip:office@x.example\n"
    )
    (tmp_path / "main.flow").write_text(
        'flow main\n  ring-office: ring office for 2 rings\n    busy -> bye\n  bye: hangup "done"\n'
    )
    result = run_cli("validate", str(tmp_path), "--format", "json")
    found = [r for r in json.loads(result.stdout) if r["code"] == "G204"]
    assert [(r["line"], r["hint"]) for r in found] == [
        (2, "add a line 'no-answer -> ...' under the node")
    ]
