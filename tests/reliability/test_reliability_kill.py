"""The reliability suite's cheapest server probe in `make test`: SIGKILL of a real server under
a small load (reliability/sigkill.py), then restarts that make every timer due."""

from __future__ import annotations

from reliability import sigkill


def test_sigkill_under_load_loses_and_doubles_nothing_and_timers_fire_once() -> None:
    figures = sigkill.run(quick=True, calls=12)
    missed = [f for f in figures if f.met is False]
    assert missed == [], missed
    measured = {f.measure: f.value for f in figures}
    assert measured["lost transitions (store)"] == "0"
    assert measured["doubled transitions (store)"] == "0"
    fired, _, due = measured["timers fired (of all due)"].split()
    assert fired == due and int(due) > 0
