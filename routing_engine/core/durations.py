"""Durations as flow files write them: `2 rings`, `20s`, `20 seconds`, `15m`, `1h`.

The model's `Duration`, and the language's one reading of one: the flow-file format validates
with it, and the core reads a module's `$name` arguments with it when a module is expanded.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from pydantic_core import PydanticCustomError

from routing_engine.core.spans import NOWHERE, Span


class DurationUnit(enum.Enum):
    RINGS = "rings"
    SECONDS = "s"
    MINUTES = "m"
    HOURS = "h"


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration as written (`2 rings`, `20s`, `15m`); seconds are known only at compile time
    for rings, because the ring cadence is a deployment setting."""

    amount: float
    unit: DurationUnit
    span: Span = field(default=NOWHERE, compare=False)
    param: str = ""  # in a module: `$rings` stands for the argument of that name

    def seconds(self, ring_cadence_s: float) -> float:
        match self.unit:
            case DurationUnit.RINGS:
                return self.amount * ring_cadence_s
            case DurationUnit.SECONDS:
                return float(self.amount)
            case DurationUnit.MINUTES:
                return self.amount * 60.0
            case DurationUnit.HOURS:
                return self.amount * 3600.0

    def __str__(self) -> str:
        if self.param:
            return f"${self.param}"
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        match self.unit:
            case DurationUnit.RINGS:
                return f"{amount} ring" if amount == 1 else f"{amount} rings"
            case DurationUnit.SECONDS:
                return f"{amount}s"
            case DurationUnit.MINUTES:
                return f"{amount}m"
            case DurationUnit.HOURS:
                return f"{amount}h"


_UNIT_WORDS = r"rings?|s|secs?|seconds?|m|mins?|minutes?|h|hours?"
DURATION_PATTERN = rf"^\s*\d+(\.\d+)?\s*({_UNIT_WORDS})\s*$"
_DURATION = re.compile(
    rf"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>{_UNIT_WORDS})\s*$",
    re.IGNORECASE,
)
_UNITS = {"r": DurationUnit.RINGS, "s": DurationUnit.SECONDS, "m": DurationUnit.MINUTES,
          "h": DurationUnit.HOURS}  # fmt: skip

# A module's parameter, `$name`: in a module a duration may be one, filled in at each use.
PARAM_REF = r"^\$[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_DURATION_S = 366 * 24 * 3600
_PARAM_REF = re.compile(PARAM_REF)


def parse_duration(value: object) -> Duration:
    """`2 rings`, `20s`, `20 seconds`, `15m`, `1h` -> Duration (in a module, `$name` too).
    Raises a pydantic error with the type `bad_duration` so the builder can give it its own
    code."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, str) and _PARAM_REF.match(value.strip()):
        return Duration(0, DurationUnit.SECONDS, param=value.strip()[1:])
    text = (
        str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    )
    match = _DURATION.match(text) if text is not None else None
    if match is None:
        raise PydanticCustomError(
            "bad_duration",
            "'{value}' is not a duration",
            {"value": "" if value is None else str(value)},
        )
    unit = _UNITS[match["unit"][0].lower()]
    duration = Duration(float(match["amount"]), unit)
    if duration.seconds(60.0) > MAX_DURATION_S:  # rings counted at a generous 60 s
        raise PydanticCustomError(
            "bad_duration", "'{value}' is longer than a year", {"value": str(value)}
        )
    return duration
