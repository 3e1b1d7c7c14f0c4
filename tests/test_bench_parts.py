"""The benchmarks' parts that can be checked without timing: the engines of
benchmarks/decision.py decide identically over the billing mix (the full hand-written floor to
the field), and benchmarks/scale.py runs."""

import pytest

from benchmarks import decision, scale
from routing_engine import load_deployment


def test_engines_decide_identically_on_the_billing_mix() -> None:
    assert decision.check_identical() >= 20


def test_scale_checks_a_small_generated_deployment() -> None:
    results = scale.run(quick=True, sizes=(200,))
    names = [r["name"] for r in results]
    assert names[0] == "check/200"
    assert {"call-state/json_bytes", "call-state/object_bytes"} <= set(names)


def test_the_full_floor_is_checked_field_by_field_against_the_runtime() -> None:
    compiled = load_deployment(decision.HOSPITAL).compiled
    call = decision.load_mix([decision.HOSPITAL / "scenarios" / "billing.yaml"])[0]
    state, made = next(iter(decision.runtime_engine(compiled).play(call)))
    reply, hand = next(iter(decision.full_floor_engine(compiled).play(call)))
    decision._same_reply("c", made, reply)
    decision._same_state("c", state, hand)
    ring = {**reply["actions"][0], "timeout_s": 11.0}
    with pytest.raises(AssertionError, match="actions"):
        decision._same_reply("c", made, {**reply, "actions": (ring,)})
    with pytest.raises(AssertionError, match="ringing"):
        decision._same_state("c", state, hand._replace(ringing=()))
