"""The condition language: evaluation, positions of errors, hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from routing_engine.core.conditions import MAX_LENGTH, compile_condition
from routing_engine.core.ir import Condition, Span

SPAN = Span("f.yaml", 10, 15)


class Ctx:
    def __init__(self, **values: Any) -> None:
        self.values = values
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def lookup(self, path: tuple[str, ...]) -> Any:
        return self.values.get(".".join(path))

    def target_available(self, name: str) -> bool:
        self.calls.append(("available", (name,)))
        return name in self.values.get("available", ())


def holds(source: str, **values: Any) -> bool:
    compiled, problems = compile_condition(Condition(source, SPAN))
    assert problems == [], problems
    assert compiled is not None
    return compiled.test(Ctx(**values))


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ('caller.state == "NY"', {"caller.state": "NY"}, True),
        ('caller.state == "NY"', {"caller.state": "CA"}, False),
        ("caller.state != 'NY'", {"caller.state": "CA"}, True),
        ("vars.tries >= 2", {"vars.tries": 2}, True),
        ("vars.tries < 2", {"vars.tries": "1"}, True),  # numbers written as text compare as numbers
        (
            "vars.tries > 2",
            {"vars.tries": "many"},
            False,
        ),  # no number: ordering is false, not an error
        ('vars.level > "b"', {"vars.level": "c"}, True),
        ("vars.n == 3", {"vars.n": "3.0"}, True),
        ('caller.region in ["US-NY", "US-NJ"]', {"caller.region": "US-NJ"}, True),
        ('caller.region not in ["US-NY", "US-NJ"]', {"caller.region": "US-CA"}, True),
        ('"555" in dialed', {"dialed": "+12125550100"}, True),
        ('attributes.tags has "vip"', {"attributes.tags": ["vip", "spanish"]}, True),
        ('attributes.tags has "vip"', {"attributes.tags": None}, False),
        ("vars.vip", {"vars.vip": True}, True),
        ("not vars.vip", {"vars.vip": False}, True),
        ("vars.a and vars.b or vars.c", {"vars.a": True, "vars.b": False, "vars.c": True}, True),
        (
            "vars.a and (vars.b or vars.c)",
            {"vars.a": True, "vars.b": False, "vars.c": False},
            False,
        ),
        ("true and not false", {}, True),
        ('available("billing-ny")', {"available": ("billing-ny",)}, True),
        ('available("billing-ny")', {"available": ()}, False),
        ("vars.missing == 1", {}, False),
    ],
)
def test_evaluation(source: str, values: dict[str, Any], expected: bool) -> None:
    assert holds(source, **values) is expected


def test_and_short_circuits() -> None:
    compiled, _ = compile_condition(Condition('vars.a and available("x")', SPAN))
    assert compiled is not None
    ctx = Ctx(**{"vars.a": False})
    assert compiled.test(ctx) is False
    assert ctx.calls == []


def test_function_arguments_are_recorded_as_references() -> None:
    compiled, _ = compile_condition(Condition('vars.a or available("billing-ny")', SPAN))
    assert compiled is not None
    (reference,) = compiled.references
    assert (reference.kind, reference.name) == ("target", "billing-ny")
    # the name, past its opening quote
    assert (reference.span.line, reference.span.column) == (10, 15 + len('vars.a or available("'))


@pytest.mark.parametrize(
    ("source", "column", "message", "hint"),
    [
        ('caller.state = "NY"', 14, "unexpected character '='", "'=='"),
        ('calller.state == "NY"', 1, "unknown name 'calller'", "did you mean 'caller'"),
        ('caller.stat == "NY"', 8, "'caller' has no field 'stat'", "did you mean 'state'"),
        ('availabel("x")', 1, "unknown function 'availabel'", "did you mean 'available'"),
        ('available("x", "y")', 1, "takes 1 argument", ""),
        ('(caller.state == "NY"', 22, "ends too early", "unclosed"),
        ('caller.state == "NY', 17, "unexpected character", "quoted"),
        ("caller.state ==", 16, "ends too early", ""),
        ("", 1, "empty", ""),
        ("vars.a vars.b", 8, "unexpected 'vars'", ""),
    ],
)
def test_errors_point_inside_the_expression(
    source: str, column: int, message: str, hint: str
) -> None:
    compiled, problems = compile_condition(Condition(source, SPAN))
    assert compiled is None
    (problem,) = problems
    assert problem.code == "S111"
    assert message in problem.message
    assert hint in problem.hint
    assert (problem.span.line, problem.span.column) == (10, 15 + column - 1)


def test_deep_nesting_is_a_diagnostic() -> None:
    source = "(" * 200 + "vars.a" + ")" * 200
    compiled, problems = compile_condition(Condition(source, SPAN))
    assert compiled is None
    assert "deeper" in problems[0].message


def test_long_chains_are_fine_but_over_the_length_cap_is_not() -> None:
    chain = " or ".join(f"vars.v{i}" for i in range(80))
    assert len(chain) < MAX_LENGTH
    assert holds(chain, **{"vars.v79": True})
    too_long = " or ".join(f"vars.v{i}" for i in range(200))
    compiled, problems = compile_condition(Condition(too_long, SPAN))
    assert compiled is None and f"longer than {MAX_LENGTH}" in problems[0].message


@pytest.mark.parametrize(
    "junk",
    ["\x00", "'" * 600, '"' + "a" * 900 + '"', "[" * 500, "not " * 240 + "x", "1" * 40, "@@", "🙂"],
)
def test_hostile_input_never_raises(junk: str) -> None:
    compiled, problems = compile_condition(Condition(junk, SPAN))
    assert compiled is None or problems == []
    if compiled is None:
        assert problems and problems[0].code == "S111"


def test_no_python_is_evaluated() -> None:
    compiled, problems = compile_condition(Condition("__import__('os').system('true')", SPAN))
    assert compiled is None and problems
