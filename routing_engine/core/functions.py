"""The functions of the condition language, each declared once with its evaluator.

A function's entry says what its arguments name (so the compiler checks the number of
arguments and validation checks the names), what it does (the docs print it) and how it is
evaluated (a compiled condition calls it). Adding a function is adding one entry to FUNCTIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from routing_engine.core.schedules import HOLIDAY, OPEN, CompiledSchedule


class Context(Protocol):
    """What a condition reads at run time; the runtime supplies it, so conditions stay pure."""

    @property
    def at(self) -> datetime: ...

    @property
    def overrides(self) -> Mapping[str, str]: ...

    def lookup(self, path: tuple[str, ...]) -> Any: ...

    def target_available(self, name: str) -> bool: ...

    def schedule(self, name: str) -> CompiledSchedule | None: ...


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    params: tuple[str, ...]  # what each argument names: "target", "schedule" or "value"
    doc: str
    evaluate: Callable[[Context, tuple[Any, ...]], Any]


def _available(ctx: Context, args: tuple[Any, ...]) -> bool:
    return ctx.target_available(str(args[0]))


def _open(ctx: Context, args: tuple[Any, ...]) -> bool:
    name = str(args[0])
    schedule = ctx.schedule(name)
    return schedule is not None and schedule.state(ctx.at, ctx.overrides.get(name, "")) == OPEN


def _holiday(ctx: Context, args: tuple[Any, ...]) -> bool:
    # As an `hours` node sees it: a one-off opening or closure, or an override, comes first.
    name = str(args[0])
    schedule = ctx.schedule(name)
    return schedule is not None and schedule.state(ctx.at, ctx.overrides.get(name, "")) == HOLIDAY


FUNCTIONS: dict[str, Function] = {
    function.name: function
    for function in (
        Function(
            "available", ("target",), "true when the named target is available now", _available
        ),
        Function("open", ("schedule",), "true when the named schedule is open now", _open),
        Function(
            "holiday",
            ("schedule",),
            "true when the schedule is on holiday now: today is a holiday of its calendar, and "
            "no one-off opening, one-off closure or override of the schedule covers this "
            "moment (an `hours` node on the schedule would go its `holiday` way); on a holiday "
            "with a one-off opening, false during the opening, as `open()` is true then",
            _holiday,
        ),
    )
}
