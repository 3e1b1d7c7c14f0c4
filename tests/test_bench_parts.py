"""The benchmarks' parts that can be checked without timing: the three engines of
benchmarks/decision.py decide identically over the billing mix, and benchmarks/scale.py runs."""

from benchmarks import decision, scale


def test_engines_decide_identically_on_the_billing_mix() -> None:
    assert decision.check_identical() >= 20


def test_scale_checks_a_small_generated_deployment() -> None:
    results = scale.run(quick=True, sizes=(200,))
    names = [r["name"] for r in results]
    assert names[0] == "check/200"
    assert {"call-state/json_bytes", "call-state/object_bytes"} <= set(names)
