"""Time is an input: the service reads one injected clock, and a call keeps its own clock. An
event with no `at` is timed on its call's clock (the call's `at` plus the time elapsed since
it started, never before its previous event); an explicit `at` before the previous event, or
far from the server's clock, is refused with a 422 naming the field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HOSPITAL, in_process

from routing_engine.core.clock import ManualClock, call_time, moved_clock, offset_clock
from routing_engine.service.app import create_app

IVR = "+12125550111"
CALLER = "+12125550123"
SUNDAY_EVENING = datetime.fromisoformat("2026-11-22T20:00:00-05:00")  # the offices are closed
MONDAY_MORNING = "2026-11-23T10:15:00-05:00"  # 14 hours on: the offices are open
TUESDAY_MORNING = "2026-11-24T10:15:00-05:00"

Client = httpx.AsyncClient


def serve(
    tmp_path: Path,
    clock: ManualClock,
    scenario: Callable[[Client], Awaitable[None]],
    **options: Any,
) -> None:
    app = create_app(
        HOSPITAL, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", 5.0, clock=clock, **options
    )

    in_process(app, scenario)


async def start(client: Client, call_id: str, at: str | None) -> httpx.Response:
    body: dict[str, Any] = {"call_id": call_id, "from": CALLER, "to": IVR}
    if at is not None:
        body["at"] = at
    return await client.post("/v1/calls", json=body)


async def press(
    client: Client, call_id: str, seq: int, digit: str, at: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "event_id": f"e{seq}",
        "seq": seq,
        "type": "digits",
        "data": {"digits": digit},
    }
    if at is not None:
        body["at"] = at
    return await client.post(f"/v1/calls/{call_id}/events", json=body)


async def state(client: Client, call_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"/v1/calls/{call_id}")).json()
    return found


def test_a_call_started_in_office_hours_and_continued_without_at_rings_the_office(
    tmp_path: Path,
) -> None:
    clock = ManualClock(SUNDAY_EVENING)

    async def scenario(client: Client) -> None:
        assert (await start(client, "replay", MONDAY_MORNING)).status_code == 200
        clock.advance(4)  # the caller presses 1 four seconds later, on the server's clock
        decision = (await press(client, "replay", 1, "1")).json()
        assert decision["node"] == "office.ring-office", decision["trace"]
        assert [t["name"] for t in decision["actions"][0]["targets"]] == ["cardiology-office"]
        stored = await state(client, "replay")
        assert stored["updated_at"] == "2026-11-23T15:15:04Z"  # the call's at plus 4 s

        # the same call with no `at` of its own is decided on the server's clock: closed
        assert (await start(client, "live", None)).status_code == 200
        decision = (await press(client, "live", 1, "1")).json()
        assert decision["node"] != "office.ring-office"
        assert (await state(client, "live"))["updated_at"] == "2026-11-23T01:00:04Z"

    serve(tmp_path, clock, scenario)


def test_a_tuesday_replay_on_a_sunday_server_with_a_wider_bound(tmp_path: Path) -> None:
    """The issue's case as it was reported: a Tuesday call answered on a Sunday."""
    clock = ManualClock(datetime.fromisoformat("2026-12-06T15:00:00Z"))

    async def scenario(client: Client) -> None:
        assert (await start(client, "tuesday", TUESDAY_MORNING)).status_code == 200
        clock.advance(2)
        decision = (await press(client, "tuesday", 1, "1")).json()
        assert decision["node"] == "office.ring-office", decision["trace"]

    serve(tmp_path, clock, scenario, max_skew_s=30 * 86_400)


def test_an_event_without_at_is_never_before_the_previous_one(tmp_path: Path) -> None:
    clock = ManualClock(SUNDAY_EVENING)

    async def scenario(client: Client) -> None:
        await start(client, "c1", MONDAY_MORNING)
        ahead = "2026-11-23T10:20:00-05:00"  # the caller's system says five minutes later
        assert (await press(client, "c1", 1, "9", at=ahead)).status_code == 200  # replayed
        clock.advance(1)  # one second on the server: the call's clock would say 10:15:01
        assert (await press(client, "c1", 2, "9")).status_code == 200
        assert (await state(client, "c1"))["updated_at"] == "2026-11-23T15:20:00Z"

    serve(tmp_path, clock, scenario)


def test_an_explicit_at_before_the_previous_event_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    clock = ManualClock(SUNDAY_EVENING)

    async def scenario(client: Client) -> None:
        await start(client, "c1", MONDAY_MORNING)
        refused = await press(client, "c1", 1, "1", at="2026-11-23T10:14:59-05:00")
        assert refused.status_code == 422
        body = refused.json()
        assert body["problems"] == [{"field": "at", "problem": "before the call's previous event"}]
        assert "2026-11-23T15:15:00Z" in body["message"]
        assert (await state(client, "c1"))["seq"] == 1  # nothing changed
        same = await press(client, "c1", 1, "1", at=MONDAY_MORNING)  # the same instant is fine
        assert same.status_code == 200

    serve(tmp_path, clock, scenario)


@pytest.mark.parametrize("hours", [-25, 25])
def test_an_at_far_from_the_servers_clock_is_refused_and_nothing_is_stored(
    tmp_path: Path, hours: int
) -> None:
    clock = ManualClock(SUNDAY_EVENING)
    far = (SUNDAY_EVENING + timedelta(hours=hours)).isoformat()

    async def scenario(client: Client) -> None:
        refused = await start(client, "far", far)
        assert refused.status_code == 422
        assert refused.json()["problems"] == [
            {"field": "at", "problem": "too far from the server's clock"}
        ]
        assert (await client.get("/v1/calls/far")).status_code == 404
        await start(client, "near", MONDAY_MORNING)
        refused = await press(client, "near", 1, "1", at=far)
        assert refused.status_code == 422 and "'at'" in refused.json()["message"]
        assert (await state(client, "near"))["seq"] == 1

    serve(tmp_path, clock, scenario)


def test_the_bound_on_at_is_configurable(tmp_path: Path) -> None:
    clock = ManualClock(SUNDAY_EVENING)

    async def scenario(client: Client) -> None:
        assert (await start(client, "c1", MONDAY_MORNING)).status_code == 422  # 14 h > 1 h

    serve(tmp_path, clock, scenario, max_skew_s=3600)


def test_tickets_and_their_history_are_stamped_by_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock(datetime.fromisoformat("2026-11-23T15:00:00Z"))

    async def scenario(client: Client) -> None:
        body = {"call_id": "t1", "from": CALLER, "to": "+12125550120"}  # cardiology's line
        assert (await client.post("/v1/calls", json=body)).status_code == 200
        for seq, (kind, data) in enumerate(
            [
                ("dial.no-answer", {}),
                ("dial.answered", {}),
                ("outcome", {"outcome": "needs-office"}),
            ],
            start=1,
        ):
            clock.advance(10)
            event = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data}
            assert (await client.post("/v1/calls/t1/events", json=event)).status_code == 200
        (ticket,) = (await client.get("/v1/tickets")).json()
        assert ticket["created_at"] == "2026-11-23T15:00:30+00:00"
        assert ticket["due"] == "2026-11-23T15:15:30Z"  # the SLA counts on the call's clock
        clock.advance(60)
        claim = await client.post(f"/v1/tickets/{ticket['id']}/claim", json={"by": "Alice"})
        assert claim.status_code == 200
        history = (await client.get(f"/v1/tickets/{ticket['id']}")).json()["history"]
        assert [h["at"] for h in history] == [
            "2026-11-23T15:00:30+00:00",
            "2026-11-23T15:01:30+00:00",
        ]

    serve(tmp_path, clock, scenario)


def test_call_time_is_the_calls_at_plus_the_time_elapsed_never_before_the_previous() -> None:
    at = datetime(2026, 11, 24, 15, 15, tzinfo=UTC)
    started = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert call_time(at, started, at, started + timedelta(seconds=7)) == at + timedelta(seconds=7)
    later = at + timedelta(minutes=5)
    assert call_time(at, started, later, started + timedelta(seconds=7)) == later
    assert call_time(started, started, started, started) == started  # no `at`: no offset


def test_clocks() -> None:
    wall = ManualClock(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    moved = moved_clock(datetime.fromisoformat("2031-03-09T01:59:00-05:00"), wall)
    assert moved() == datetime(2031, 3, 9, 6, 59, tzinfo=UTC)
    wall.advance(90)
    assert moved() == datetime(2031, 3, 9, 7, 0, 30, tzinfo=UTC)  # it runs on with the wall
    assert offset_clock(0, wall) is wall
    assert offset_clock(-60, wall)() == wall() - timedelta(minutes=1)
    with pytest.raises(ValueError, match="UTC offset"):
        ManualClock(datetime(2026, 12, 6, 12, 0))
