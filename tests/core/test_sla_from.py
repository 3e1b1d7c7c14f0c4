"""`sla_from`: a ticket's SLA counted from a schedule's opening. At a closed moment it runs
from the next opening; at an open moment an `sla` runs from now, and without one the ticket is
due at the next opening after this open period, never at once. The clock is the call's `at`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import write_files

from routing_engine import LoadedDeployment, check, load_deployment
from routing_engine.core import ir
from routing_engine.core.schedules import compile_schedule

DEPLOYMENT = """
    deployment: test
    fallback:
      ring: desk
    entries:
      "+12125550100": message
      "+12125550101": timed
    targets:
      desk:
        uri: sip:desk@example.com
    contacts:
      boss:
        email: boss@example.com
    schedules:
      office:
        timezone: America/New_York
        weekly:
          mon-fri: 08:00-18:00
    boards:
      office:
        name: Office
    """
MESSAGE = """
    flow: message
    start: take-message
    nodes:
      take-message:
        voicemail: office
        sla_from: office
        managers: [boss]
        escalate:
          - after: 30m
            notify: [boss]
    """
TIMED = """
    flow: timed
    start: note
    nodes:
      note:
        ticket: office
        sla: 15m
        sla_from: office
        next: bye
      bye:
        hangup:
    """

MONDAY_OPEN = "2026-11-23T10:00:00-05:00"
MONDAY_NIGHT = "2026-11-23T20:00:00-05:00"
FRIDAY_OPEN = "2026-11-27T17:59:00-05:00"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> LoadedDeployment:
    files = {"deployment.yaml": DEPLOYMENT, "message.yaml": MESSAGE, "timed.yaml": TIMED}
    return load_deployment(write_files(tmp_path_factory.mktemp("sla"), files))


def ticket_of(office: LoadedDeployment, dialed: str, at: str) -> dict[str, Any]:
    state, decision = office.start_call({"call_id": "c", "from": "+12125550123", "to": dialed,
                                         "at": at})  # fmt: skip
    if dialed.endswith("100"):  # the voicemail: its ticket comes with the recording
        event = {"event_id": "e1", "seq": decision["seq"], "at": at, "type": "recording.done",
                 "data": {"recording": "rec-1"}}  # fmt: skip
        state, decision = office.apply_event(state, event)
    (ticket,) = [a for a in decision["actions"] if a["type"] == "ticket"]
    return ticket


@pytest.mark.parametrize(
    ("at", "due", "escalation"),
    [
        # open: due when the office next opens after today's closing, Tuesday 08:00 EST
        (MONDAY_OPEN, "2026-11-24T13:00:00Z", "2026-11-24T13:30:00Z"),
        (FRIDAY_OPEN, "2026-11-30T13:00:00Z", "2026-11-30T13:30:00Z"),  # Monday after
        # closed: due at the next opening
        (MONDAY_NIGHT, "2026-11-24T13:00:00Z", "2026-11-24T13:30:00Z"),
    ],
)
def test_a_message_due_at_the_next_opening_is_never_due_at_once(
    office: LoadedDeployment, at: str, due: str, escalation: str
) -> None:
    ticket = ticket_of(office, "+12125550100", at)
    assert ticket["due"] == due
    assert [step["due"] for step in ticket["escalations"]] == [escalation]
    assert datetime.fromisoformat(ticket["due"]) > datetime.fromisoformat(at)


@pytest.mark.parametrize(
    ("at", "due"),
    [
        (MONDAY_OPEN, "2026-11-23T15:15:00Z"),  # open: 15 minutes from now
        (MONDAY_NIGHT, "2026-11-24T13:15:00Z"),  # closed: 15 minutes after Tuesday's opening
    ],
)
def test_an_sla_counted_from_a_schedule_runs_from_now_while_it_is_open(
    office: LoadedDeployment, at: str, due: str
) -> None:
    assert ticket_of(office, "+12125550101", at)["due"] == due


def test_next_opening_is_the_start_of_the_next_open_period() -> None:
    schedule = compile_schedule(
        ir.Schedule(
            "office",
            "America/New_York",
            (ir.DayHours((0, 1, 2, 3, 4), (ir.TimeRange(480, 720), ir.TimeRange(780, 1080))),),
            "US",
            (),
            (),
            "",
        )
    )
    at = datetime.fromisoformat
    assert schedule.next_opening(at("2026-11-23T10:00:00-05:00")) == at("2026-11-23T18:00:00Z")
    assert schedule.next_opening(at("2026-11-23T12:30:00-05:00")) == at("2026-11-23T18:00:00Z")
    assert schedule.next_opening(at("2026-11-25T15:00:00-05:00")) == at("2026-11-27T13:00:00Z")
    assert schedule.next_opening(at("2026-11-23T10:00:00-05:00"), "open") is None


def test_the_warning_for_the_message_reached_while_open(office: LoadedDeployment) -> None:
    (warning,) = office.warnings  # the voicemail; the ticket has an sla: nothing to say
    assert (warning.code, warning.span.line, warning.span.column) == ("W310", 6, 15)
    assert warning.message.endswith("while 'office' is open: +12125550100 -> take-message")


DSL_DEPLOYMENT = """
    deployment test
      fallback
        ring desk
      entry +12125550100 -> message
      target desk
        uri sip:desk@example.com
      schedule office
        timezone America/New_York
        weekly mon-fri 08:00-18:00
      board office "Office"
    """
DSL_MESSAGE = """
    flow message
      check: hours office
        open -> take-message
        closed -> take-message
      take-message: voicemail office
        sla_from office
    """


def test_the_warning_in_the_dsl_points_at_its_line_with_its_syntax(tmp_path: Path) -> None:
    files = {"deployment.flow": DSL_DEPLOYMENT, "message.flow": DSL_MESSAGE}
    result = check(write_files(tmp_path, files))
    (warning,) = result.diagnostics
    assert (warning.code, warning.span.line, warning.span.column) == ("W310", 6, 14)
    assert "+12125550100 -> check (open) -> take-message" in warning.message
    assert "`closed -> take-message`" in warning.hint and "closed:" not in warning.hint


MODULE = """
    module: after-hours
    params:
      hours: schedule
    start: take-message
    nodes:
      take-message:
        voicemail: office
        sla_from: $hours
    """
USES = """
    flow: message
    start: first
    nodes:
      first:
        use: after-hours
        with: {hours: office}
    """


def test_a_modules_copy_reached_while_open_is_reported_where_its_use_names_the_schedule(
    tmp_path: Path,
) -> None:
    deployment = DEPLOYMENT.replace('      "+12125550101": timed\n', "")
    files = {"deployment.yaml": deployment, "message.yaml": USES, "after-hours.yaml": MODULE}
    result = check(write_files(tmp_path, files))
    (warning,) = result.diagnostics
    assert warning.code == "W310" and warning.span.file.endswith("message.yaml")
    assert (warning.span.line, warning.span.column) == (6, 19)  # with: {hours: office}
    assert "voicemail 'first.take-message' of flow 'message'" in warning.message
    assert "`closed: first`" in warning.hint  # the use is what calls are led to
