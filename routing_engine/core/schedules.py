"""Opening hours: is a schedule open, closed or on holiday at a given instant, and when does it
next open. Pure: the instant is an argument, never the clock.

Times arrive in UTC (or any offset); they are converted to the schedule's own time zone only to
read the local date and time of day, so daylight-saving changes need no special case. Holidays
come from the `holidays` package with observed days (2026-07-03 for Independence Day on a
Saturday).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package

from routing_engine.core import ir

OPEN, CLOSED, HOLIDAY = "open", "closed", "holiday"
LOOKAHEAD_DAYS = 60
MEMO_DAYS = 4096
MEMO_SPANS = 16
MINUTE = timedelta(minutes=1)


class ScheduleError(ValueError):
    """A schedule that cannot be built: unknown time zone or holiday calendar."""


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder name, too long...
        raise ScheduleError(f"unknown time zone '{name}'") from None


def calendar_of(spec: str) -> holidays_package.HolidayBase | None:
    """`US` or `US-NY` -> the holiday calendar, observed days included; '' -> None."""
    if not spec:
        return None
    country, dash, subdivision = spec.partition("-")
    if dash and not subdivision:
        raise ScheduleError(f"no holiday calendar for '{spec}'")
    try:
        return holidays_package.country_holidays(country, subdiv=subdivision or None, observed=True)
    except NotImplementedError:
        raise ScheduleError(f"no holiday calendar for '{spec}'") from None


def _within(ranges: tuple[ir.TimeRange, ...], minute: int) -> bool:
    return any(r.start <= minute < r.end for r in ranges)


@dataclass(eq=False, slots=True)
class CompiledSchedule:
    name: str
    zone: ZoneInfo
    weekly: tuple[tuple[ir.TimeRange, ...], ...]  # 7 entries, Monday first
    calendar: holidays_package.HolidayBase | None
    closures: dict[date, tuple[ir.TimeRange, ...]] = field(default_factory=dict)  # () = all day
    openings: dict[date, tuple[ir.TimeRange, ...]] = field(default_factory=dict)
    override: str = ""
    # The calendar's answer per local date: its lookup is slow, and the answer never changes.
    # At most MEMO_DAYS dates are kept (event times come from outside; they may be anything).
    _holidays: dict[date, str] = field(default_factory=dict, init=False, repr=False)
    # Recent answers of next_open, as (since, until): closed from `since` on, opening at `until`.
    # Any instant in between that is not open opens then too (see next_open).
    _closed: list[tuple[datetime, datetime]] = field(default_factory=list, init=False, repr=False)

    def state(self, at: datetime, override: str = "") -> str:
        """`open`, `closed` or `holiday` at the instant `at` (timezone-aware)."""
        forced = override or self.override
        if forced:
            return forced
        local = at.astimezone(self.zone)
        day, minute = local.date(), local.hour * 60 + local.minute
        opening = self.openings.get(day)
        if opening is not None and (not opening or _within(opening, minute)):
            return OPEN
        closure = self.closures.get(day)
        if closure is not None and (not closure or _within(closure, minute)):
            return CLOSED
        if self._holiday(day):
            return HOLIDAY
        return OPEN if _within(self.weekly[day.weekday()], minute) else CLOSED

    def holiday_name(self, at: datetime) -> str:
        """The name of the holiday on the local date of `at`, or ''."""
        if self.calendar is None:
            return ""
        return self._holiday(at.astimezone(self.zone).date())

    def _holiday(self, day: date) -> str:
        """The name of the holiday on `day`, or ''."""
        name = self._holidays.get(day)
        if name is None:
            name = str(self.calendar.get(day) or "") if self.calendar is not None else ""
            if len(self._holidays) >= MEMO_DAYS:
                self._holidays.clear()
            self._holidays[day] = name
        return name

    def next_open(self, at: datetime, override: str = "") -> datetime | None:
        """The first instant at or after `at` when the schedule is open (UTC), or None when it
        does not open within the next LOOKAHEAD_DAYS days (or is forced closed)."""
        if self.state(at, override) == OPEN:
            return at.astimezone(UTC)
        if override or self.override:
            return None
        # The scan from `since` found every candidate after it up to `until` closed; from an
        # instant in between that is not open, it would find the same ones, then `until`.
        aware = at.tzinfo is not None  # (a naive time is read as the machine's local time)
        for since, until in self._closed if aware else ():
            if since <= at < until:
                return until
        found = self._scan(at)
        if found is not None and aware:
            if len(self._closed) >= MEMO_SPANS:
                del self._closed[0]
            self._closed.append((at, found))
        return found

    def next_opening(self, at: datetime, override: str = "") -> datetime | None:
        """The start of the next open period after `at`: when the schedule is closed at `at`,
        its next opening (as `next_open`); when it is open, the first opening after this open
        period ends. None when there is none within LOOKAHEAD_DAYS days (or it is forced)."""
        if self.state(at, override) != OPEN:
            return self.next_open(at, override)
        if override or self.override:
            return None
        closing = self._next_close(at)
        return None if closing is None else self.next_open(closing)

    def _next_close(self, at: datetime) -> datetime | None:
        """The first candidate instant after `at` (open) at which the schedule is not open."""
        local, now = at.astimezone(self.zone), at.astimezone(UTC)
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            for minute in self._closings(day):
                for instant in self._instants(day, minute):
                    if instant > now and self.state(instant) != OPEN:
                        return instant
        return None

    def _closings(self, day: date) -> list[int]:
        """Minutes of a day at which the schedule may turn closed (or go on holiday)."""
        ends = {0}
        ends.update(r.end for r in self.weekly[day.weekday()] if r.end < 24 * 60)
        ends.update(r.end for r in self.openings.get(day, ()) if r.end < 24 * 60)
        ends.update(r.start for r in self.closures.get(day, ()))
        return sorted(ends)

    def _scan(self, at: datetime) -> datetime | None:
        """The first candidate instant after `at` (not open) at which the schedule is open."""
        local, now = at.astimezone(self.zone), at.astimezone(UTC)
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            for minute in self._candidates(day):
                for instant in self._instants(day, minute):  # compare instants, not wall times
                    if instant > now and self.state(instant) == OPEN:
                        return instant
        return None

    def _instants(self, day: date, minute: int) -> tuple[datetime, ...]:
        """The UTC instants at which the local clock reaches `minute` of `day`: twice in the
        hour that autumn repeats; in the hour that spring skips, once, when the clock jumps
        past it (hours from 02:30 start at 03:00 that day, not at 03:30)."""
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        first = wall.replace(tzinfo=self.zone).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first < second:  # repeated
            return first, second
        if first > second:  # skipped: `first` reads the wall time with the offset before the gap
            return (self._jump(second, first),)
        return (first,)

    def _jump(self, before: datetime, after: datetime) -> datetime:
        """The first whole minute after `before` with the UTC offset of `after` (a DST jump
        lies between them)."""
        offset = after.astimezone(self.zone).utcoffset()
        low, high = 0, (after - before) // MINUTE
        while high - low > 1:
            middle = (low + high) // 2
            if (before + middle * MINUTE).astimezone(self.zone).utcoffset() == offset:
                high = middle
            else:
                low = middle
        return before + high * MINUTE

    def _candidates(self, day: date) -> list[int]:
        """Minutes of a day at which the schedule may turn open."""
        starts = {0}
        starts.update(r.start for r in self.weekly[day.weekday()])
        starts.update(r.start for r in self.openings.get(day, ()))
        starts.update(r.end for r in self.closures.get(day, ()) if r.end < 24 * 60)
        return sorted(starts)


def _by_date(entries: tuple[ir.DateHours, ...]) -> dict[date, tuple[ir.TimeRange, ...]]:
    """One-off dates: several entries for one date add up; a whole-day entry covers the day."""
    out: dict[date, tuple[ir.TimeRange, ...]] = {}
    for entry in entries:
        day = date.fromisoformat(entry.date)
        if day in out and (not out[day] or not entry.ranges):
            out[day] = ()  # the whole day
        else:
            out[day] = (*out.get(day, ()), *entry.ranges)
    return out


def compile_schedule(schedule: ir.Schedule) -> CompiledSchedule:
    """Raises ScheduleError for an unknown time zone or holiday calendar."""
    weekly: list[list[ir.TimeRange]] = [[] for _ in range(7)]
    for line in schedule.weekly:
        for day in line.days:
            weekly[day].extend(line.ranges)
    return CompiledSchedule(
        name=schedule.name,
        zone=zone_of(schedule.timezone),
        weekly=tuple(tuple(sorted(ranges, key=lambda r: r.start)) for ranges in weekly),
        calendar=calendar_of(schedule.holidays),
        closures=_by_date(schedule.closures),
        openings=_by_date(schedule.openings),
        override=schedule.override,
    )
