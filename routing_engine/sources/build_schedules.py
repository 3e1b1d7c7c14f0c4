"""Schedules as written -> IR: day specs (`mon-fri`, `sat,sun`, `daily`), hours
(`08:00-18:00`), and one-off dates (`2026-12-24 12:00-18:00`), each problem a diagnostic."""

from __future__ import annotations

import re
from datetime import date

from routing_engine.core import ir
from routing_engine.core.diagnostics import Diagnostic, Severity
from routing_engine.sources import model as m
from routing_engine.sources.raw import Path, RawDocument

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_GROUPS = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}


def parse_days(text: str) -> tuple[int, ...] | None:
    """`mon`, `mon-fri`, `sat,sun`, `daily`, `weekdays`, `weekends` -> weekday numbers."""
    days: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        if part in DAY_GROUPS:
            days.extend(DAY_GROUPS[part])
            continue
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            return None
        start, end = DAY_NAMES.index(first[:3]), DAY_NAMES.index((last or first)[:3])
        if end < start:
            return None
        days.extend(range(start, end + 1))
    return tuple(sorted(set(days)))


def parse_range(text: str) -> ir.TimeRange | str:
    """`08:00-18:00` -> TimeRange, or the reason it is not one."""
    start_text, _, end_text = text.replace(" ", "").partition("-")
    minutes = []
    for part in (start_text, end_text):
        hours, _, mins = part.partition(":")
        if not (hours.isdigit() and mins.isdigit()) or int(mins) > 59 or int(hours) > 24:
            return f"'{part}' is not a time of day"
        minutes.append(int(hours) * 60 + int(mins))
    if minutes[1] > 24 * 60:
        return f"'{end_text}' is after 24:00"
    if minutes[1] <= minutes[0]:
        return "the end is not after the start; split hours past midnight over two days"
    return ir.TimeRange(minutes[0], minutes[1])


# A time as people type it: `8`, `8:30`, `8.30`, `8h30`, `8am`, `8:30 p.m.`
_TIME = r"(\d{1,2})(?:[:.h](\d{2})|h)?\s*([ap])?\.?(?:m\.?)?"
_TYPED_RANGE = re.compile(rf"\s*{_TIME}\s*(?:-|\u2013|to)\s*{_TIME}\s*", re.IGNORECASE)


def _typed_minutes(hours: str, mins: str | None, half: str | None) -> int | None:
    """One typed time -> minutes after midnight; None when it is not a time of day."""
    hour, minute = int(hours), int(mins or 0)
    if minute > 59:
        return None
    if half:  # a 12-hour clock: 12am is midnight, 12pm is noon
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    return hour * 60 + minute if hour <= 24 else None


def typed_range(text: str) -> str:
    """The 24-hour `HH:MM-HH:MM` form of hours typed another way (`8am-5pm`, `8-17`, `8h-17h`),
    or '' when the text cannot be read as one range that ends after it starts."""
    match = _TYPED_RANGE.fullmatch(text)
    if match is None:
        return ""
    start = _typed_minutes(*match.group(1, 2, 3))
    end = _typed_minutes(*match.group(4, 5, 6))
    if start is None or end is None or not start < end <= 24 * 60:
        return ""
    return str(ir.TimeRange(start, end))


def hours_problem(text: str, what: str) -> tuple[str, str]:
    """The message and hint for hours that are not written `HH:MM-HH:MM`: the 24-hour form
    to write instead when the text can be read as a range (`8am-5pm` -> `08:00-17:00`)."""
    rewritten = typed_range(text)
    message = f"'{text}' is not a time range written HH:MM-HH:MM ({what})"
    if rewritten:
        return message, f"write hours on a 24-hour clock: {rewritten}"
    return message, "write hours on a 24-hour clock as HH:MM-HH:MM, e.g. 08:00-17:00"


def date_problem(text: str, what: str) -> tuple[str, str]:
    """The message and hint for a one-off date whose hours are not written `HH:MM-HH:MM`."""
    day, _, hours = text.strip().partition(" ")
    rewritten = [typed_range(part) for part in hours.split(",")] if hours.strip() else []
    message = f"'{text}' is not a date with hours written HH:MM-HH:MM ({what})"
    if rewritten and all(rewritten):
        return message, f"write hours on a 24-hour clock: {day} {' '.join(rewritten)}"
    return message, "write YYYY-MM-DD, then any hours as HH:MM-HH:MM: 2026-12-24 08:00-12:00"


def _ranges(
    doc: RawDocument, path: Path, texts: list[str], diags: list[Diagnostic]
) -> tuple[ir.TimeRange, ...]:
    out = []
    for i, text in enumerate(texts):
        parsed = parse_range(text)
        if isinstance(parsed, str):
            where = (*path, i) if (*path, i) in doc.value_spans else path
            diags.append(
                Diagnostic(
                    "S105",
                    Severity.ERROR,
                    f"'{text}': {parsed}",
                    doc.value_span(where),
                    "write hours as HH:MM-HH:MM, e.g. 08:00-18:00",
                )
            )
        else:
            out.append(parsed)
    return tuple(out)


def _dates(
    doc: RawDocument, path: Path, texts: list[str], diags: list[Diagnostic]
) -> tuple[ir.DateHours, ...]:
    out = []
    for i, text in enumerate(texts):
        day, _, rest = text.strip().partition(" ")
        hours = re.findall(r"\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}", rest)
        try:
            date.fromisoformat(day)
        except ValueError:
            diags.append(
                Diagnostic(
                    "S105",
                    Severity.ERROR,
                    f"'{day}' is not a date",
                    doc.value_span((*path, i)),
                    "write dates as YYYY-MM-DD",
                )
            )
            continue
        ranges = _ranges(doc, (*path, i), hours, diags)
        out.append(ir.DateHours(day, ranges, doc.value_span((*path, i))))
    return tuple(out)


def build_schedule(
    doc: RawDocument, name: str, spec: m.ScheduleSpec, diags: list[Diagnostic]
) -> ir.Schedule:
    base: Path = ("schedules", name)
    weekly = []
    for days_text, ranges in spec.weekly.items():
        days = parse_days(days_text)
        if days is None:
            diags.append(
                Diagnostic(
                    "S105",
                    Severity.ERROR,
                    f"'{days_text}' is not a day or a range of days (schedule '{name}')",
                    doc.key_span((*base, "weekly", days_text)),
                    "write mon, tue, ... sun, a range like mon-fri, a list like sat,sun, or daily",
                )
            )
            continue
        path = (*base, "weekly", days_text)
        weekly.append(ir.DayHours(days, _ranges(doc, path, ranges, diags), doc.key_span(path)))
    return ir.Schedule(
        name,
        spec.timezone,
        tuple(weekly),
        spec.holidays.strip(),
        _dates(doc, (*base, "closed"), spec.closed, diags),
        _dates(doc, (*base, "open"), spec.open, diags),
        spec.override or "",
        doc.key_span(base),
        doc.value_span((*base, "timezone")),
        doc.value_span((*base, "holidays")),
    )
