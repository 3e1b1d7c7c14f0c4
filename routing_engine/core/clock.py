"""Time as an input. The runtime never reads a clock: the time arrives with each call and
event. The adapters around it (the service, its timers, deliveries, sessions and the board)
read one injectable `Clock`, so a test, a replay or a demo can run the whole service at any
instant, frozen or moving.

- `system_clock`: the machine's time, in UTC (the default everywhere).
- `moved_clock(start)`: starts at `start` and advances with real time, so timers still fire;
  what `cli.py serve --now` serves with (every worker shares one offset).
- `ManualClock`: stands still until moved by hand; what tests use in process.

And the call's own clock: an event that carries no time is timed on the clock of the call it
belongs to (`call_time`), so a call started with an explicit `at` (a replay, a simulation, a
test harness) and continued without one is decided at the call's time, not the server's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

OFFSET_ENV = "ROUTING_CLOCK_OFFSET_S"  # the serving workers' shared offset from the machine's
DEFAULT_MAX_SKEW_S = 86_400.0  # how far a request's explicit `at` may be from the clock


def system_clock() -> datetime:
    """The machine's time, in UTC."""
    return datetime.now(UTC)


def moved_clock(start: datetime, wall: Clock = system_clock) -> Clock:
    """A clock that reads `start` now and advances with `wall` from here on."""
    return offset_clock((start - wall()).total_seconds(), wall)


def offset_clock(offset_s: float, wall: Clock = system_clock) -> Clock:
    """`wall` moved by `offset_s` seconds (a clock several processes can share exactly)."""
    if offset_s == 0:
        return wall
    offset = timedelta(seconds=offset_s)
    return lambda: wall() + offset


class ManualClock:
    """A clock that stands still until it is set or advanced."""

    def __init__(self, at: datetime):
        self.at = _aware(at)

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = _aware(at)

    def advance(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


def call_time(call_at: datetime, started: datetime, previous: datetime, now: datetime) -> datetime:
    """When an event with no time of its own happened, on its call's clock: the call's `at`
    plus the time elapsed on the server since the call started (`started`, the server's clock
    then; no offset when the call had no `at`), and never before the call's previous event."""
    return max(call_at + (now - started), previous)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a clock's time needs a UTC offset")
    return at.astimezone(UTC)
