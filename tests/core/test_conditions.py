"""The condition language: evaluation, positions of errors, hostile input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from routing_engine.core import ir
from routing_engine.core.conditions import MAX_LENGTH, compile_condition
from routing_engine.core.ir import Condition, Span
from routing_engine.core.schedules import CompiledSchedule, compile_schedule

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


@pytest.mark.parametrize(
    ("source", "column", "message", "hint"),
    [
        (
            'caller.state has "N"',
            14,
            "'has' looks for an item in a list, and caller.state is a text",
            'to compare the whole value write caller.state == "N"; to find a part of a text '
            'write "N" in caller.state',
        ),
        ('dialed has "555"', 8, "and dialed is a text", 'write "555" in dialed'),
        ('vars.a or "Joanna" has "ann"', 20, 'and "Joanna" is a quoted text', ""),
        ("12 has 1", 4, "and 12 is a number", ""),
    ],
)
def test_has_on_a_value_known_to_be_text_is_refused_at_the_keyword(
    source: str, column: int, message: str, hint: str
) -> None:
    compiled, problems = compile_condition(Condition(source, SPAN))
    assert compiled is None
    (problem,) = problems
    assert problem.code == "S111"
    assert message in problem.message
    assert hint in problem.hint
    assert (problem.span.line, problem.span.column) == (10, 15 + column - 1)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ('attributes.name has "ann"', {"attributes.name": "Joanna"}, False),  # not a substring
        ('attributes.name has "Joanna"', {"attributes.name": "Joanna"}, False),  # not a list
        ('attributes.tags has "ann"', {"attributes.tags": ["Joanna", "ann"]}, True),
        ('attributes.tags has "ann"', {"attributes.tags": ["Joanna"]}, False),
        ("attributes.floors has 3", {"attributes.floors": ["1", "3"]}, True),
        ('["gold", "platinum"] has vars.tier', {"vars.tier": "gold"}, True),
        ('"ann" in attributes.name', {"attributes.name": "Joanna"}, True),  # `in` finds parts
    ],
)
def test_has_looks_for_an_item_of_a_list_never_inside_a_text(
    source: str, values: dict[str, Any], expected: bool
) -> None:
    assert holds(source, **values) is expected


class ClockCtx(Ctx):
    """A context at a moment, with one schedule (and its overrides)."""

    def __init__(self, schedule: CompiledSchedule, when: str, **overrides: str) -> None:
        super().__init__()
        self.compiled, self.at, self.overrides = schedule, datetime.fromisoformat(when), overrides

    def schedule(self, name: str) -> CompiledSchedule | None:
        return self.compiled if name == self.compiled.name else None


def office(*openings: ir.DateHours) -> CompiledSchedule:
    weekdays = (ir.DayHours((0, 1, 2, 3, 4), (ir.TimeRange(8 * 60, 18 * 60),)),)
    return compile_schedule(
        ir.Schedule("office", "America/New_York", weekdays, "US", (), openings, "")
    )


@pytest.mark.parametrize(
    ("openings", "when", "overrides", "is_open", "is_holiday"),
    [
        # Independence Day, observed on Friday 2026-07-03
        ((), "2026-07-03T10:00:00-04:00", {}, False, True),
        ((), "2026-07-03T10:00:00-04:00", {"office": "open"}, True, False),
        ((), "2026-07-02T10:00:00-04:00", {}, True, False),
        # opened anyway that morning: not a holiday while open, a holiday again after
        (
            (ir.DateHours("2026-07-03", (ir.TimeRange(9 * 60, 13 * 60),)),),
            "2026-07-03T10:00:00-04:00",
            {},
            True,
            False,
        ),
        (
            (ir.DateHours("2026-07-03", (ir.TimeRange(9 * 60, 13 * 60),)),),
            "2026-07-03T15:00:00-04:00",
            {},
            False,
            True,
        ),
        # opened the whole day: no holiday at any hour of it
        ((ir.DateHours("2026-07-03", ()),), "2026-07-03T22:00:00-04:00", {}, True, False),
    ],
)
def test_holiday_agrees_with_open_and_the_hours_node_on_one_off_openings(
    openings: tuple[ir.DateHours, ...],
    when: str,
    overrides: dict[str, str],
    is_open: bool,
    is_holiday: bool,
) -> None:
    ctx = ClockCtx(office(*openings), when, **overrides)
    checks = {}
    for function in ("open", "holiday"):
        compiled, problems = compile_condition(Condition(f'{function}("office")', SPAN))
        assert compiled is not None, problems
        checks[function] = compiled.test(ctx)
    assert checks == {"open": is_open, "holiday": is_holiday}
    state = ctx.compiled.state(ctx.at, overrides.get("office", ""))
    assert (state == "holiday") is is_holiday
