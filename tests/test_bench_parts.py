"""The benchmarks' parts that can be checked without timing: the three engines of
benchmarks/decision.py decide identically over the billing mix, and benchmarks/scale.py runs."""

from benchmarks import decision


def test_engines_decide_identically_on_the_billing_mix() -> None:
    assert decision.check_identical() >= 20
