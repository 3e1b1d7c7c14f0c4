"""The reliability suite's fast subset (`make test`): the fuzzers with hypothesis's fixed seed
and few examples; the harness itself counts what escapes and what has no position. The longer,
random-seeded runs are `make reliability` (reliability/run.py)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from reliability import fuzz
from reliability.common import Figure
from reliability.run import report
from routing_engine.core.diagnostics import Diagnostic, Severity
from routing_engine.core.ir import Span


@pytest.mark.parametrize("target", range(5))
def test_a_fixed_seed_run_finds_no_crash_and_no_diagnostic_without_a_position(
    target: int,
) -> None:
    _name, strategy, action = fuzz.targets()[target]
    # bounded by the examples, not the clock (the budget is only a guard against a hang), so a
    # loaded machine runs the same cases
    tally = fuzz.fuzz(strategy, action, examples=20, budget_s=300.0, seed=None)
    assert tally.cases >= 5
    assert tally.crashes == []
    assert tally.unplaced == []
    assert tally.diagnostics > 0  # the inputs reach the diagnostics, not only the happy path


def test_the_harness_counts_an_escaped_exception_and_an_unplaced_diagnostic() -> None:
    def action(text: str) -> list[Diagnostic]:
        if "x" in text:
            raise KeyError(text)
        return [Diagnostic("S999", Severity.ERROR, "somewhere", Span("", 0, 0))]

    tally = fuzz.fuzz(st.sampled_from(["x", "y"]), action, examples=10, budget_s=5.0, seed=None)
    assert tally.cases == 2  # hypothesis tries each of the two once
    assert len(tally.crashes) == 1 and tally.crashes[0].startswith("KeyError at ")
    assert tally.unplaced == ["S999 somewhere"]


def test_the_report_gives_each_figure_its_verdict_and_a_summary_per_family() -> None:
    figures = {
        "sigkill": [
            Figure("SIGKILL under load", "lost transitions", "0", "<= 0", True),
            Figure("timers", "fired", "3 of 4", "all", False),
            Figure("timers", "seconds | spent", "1.5", "-", None),
        ]
    }
    text = report(figures, {"openapi": "RuntimeError: no schema"}, quick=True, seconds={})
    assert "| SIGKILL of a server under load | 2 | 1 | 1 | 0 | MISSED |" in text
    assert "| timers | fired | 3 of 4 | all | MISSED |" in text
    assert "| timers | seconds \\| spent | 1.5 | - | - |" in text
    assert "Not run: RuntimeError: no schema" in text
