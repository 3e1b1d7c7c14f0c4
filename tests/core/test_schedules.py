"""Opening hours: weekly ranges in a time zone, DST, observed holidays, one-off changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routing_engine.core import ir
from routing_engine.core.schedules import (
    CompiledSchedule,
    ScheduleError,
    calendar_of,
    compile_schedule,
    zone_of,
)

WEEKDAYS_8_TO_6 = (ir.DayHours((0, 1, 2, 3, 4), (ir.TimeRange(8 * 60, 18 * 60),)),)


def schedule(**changes: object) -> ir.Schedule:
    base = {
        "name": "office-hours",
        "timezone": "America/New_York",
        "weekly": WEEKDAYS_8_TO_6,
        "holidays": "US",
        "closures": (),
        "openings": (),
        "override": "",
    }
    base.update(changes)
    return ir.Schedule(**base)  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("when", "state"),
    [
        ("2026-11-23T10:00:00-05:00", "open"),  # Monday morning
        ("2026-11-23T07:59:00-05:00", "closed"),
        ("2026-11-23T08:00:00-05:00", "open"),  # opening minute is open
        ("2026-11-23T18:00:00-05:00", "closed"),  # closing minute is closed
        ("2026-11-23T23:30:00Z", "closed"),  # 18:30 in New York
        ("2026-11-23T14:00:00Z", "open"),  # 09:00 in New York, given in UTC
        ("2026-11-28T10:00:00-05:00", "closed"),  # Saturday
        (
            "2026-07-03T10:00:00-04:00",
            "holiday",
        ),  # Independence Day observed (July 4 is a Saturday)
        ("2026-07-04T10:00:00-04:00", "holiday"),  # the day itself, a Saturday
        ("2026-11-26T10:00:00-05:00", "holiday"),  # Thanksgiving
        ("2026-11-27T10:00:00-05:00", "open"),  # the Friday after is a working day
    ],
)
def test_state(when: str, state: str) -> None:
    assert compile_schedule(schedule()).state(at(when)) == state


@pytest.mark.parametrize(
    ("when", "state"),
    [
        # spring forward, Sunday 2026-03-08: Monday 08:00 local is 12:00 UTC (EDT), not 13:00
        ("2026-03-09T11:59:00Z", "closed"),
        ("2026-03-09T12:00:00Z", "open"),
        ("2026-03-06T12:30:00Z", "closed"),  # the Friday before, still EST: 07:30 local
        ("2026-03-06T13:00:00Z", "open"),
        # fall back, Sunday 2026-11-01: Monday 08:00 local is 13:00 UTC (EST) again
        ("2026-11-02T12:30:00Z", "closed"),
        ("2026-11-02T13:00:00Z", "open"),
        ("2026-10-30T12:00:00Z", "open"),  # the Friday before, EDT: 08:00 local
        ("2026-10-30T22:00:00Z", "closed"),  # 18:00 EDT
    ],
)
def test_both_dst_transitions(when: str, state: str) -> None:
    assert compile_schedule(schedule()).state(at(when)) == state


@pytest.mark.parametrize(
    ("when", "next_open"),
    [
        ("2026-11-23T10:00:00-05:00", "2026-11-23T15:00:00+00:00"),  # open now: now
        ("2026-11-23T19:00:00-05:00", "2026-11-24T13:00:00+00:00"),  # evening: tomorrow 08:00 EST
        ("2026-11-27T19:00:00-05:00", "2026-11-30T13:00:00+00:00"),  # Friday night: Monday
        ("2026-07-02T19:00:00-04:00", "2026-07-06T12:00:00+00:00"),  # before the long weekend
        ("2026-03-06T19:00:00-05:00", "2026-03-09T12:00:00+00:00"),  # across spring forward
        ("2026-10-30T19:00:00-04:00", "2026-11-02T13:00:00+00:00"),  # across fall back
        ("2026-12-24T19:00:00-05:00", "2026-12-28T13:00:00+00:00"),  # Christmas Friday
    ],
)
def test_next_open(when: str, next_open: str) -> None:
    assert compile_schedule(schedule()).next_open(at(when)) == datetime.fromisoformat(next_open)


def test_one_off_closures_and_openings() -> None:
    compiled = compile_schedule(
        schedule(
            closures=(
                ir.DateHours("2026-12-24", ()),  # all day
                ir.DateHours("2026-12-31", (ir.TimeRange(12 * 60, 24 * 60),)),  # from noon
            ),
            openings=(ir.DateHours("2026-12-26", (ir.TimeRange(9 * 60, 13 * 60),)),),  # a Saturday
        )
    )
    assert compiled.state(at("2026-12-24T10:00:00-05:00")) == "closed"
    assert compiled.state(at("2026-12-31T11:00:00-05:00")) == "open"
    assert compiled.state(at("2026-12-31T12:30:00-05:00")) == "closed"
    assert compiled.state(at("2026-12-26T10:00:00-05:00")) == "open"
    assert compiled.state(at("2026-12-26T13:00:00-05:00")) == "closed"
    assert compiled.next_open(at("2026-12-25T12:00:00-05:00")) == datetime(
        2026, 12, 26, 14, tzinfo=UTC
    )


def test_an_opening_beats_a_holiday_and_override_beats_all() -> None:
    opened = compile_schedule(schedule(openings=(ir.DateHours("2026-07-03", ()),)))
    assert opened.state(at("2026-07-03T10:00:00-04:00")) == "open"
    closed = compile_schedule(schedule(override="closed"))
    assert closed.state(at("2026-11-23T10:00:00-05:00")) == "closed"
    assert closed.next_open(at("2026-11-23T10:00:00-05:00")) is None
    live = compile_schedule(schedule())
    assert live.state(at("2026-11-28T03:00:00-05:00"), override="open") == "open"


def test_holiday_names_and_subdivisions() -> None:
    compiled = compile_schedule(schedule())
    assert compiled.holiday_name(at("2026-07-03T10:00:00-04:00")) == "Independence Day (observed)"
    assert compiled.holiday_name(at("2026-11-23T10:00:00-05:00")) == ""
    assert calendar_of("US-NY") is not None
    assert calendar_of("") is None


@pytest.mark.parametrize("bad", ["America/NewYork", "Mars/Olympus", "../etc/passwd", ""])
def test_unknown_time_zones_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        zone_of(bad)


@pytest.mark.parametrize("bad", ["XX", "US-ZZ", "Narnia"])
def test_unknown_holiday_calendars_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError, match="no holiday calendar"):
        calendar_of(bad)


# Weekly hours with an opening inside the spring-forward gap, one-off openings and closures on the
# DST days: where remembering a closed span could go wrong if it were unsound.
ODD_WEEKLY = (
    ir.DayHours((6,), (ir.TimeRange(150, 240),)),
    ir.DayHours((0, 1, 2, 3, 4, 5), (ir.TimeRange(60, 130), ir.TimeRange(200, 1439))),
)
ODD_CLOSURES = (
    ir.DateHours("2026-03-09", (ir.TimeRange(600, 700),)),
    ir.DateHours("2026-11-02", ()),
)
ODD_OPENINGS = (
    ir.DateHours("2026-03-08", (ir.TimeRange(130, 170),)),
    ir.DateHours("2026-11-01", (ir.TimeRange(60, 120),)),
)


@pytest.mark.parametrize(
    "spec",
    [schedule(), schedule(weekly=ODD_WEEKLY, closures=ODD_CLOSURES, openings=ODD_OPENINGS)],
)
def test_next_open_remembers_closed_spans_without_changing_an_answer(spec: ir.Schedule) -> None:
    remembering = compile_schedule(spec)
    rng = random.Random(8)
    for base in ("2026-03-07", "2026-07-02", "2026-10-30", "2026-12-23"):
        start = at(f"{base}T00:00:00+00:00")
        for _ in range(150):
            when = start + timedelta(seconds=rng.randrange(5 * 86400))
            assert remembering.next_open(when) == compile_schedule(spec).next_open(when), when


SUNDAY_FROM_2_30 = (ir.DayHours((6,), (ir.TimeRange(150, 17 * 60),)),)
SUNDAY_FROM_1_30 = (ir.DayHours((6,), (ir.TimeRange(90, 17 * 60),)),)


@pytest.mark.parametrize(
    ("weekly", "closures", "when", "next_open"),
    [
        # Spring forward, Sunday 2027-03-14: 02:00 EST jumps to 03:00 EDT (07:00 UTC). Hours
        # from 02:30, a time that does not exist that day, start when the clock jumps past it.
        (SUNDAY_FROM_2_30, (), "2027-03-14T00:00:00-05:00", "2027-03-14T07:00:00+00:00"),
        (SUNDAY_FROM_2_30, (), "2027-03-14T06:59:00+00:00", "2027-03-14T07:00:00+00:00"),
        (
            (ir.DayHours((6,), (ir.TimeRange(3 * 60, 17 * 60),)),),
            (),
            "2027-03-14T00:00:00-05:00",
            "2027-03-14T07:00:00+00:00",
        ),
        # A one-off closure that ends inside the gap: open again when the clock jumps past it.
        (
            (ir.DayHours((6,), (ir.TimeRange(0, 17 * 60),)),),
            (ir.DateHours("2027-03-14", (ir.TimeRange(0, 150),)),),
            "2027-03-14T00:10:00-05:00",
            "2027-03-14T07:00:00+00:00",
        ),
        # Fall back, Sunday 2027-11-07: 01:00-02:00 is lived twice (EDT, then EST). Hours from
        # 01:30 open at 01:30 EDT, close at 02:00 EDT (back to 01:00 EST), and open again at
        # 01:30 EST.
        (SUNDAY_FROM_1_30, (), "2027-11-07T00:00:00-04:00", "2027-11-07T05:30:00+00:00"),
        (SUNDAY_FROM_1_30, (), "2027-11-07T06:10:00+00:00", "2027-11-07T06:30:00+00:00"),
    ],
)
def test_next_open_on_the_days_the_clocks_change(
    weekly: tuple[ir.DayHours, ...],
    closures: tuple[ir.DateHours, ...],
    when: str,
    next_open: str,
) -> None:
    compiled = compile_schedule(schedule(weekly=weekly, closures=closures, holidays=""))
    assert compiled.next_open(at(when)) == datetime.fromisoformat(next_open)


def first_open_minute(compiled: CompiledSchedule, since: datetime) -> datetime | None:
    """The first whole UTC minute at or after `since` at which the schedule is open, by trying
    every minute of the next three days."""
    if compiled.state(since) == "open":
        return since
    minute = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(3 * 24 * 60):
        if compiled.state(minute) == "open":
            return minute
        minute += timedelta(minutes=1)
    return None


@pytest.mark.parametrize(
    "spec",
    [
        schedule(weekly=ODD_WEEKLY, closures=ODD_CLOSURES, openings=ODD_OPENINGS),
        schedule(weekly=SUNDAY_FROM_2_30 + ODD_WEEKLY[1:]),
        schedule(weekly=SUNDAY_FROM_1_30 + ODD_WEEKLY[1:], timezone="Europe/Paris"),
    ],
)
def test_next_open_is_the_first_open_minute_around_both_clock_changes(spec: ir.Schedule) -> None:
    rng, compiled = random.Random(16), compile_schedule(spec)
    changes = ("2026-03-07", "2026-10-31", "2026-03-28", "2026-10-24")  # New York's, Paris's
    for base in (at(f"{day}T12:00:00+00:00") for day in changes):
        for offset in [*range(0, 2 * 86400, 3600), *(rng.randrange(2 * 86400) for _ in range(30))]:
            when = base + timedelta(seconds=offset)
            assert compile_schedule(spec).next_open(when) == first_open_minute(compiled, when), when
