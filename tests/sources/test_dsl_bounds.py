"""Loops and waits in the DSL: the mistakes of the G203, S102, G205 and W302 fixtures made in
`.flow` files are reported at their line and column, with hints in the DSL's wording."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURES, run_cli, write_files


def test_loop_mistakes_in_dsl_files_are_reported_at_their_line_and_column() -> None:
    result = run_cli("validate", str(FIXTURES / "dsl-loops"), "--format", "json")
    assert result.returncode == 1
    found = {
        (Path(r["file"]).name, r["code"], r["line"], r["column"]) for r in json.loads(result.stdout)
    }
    assert found == {
        ("flows.flow", "G203", 6, 5),  # by-busy: busy -> ring-desk closes the loop
        ("flows.flow", "G203", 13, 5),  # by-no-answer: no-answer -> ring-desk
        ("flows.flow", "G203", 20, 47),  # menu-say: the say's -> choose
        ("flows.flow", "G203", 31, 5),  # across-back: no-answer -> across (another flow)
        ("flows.flow", "S102", 40, 5),  # attempts 3, without -> NODE
        ("flows.flow", "S102", 43, 5),  # attempts -> bye, without a number
        ("two-rings.flow", "G203", 7, 5),  # in the module's file, not at the use
    }


def test_an_unbounded_loops_hint_is_in_the_syntax_of_its_file() -> None:
    dsl = run_cli("validate", str(FIXTURES / "dsl-loops"), "--format", "json")
    hints = {r["hint"] for r in json.loads(dsl.stdout) if r["code"] == "G203"}
    assert (
        "add a line 'attempts 3 -> <node>' under 'ring-desk', where <node> is outside the loop"
        in hints
    )
    yaml = run_cli(
        "validate", str(FIXTURES / "diagnostics" / "G203-ring-loop-busy.yaml"), "--format", "json"
    )
    [found] = json.loads(yaml.stdout)
    assert found["hint"] == (
        "add 'attempts: 3' and 'exhausted: <node>' to 'ring-desk', where <node> is outside the loop"
    )
    assert "'ring-desk', 'ring-nurse'" in found["message"]


CHAIN = """
    flow main
      ring-office: ring office for 4 rings
        no-answer -> ring-offshore
      ring-offshore: ring offshore for 60s
        no-answer -> bye
      bye: hangup
"""


def deployment(severity: str) -> str:
    return f"""
        deployment waits
          caller_max_wait 60s
          {severity}
          fallback
            ring office
          entry +12125550100 -> main
          target office
            uri sip:office@example.com
          target offshore
            kind external
            uri +443005550100
    """


def test_a_number_over_caller_max_wait_is_an_error_or_a_warning_in_the_dsl(
    tmp_path: Path,
) -> None:
    for severity, code, status in (
        ("caller_max_wait_severity error", "G205", 1),
        ("caller_max_wait_severity warning", "W302", 0),
    ):
        root = write_files(
            tmp_path / code, {"deployment.flow": deployment(severity), "main.flow": CHAIN}
        )
        result = run_cli("validate", str(root), "--format", "json")
        assert result.returncode == status
        [found] = json.loads(result.stdout)
        assert (Path(found["file"]).name, found["code"], found["line"], found["column"]) == (
            "main.flow",
            code,
            4,
            3,
        )
        assert "1m 24s" in found["message"] and "ring-offshore" in found["message"]
