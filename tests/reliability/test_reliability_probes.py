"""The reliability suite's server probes in `make test`, in their quick form: the hostile
inputs (reliability/hostile.py), the locked and the read-only store (store_faults.py) and
schemathesis over the whole OpenAPI (openapi.py). Every figure with a goal must be met, except
the ones that time an answer: those are `make reliability`'s (RELIABILITY.md) alone, since a
shared, loaded machine delays any answer (the tests here check what was answered, not when)."""

from __future__ import annotations

import pytest

from reliability import hostile, openapi, store_faults
from reliability.common import Figure

TIMED = ("deadline", "in time", "seconds", "time budget")  # how soon, not what


def missed(figures: list[Figure]) -> list[Figure]:
    """The figures that missed their goal, timed ones apart."""
    return [f for f in figures if f.met is False and not any(word in f.measure for word in TIMED)]


@pytest.mark.parametrize("probe", [hostile, store_faults, openapi], ids=lambda p: p.__name__)
def test_a_quick_probe_meets_every_goal(probe: object) -> None:
    figures: list[Figure] = probe.run(quick=True)  # type: ignore[attr-defined]
    assert [f for f in figures if f.met is not None], "the probe measured nothing"
    assert missed(figures) == []
