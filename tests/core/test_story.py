"""Tickets tell staff what happened on the call, in plain words read from its trace."""

from __future__ import annotations

from routing_engine import LoadedDeployment
from routing_engine.core.story import story

AT = "2026-11-24T10:00:00-05:00"


def walk(
    hospital: LoadedDeployment, to: str, events: list[tuple[str, dict[str, str]]], **call: str
) -> dict:  # type: ignore[type-arg]
    state, decision = hospital.start_call(
        {"call_id": "s", "from": "+12125550123", "to": to, "at": AT, **call}
    )
    for seq, (kind, data) in enumerate(events, start=1):
        event = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data, "at": AT}
        state, decision = hospital.apply_event(state, event)
    return decision  # type: ignore[no-any-return]


def test_a_ticket_tells_the_call_so_far(hospital: LoadedDeployment) -> None:
    events = [
        ("no-input", {}),
        ("digits", {"digits": "9"}),
        ("digits", {"digits": "3"}),
        ("dial.no-answer", {}),
        ("dial.answered", {}),
        ("outcome", {"outcome": "needs-office"}),
    ]
    decision = walk(hospital, "+12125550111", events)
    [ticket] = [a for a in decision["actions"] if a["type"] == "ticket"]
    assert ticket["story"] == [
        "Called +12125550111 (ivr)",
        "main-menu: no input; played again",
        "main-menu: pressed a wrong key: '9'; played again",
        "Pressed 3 at main-menu",
        'route-by-state: caller.state == "NY"',
        "office-hours was open",
        "Rang billing-ny: no answer",
        "offshore-center answered",
        "They reported: needs-office",
    ]


def test_rings_in_turn_and_at_once(hospital: LoadedDeployment) -> None:
    state, _ = hospital.start_call(
        {"call_id": "er", "from": "+12125550123", "to": "+12125550100", "at": AT}
    )
    for seq, kind in enumerate(["dial.no-answer", "dial.busy", "dial.no-answer"], start=1):
        state, _ = hospital.apply_event(
            state, {"event_id": f"e{seq}", "seq": seq, "type": kind, "at": AT}
        )
    assert story(hospital.compiled, state["trace"]) == [
        "Called +12125550100 (er)",
        "Rang er-nurse: no answer",
        "Rang er-nurse-backup: busy",
        "Rang er-nurse and er-nurse-backup: no answer",
    ]


def test_a_holiday_and_a_message(hospital: LoadedDeployment) -> None:
    state, _ = hospital.start_call(
        {"call_id": "h", "from": "anonymous", "to": "+12125550140",
         "at": "2026-07-03T10:00:00-04:00"}
    )  # fmt: skip
    assert story(hospital.compiled, state["trace"]) == [
        "Called +12125550140 (billing)",
        'route-by-state: caller.type != "geographic"',
        "office-hours was closed for Independence Day (observed)",
    ]
    assert story(hospital.compiled, ["odd line", "x: caller hung up"]) == ["The caller hung up"]
