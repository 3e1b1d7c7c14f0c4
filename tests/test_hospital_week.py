"""The complete hospital (issue 3) at several times of the week, through the Python API:
office hours, observed holidays, after-hours messages due at the next opening, billing by the
caller's state, and ER calls that ignore opening hours."""

from __future__ import annotations

from typing import Any

import pytest

from routing_engine import LoadedDeployment

MAIN, ER, BILLING, CARDIOLOGY = "+12125550111", "+12125550100", "+12125550140", "+12125550120"
NY_CALLER, CA_CALLER, TOLL_FREE = "+12125550123", "+14155550123", "+18005550123"
WEEKDAY_MORNING = "2026-11-23T10:00:00-05:00"  # Monday
WEEKDAY_NIGHT = "2026-11-23T21:00:00-05:00"
SATURDAY = "2026-11-28T10:00:00-05:00"
OBSERVED_HOLIDAY = "2026-07-03T10:00:00-04:00"  # Friday; July 4 is a Saturday


def call(hospital: LoadedDeployment, caller: str, dialed: str, at: str, *events: dict[str, Any]):
    state, decision = hospital.start_call({"call_id": "c", "from": caller, "to": dialed, "at": at})
    decisions = [decision]
    for number, event in enumerate(events, start=1):
        body = {"event_id": f"e{number}", "seq": decision["seq"], "at": at, **event}
        state, decision = hospital.apply_event(state, body)
        decisions.append(decision)
    return state, decisions


def rung(decision: dict[str, Any]) -> list[str]:
    return [t["name"] for a in decision["actions"] if a["type"] == "ring" for t in a["targets"]]


@pytest.mark.parametrize(
    ("caller", "target"),
    [
        (NY_CALLER, "billing-ny"),
        ("+17185550123", "billing-ny"),
        (CA_CALLER, "billing-central"),
        (TOLL_FREE, "billing-central"),
        ("+442079460000", "billing-central"),
        ("anonymous", "billing-central"),
    ],
)
def test_billing_by_the_callers_state(hospital: LoadedDeployment, caller: str, target: str) -> None:
    _, (decision,) = call(hospital, caller, BILLING, WEEKDAY_MORNING)
    assert rung(decision) == [target]
    assert decision["actions"][0]["timeout_s"] == 12.0


def test_billing_through_the_menu_and_the_telephony_region(hospital: LoadedDeployment) -> None:
    _, decisions = call(
        hospital, CA_CALLER, MAIN, WEEKDAY_MORNING, {"type": "digits", "data": {"digits": "3"}}
    )
    assert rung(decisions[-1]) == ["billing-central"]
    _, decision = hospital.start_call(
        {
            "call_id": "r",
            "from": CA_CALLER,
            "to": BILLING,
            "at": WEEKDAY_MORNING,
            "attributes": {"region": "US-NY"},
        }
    )
    assert rung(decision) == ["billing-ny"]


@pytest.mark.parametrize("at", [WEEKDAY_NIGHT, SATURDAY, OBSERVED_HOLIDAY])
def test_offices_take_a_message_out_of_hours(hospital: LoadedDeployment, at: str) -> None:
    _, (decision,) = call(hospital, NY_CALLER, CARDIOLOGY, at)
    assert decision["node"] == "office.after-hours.take-message"
    assert [a["type"] for a in decision["actions"]] == ["voicemail"]
    assert decision["actions"][0]["board"] == "cardiology"


@pytest.mark.parametrize(
    ("at", "due"),
    [
        (WEEKDAY_NIGHT, "2026-11-24T13:00:00Z"),  # Tuesday 08:00 EST
        (SATURDAY, "2026-11-30T13:00:00Z"),  # Monday 08:00 EST
        (OBSERVED_HOLIDAY, "2026-07-06T12:00:00Z"),  # Monday 08:00 EDT
    ],
)
def test_after_hours_message_is_due_at_the_next_opening(
    hospital: LoadedDeployment, at: str, due: str
) -> None:
    state, decisions = call(
        hospital, NY_CALLER, MAIN, at,
        {"type": "digits", "data": {"digits": "1"}},
        {"type": "recording.done", "data": {"recording": "rec-7"}},
    )  # fmt: skip
    ticket = decisions[-1]["actions"][0]
    assert ticket["type"] == "ticket"
    assert (ticket["board"], ticket["due"], ticket["recording"]) == ("cardiology", due, "rec-7")
    assert ticket["managers"] == ["cardiology-manager"]
    assert state["status"] == "ended"


def test_the_holiday_is_named_in_the_trace(hospital: LoadedDeployment) -> None:
    _, (decision,) = call(hospital, NY_CALLER, BILLING, OBSERVED_HOLIDAY)
    assert any("Independence Day (observed)" in line for line in decision["trace"])


@pytest.mark.parametrize("at", [WEEKDAY_MORNING, WEEKDAY_NIGHT, SATURDAY, OBSERVED_HOLIDAY])
def test_er_ignores_opening_hours(hospital: LoadedDeployment, at: str) -> None:
    _, decisions = call(hospital, NY_CALLER, ER, at, {"type": "dial.no-answer"})
    assert rung(decisions[0]) == ["er-nurse"]
    assert rung(decisions[1]) == ["er-nurse-backup"]


@pytest.mark.parametrize("at", [WEEKDAY_MORNING, SATURDAY])
def test_the_menu_answers_at_any_time(hospital: LoadedDeployment, at: str) -> None:
    _, (decision,) = call(hospital, NY_CALLER, MAIN, at)
    assert decision["actions"][0]["type"] == "menu"


def test_an_emergency_closure_override(hospital: LoadedDeployment) -> None:
    from routing_engine.core.runtime import NewCall, start

    compiled = hospital.compiled
    from datetime import datetime

    new_call = NewCall("o", NY_CALLER, CARDIOLOGY, datetime.fromisoformat(WEEKDAY_MORNING))
    _, decision = start(compiled, new_call, overrides={"office-hours": "closed"})
    assert decision.node == "office.after-hours.take-message"
    _, decision = start(compiled, new_call)
    assert decision.node == "office.ring-office"
