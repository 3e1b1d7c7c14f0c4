"""The names a flow's or an entry's own fallback rings are checked as the deployment's are
(S108, at the name, with did-you-mean), in both syntaxes; a long-form entry's mistakes are
reported as the entry's."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from routing_engine.api import check_texts

MISTAKES = FIXTURES / "fallbacks"

YAML = [
    ("S108", 5, 47, "no target named 'nurce' (in the fallback of number +12125550100)",
     "did you mean 'nurse'?"),
    ("S103", 6, 30, "unknown field 'fallbak' in entry '+12125550101'", "did you mean 'fallback'?"),
    ("S102", 7, 4, "entry '+12125550102' is missing 'flow'", "add 'flow: ...' to it"),
    ("S108", 8, 26, "number +12125550103 enters flow 'err', which does not exist",
     "did you mean 'er'?"),
    ("S108", 17, 17, "no target named 'desc' (in the fallback of flow 'er')",
     "did you mean 'desk'?"),
]  # fmt: skip
DSL = [
    ("S108", 6, 12, "no target named 'nurce' (in the fallback of number +12125550100)",
     "did you mean 'nurse'?"),
    ("S103", 8, 5, "unknown field 'fallbak' in entry '+12125550101'", "did you mean 'fallback'?"),
    ("S108", 10, 25, "number +12125550103 enters flow 'err', which does not exist",
     "did you mean 'er'?"),
    ("S108", 18, 17, "no target named 'desc' (in the fallback of flow 'er')",
     "did you mean 'desk'?"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), [("mistakes.yaml", YAML), ("mistakes.flow", DSL)])
def test_unknown_names_in_a_lines_fallback_are_reported_where_written(
    name: str, expected: list[tuple[str, int, int, str, str]]
) -> None:
    file = "deployment.yaml" if name.endswith(".yaml") else "deployment.flow"
    result = check_texts({file: (MISTAKES / name).read_text(encoding="utf-8")})
    found = sorted(
        (d.code, d.span.line, d.span.column, d.message, d.hint) for d in result.diagnostics
    )
    assert found == sorted(expected)
