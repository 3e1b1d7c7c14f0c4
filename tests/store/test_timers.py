"""Timers and deliveries in process, on a real store (a SQLite file and a PostgreSQL database:
each test runs on both), with an injected clock: the
timers a decision writes, who fires them (once, however many runners), what firing records
and sends, the backoff of retries, and what stops them. The HTTP end of it is in
test_notifications.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from receivers import alarms
from sqlalchemy import text

from routing_engine.api import load_deployment
from routing_engine.core.calls import CallState, Event, EventType, NewCall
from routing_engine.core.clock import ManualClock
from routing_engine.core.compile import CompiledDeployment
from routing_engine.core.runtime import start, step
from routing_engine.store.call_rows import insert_call, update_call
from routing_engine.store.database import Store
from routing_engine.store.notify import Attempt, NotifySettings, sign, verify
from routing_engine.store.outbox import DeliveryWorker
from routing_engine.store.tables import iso
from routing_engine.store.tickets import change_ticket, get_ticket
from routing_engine.store.timers import TimerRunner

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class World:
    """A store with the alarms deployment, a clock, runners and a recording sender."""

    def __init__(self, tmp_path: Path, url: str, **durations: str):
        loaded = load_deployment(alarms(tmp_path, "http://hooks.invalid", **durations))
        self.compiled: CompiledDeployment = loaded.compiled
        self.clock = ManualClock(T0)
        self.store = Store(url, self.clock)
        self.settings = NotifySettings(backoff_s=10, backoff_cap_s=25, max_attempts=4)
        self.sent: list[tuple[int, str]] = []  # (delivery id, contact)
        self.answers: list[Attempt] = []  # what the next sends answer (then success)

    async def send(self, row: Any, _now: datetime) -> Attempt:
        self.sent.append((row.id, row.contact))
        return self.answers.pop(0) if self.answers else Attempt(True, "HTTP 200", 200)

    def runner(self, name: str = "a") -> TimerRunner:
        return TimerRunner(
            self.store.engine, lambda: self.compiled.deployment, self.settings, name, self.clock
        )

    def worker(self, name: str = "a") -> DeliveryWorker:
        return DeliveryWorker(self.store.engine, self.settings, self.send, name, self.clock)

    async def call(self, call_id: str, dialed: str, *events: tuple[EventType, str]) -> None:
        """Place a call at the clock's time and play events, stored as the service does."""
        state, decision = start(
            self.compiled, NewCall(call_id, "+12125550123", dialed, self.clock())
        )
        now = iso(self.clock())
        await self.store.transaction(insert_call, state.to_json(), decision.to_json(), now)
        for kind, outcome in events:
            seq = state.seq
            event = Event(kind, seq, self.clock(), outcome=outcome)
            state, decision = step(self.compiled, state, event)
            await self.store.transaction(
                update_call, seq, f"e{seq}", {}, state.to_json(), decision.to_json(), now
            )

    async def office_ticket(self, call_id: str) -> None:
        answered = (EventType.DIAL_ANSWERED, "")
        await self.call(call_id, "+12125550100", answered, (EventType.OUTCOME, "needs-office"))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        async with self.store.engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql))]


def run(
    tmp_path: Path, url: str, scenario: Callable[[World], Awaitable[None]], **durations: str
) -> None:
    """`scenario` in a world whose store is at `url` (the test's, on each backend)."""

    async def main() -> None:
        world = World(tmp_path, url, **durations)
        await world.store.open()
        try:
            await scenario(world)
        finally:
            await world.store.close()

    asyncio.run(main())


def test_a_ticket_gets_its_sla_and_escalation_timers_in_its_decision(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        timers = await world.rows("SELECT kind, level, due_at, notify, state FROM timers")
        assert timers == [
            ("sla", 0, "2026-11-24T15:15:00+00:00", '["manager"]', "pending"),
            ("escalation", 1, "2026-11-24T15:30:00+00:00", '["duty"]', "pending"),
        ]

    run(tmp_path, database_url, scenario, sla="15m", escalate="30m")


def test_each_due_timer_fires_once_among_many_runners(tmp_path: Path, database_url: str) -> None:
    async def scenario(world: World) -> None:
        for i in range(5):
            await world.office_ticket(f"c{i}")
        assert await world.runner().tick() == 0  # nothing is due yet
        world.clock.advance(60)
        runners = [world.runner(name) for name in "abcd"]
        fired = await asyncio.gather(*(runner.tick() for runner in runners))
        assert sum(fired) == 5
        rows = await world.rows("SELECT state, fired_by FROM timers WHERE kind = 'sla'")
        assert {state for state, _ in rows} == {"fired"} and len(rows) == 5
        assert await world.rows("SELECT count(*) FROM deliveries") == [(5,)]
        assert sum(await asyncio.gather(*(runner.tick() for runner in runners))) == 0
        workers = [world.worker(name) for name in "abcd"]
        await asyncio.gather(*(worker.tick() for worker in workers))
        assert sorted(world.sent) == [(i, "manager") for i in range(1, 6)]
        await asyncio.gather(*(worker.tick() for worker in workers))
        assert len(world.sent) == 5

    run(tmp_path, database_url, scenario, sla="1m", escalate="1h")


def test_firing_records_on_the_ticket_and_addresses_the_payload(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        world.clock.advance(120)
        assert await world.runner().tick() == 1
        ticket = await get_ticket(world.store.engine, 1)
        sla_missed = ticket["history"][-1]
        assert (sla_missed["kind"], sla_missed["actor"]) == ("sla-missed", "engine")
        assert sla_missed["detail"] == {
            "level": 0,
            "due": "2026-11-24T15:01:00+00:00",
            "notify": ["manager"],
        }
        ((payload, address, next_at),) = await world.rows(
            "SELECT payload, address, next_attempt_at FROM deliveries"
        )
        assert address == "http://hooks.invalid/manager"
        assert next_at == "2026-11-24T15:02:00+00:00"  # sent at once
        body = json.loads(payload)
        assert (body["event"], body["level"], body["fired_at"]) == (
            "sla-missed",
            0,
            "2026-11-24T15:02:00+00:00",
        )
        assert body["contact"] == {"name": "manager", "display_name": "Office manager"}
        assert body["ticket"]["status"] == "open" and body["ticket"]["caller"] == "+12125550123"

    run(tmp_path, database_url, scenario, sla="1m")


def test_retries_back_off_exponentially_up_to_a_cap_then_give_up(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        world.clock.advance(60)
        await world.runner().tick()
        world.answers = [Attempt(False, "HTTP 500", 500)] * 4
        worker = world.worker()
        waits = []
        for _ in range(4):
            assert await worker.tick() == 1
            ((next_at, status),) = await world.rows(
                "SELECT next_attempt_at, status FROM deliveries"
            )
            if status == "failed":
                break
            wait = datetime.fromisoformat(next_at) - world.clock()
            waits.append(wait.total_seconds())
            world.clock.advance(wait.total_seconds() - 1)
            assert await worker.tick() == 0  # not before its time
            world.clock.advance(1)
        assert waits == [10, 20, 25]  # 10 s, doubled, capped at 25 s
        assert await world.rows("SELECT status, attempts, last_error FROM deliveries") == [
            ("failed", 4, "HTTP 500")
        ]
        history = (await get_ticket(world.store.engine, 1))["history"]
        failures = [h["detail"] for h in history if h["kind"] == "notify-failed"]
        assert [f["attempt"] for f in failures] == [1, 2, 3, 4]
        assert failures[-1]["gave_up"] is True and "next_attempt_at" not in failures[-1]
        world.clock.advance(3600)
        assert await worker.tick() == 0

    run(tmp_path, database_url, scenario, sla="1m")


def test_a_lapsed_lease_lets_another_process_take_the_delivery(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        world.clock.advance(60)
        await world.runner().tick()
        crashed = world.worker("crashed")
        assert await crashed._lease([1], world.clock())  # leased, then its process died
        assert await world.worker("b").tick() == 0  # the lease holds
        world.clock.advance(world.settings.lease_s + 1)
        assert await world.worker("b").tick() == 1
        assert world.sent == [(1, "manager")]

    run(tmp_path, database_url, scenario, sla="1m")


def test_resolving_a_ticket_stops_its_escalations(tmp_path: Path, database_url: str) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        world.clock.advance(61)
        assert await world.runner().tick() == 1  # the SLA
        now = iso(world.clock())
        await change_ticket(world.store.engine, 1, "resolve", "Alice", now, "called back")
        world.clock.advance(3600)
        assert await world.runner().tick() == 0
        assert await world.rows("SELECT kind, state FROM timers ORDER BY level") == [
            ("sla", "fired"),
            ("escalation", "cancelled"),
        ]

    run(tmp_path, database_url, scenario, sla="1m", escalate="2m")


def test_a_call_is_resolved_when_it_ended_answered_or_its_tickets_are_resolved(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        no_answer, hangup = (EventType.DIAL_NO_ANSWER, ""), (EventType.HANGUP, "")
        await world.call("ticketed", "+12125550101", no_answer)
        await world.call("abandoned", "+12125550101", hangup)  # hung up while ringing
        await world.call("answered", "+12125550101", (EventType.DIAL_ANSWERED, ""), hangup)
        await world.call("ringing", "+12125550101")
        states = "SELECT call_id, level, due_at, state FROM timers WHERE kind = 'resolve-within'"
        assert sorted(await world.rows(states)) == [
            ("abandoned", 0, "2026-11-24T15:00:00+00:00", "pending"),  # unanswered: due now
            ("answered", 0, "2026-11-24T15:10:00+00:00", "cancelled"),  # answered, no ticket
            ("ringing", 0, "2026-11-24T15:10:00+00:00", "pending"),
            ("ticketed", 0, "2026-11-24T15:10:00+00:00", "pending"),  # its ticket is open
        ]
        await change_ticket(world.store.engine, 1, "resolve", "Bob", iso(world.clock()))
        assert ("ticketed", 0, "2026-11-24T15:10:00+00:00", "cancelled") in await world.rows(states)
        assert await world.runner().tick() == 1  # the abandoned call, at once
        ((payload,),) = await world.rows("SELECT payload FROM deliveries")
        body = json.loads(payload)
        assert (body["call"]["call_id"], body["call"]["answered"]) == ("abandoned", False)
        assert body["call"]["end_reason"] == "caller hung up"
        assert body["title"] == "Call ended unanswered: abandoned (limited)"
        assert "nobody answering it (caller hung up, at limited/ring-desk)" in body["text"]
        world.clock.advance(600)
        assert await world.runner().tick() == 1
        payloads = await world.rows("SELECT payload FROM deliveries ORDER BY id")
        body = json.loads(payloads[-1][0])
        assert (body["event"], body["call"]["call_id"], body["call"]["status"]) == (
            "call-unresolved",
            "ringing",
            "active",
        )
        assert body["contact"]["name"] == "duty"
        assert "not resolved 10 minutes after it entered the flow" in body["text"]

    run(tmp_path, database_url, scenario, limit="10m")


def test_a_contact_that_cannot_be_reached_is_recorded_on_the_ticket(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        deployment = world.compiled.deployment
        # a newer version without the manager's webhook is what firing reads
        contacts = tuple(
            replace(c, webhook="") if c.name == "manager" else c for c in deployment.contacts
        )
        runner = world.runner()
        runner.deployment = lambda: replace(deployment, contacts=contacts)  # type: ignore[method-assign]
        world.clock.advance(61)
        await runner.tick()
        last = (await get_ticket(world.store.engine, 1))["history"][-1]
        assert (last["kind"], last["detail"]["error"]) == (
            "notify-failed",
            "no webhook and no e-mail address",
        )
        assert await world.rows("SELECT count(*) FROM deliveries") == [(0,)]

    run(tmp_path, database_url, scenario, sla="1m")


def test_signatures_cover_the_time_and_the_body() -> None:
    body, stamp = b'{"event": "sla-missed"}', "1795000000"
    signature = sign(b"secret", stamp, body)
    assert verify(b"secret", stamp, body, signature, 1795000100, 300)
    assert not verify(b"secret", stamp, body + b" ", signature, 1795000100, 300)
    assert not verify(b"secret", "1795000001", body, signature, 1795000100, 300)
    assert not verify(b"secret", stamp, body, signature, 1795000400, 300)  # too old: a replay
    assert not verify(b"secret", "soon", body, signature, 1795000100, 300)


def test_settings_come_from_the_environment_and_bad_values_are_named() -> None:
    settings = NotifySettings.from_env(
        {
            "ROUTING_WEBHOOK_SECRET": "s3cret",
            "ROUTING_TIMER_INTERVAL_MS": "250",
            "ROUTING_SMTP_HOST": "mail.example.com",
        }
    )
    assert settings.secret == b"s3cret" and settings.interval_s == 0.25
    assert settings.smtp is not None and (settings.smtp.port, settings.smtp.tls) == (
        587,
        "starttls",
    )
    assert NotifySettings.from_env({}).secret is None and NotifySettings.from_env({}).smtp is None
    with pytest.raises(ValueError, match="ROUTING_NOTIFY_BACKOFF_S"):
        NotifySettings.from_env({"ROUTING_NOTIFY_BACKOFF_S": "fast"})
    with pytest.raises(ValueError, match="ROUTING_SMTP_TLS"):
        NotifySettings.from_env({"ROUTING_SMTP_HOST": "x", "ROUTING_SMTP_TLS": "maybe"})


def test_a_call_records_the_limit_of_each_flow_it_enters_once(tmp_path: Path) -> None:
    compiled = load_deployment(alarms(tmp_path, "http://hooks.invalid", limit="20m")).compiled
    state, _ = start(compiled, NewCall("c1", "+12125550123", "+12125550101", T0))
    assert state.deadlines == (
        {
            "flow": "limited",
            "after_s": 1200.0,
            "due": "2026-11-24T15:20:00Z",
            "notify": ["duty"],
            "seq": 1,
        },
    )
    later = step(compiled, state, Event(EventType.DIAL_NO_ANSWER, 1, T0 + timedelta(minutes=1)))[0]
    assert later.deadlines == state.deadlines  # the same flow: not started again
    assert CallState.from_json(later.to_json()).deadlines == state.deadlines
    other, _ = start(compiled, NewCall("c2", "+12125550123", "+12125550100", T0))
    assert other.deadlines == ()  # the main flow has no limit


def test_a_store_made_by_an_earlier_version_is_refused(tmp_path: Path) -> None:
    from sqlalchemy import text

    from routing_engine.store.database import StoreOutdated

    async def scenario() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        async with store.engine.begin() as connection:  # deliveries as an earlier version had it
            await connection.execute(text("CREATE TABLE deliveries (id INTEGER PRIMARY KEY)"))
        try:
            with pytest.raises(StoreOutdated, match="table deliveries lacks timer_id"):
                await store.open()
        finally:
            await store.close()
        fresh = Store(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
        try:
            await fresh.open()  # a new store is made whole
            await fresh.open()  # and opening it again finds nothing missing
        finally:
            await fresh.close()

    asyncio.run(scenario())


def test_a_timer_that_cannot_fire_is_parked_and_the_others_still_fire(
    tmp_path: Path, database_url: str
) -> None:
    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        await world.office_ticket("c2")
        world.clock.advance(120)
        runner = world.runner()
        fire = runner._ticket_timer

        async def broken(connection: Any, timer: Any, now: datetime) -> None:
            if timer.ticket_id == 1:
                raise RuntimeError("cannot write the deliveries")
            await fire(connection, timer, now)

        runner._ticket_timer = broken  # type: ignore[method-assign]
        assert await runner.tick() == 1  # ticket 2's timer, though ticket 1's is due first
        states = await world.rows("SELECT ticket_id, state FROM timers WHERE kind = 'sla'")
        assert sorted(states) == [(1, "failed"), (2, "fired")]
        history = (await get_ticket(world.store.engine, 1))["history"]
        assert history[-1]["kind"] == "timer-failed"
        assert "cannot write the deliveries" in history[-1]["detail"]["error"]
        assert await runner.tick() == 0  # parked: not tried again every second

    run(tmp_path, database_url, scenario, sla="1m", escalate="1h")


def test_addresses_are_shown_without_credentials_and_odd_signatures_refused() -> None:
    from routing_engine.store.notify import shown_address

    assert (
        shown_address("webhook", "https://chat.example/?token=SECRET") == "https://chat.example/…"
    )
    assert shown_address("webhook", "https://chat.example?token=S") == "https://chat.example/…"
    assert shown_address("webhook", "https://user:pw@chat.example/") == "https://chat.example"
    assert shown_address("webhook", "http://u:p@127.0.0.1:8080/hook") == "http://127.0.0.1:8080/…"
    assert shown_address("webhook", "/notifications/inbox") == "/notifications/inbox"
    stamp = "1700000000"
    assert not verify(b"secret", stamp, b"{}", "sha256=\xe9", 1700000000.0, 300)


async def _hold_rows(world: World, table: str, held: asyncio.Event, done: asyncio.Event) -> None:
    """Another process's transaction holding every row of `table` locked until `done`."""
    async with world.store.engine.connect() as other, other.begin():
        await other.execute(text(f"SELECT id FROM {table} FOR UPDATE"))
        held.set()
        await done.wait()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_postgresql_rows_another_process_holds_are_skipped_not_waited_for(
    tmp_path: Path, database_url: str
) -> None:
    """A timer or a delivery whose row another process's transaction holds (it is firing or
    leasing it) is skipped at once (`FOR UPDATE SKIP LOCKED`): without it, the runner and the
    worker would wait for that transaction to end."""

    async def scenario(world: World) -> None:
        await world.office_ticket("c1")
        world.clock.advance(60)
        for table, act in (("timers", world.runner().tick), ("deliveries", world.worker().tick)):
            held, done = asyncio.Event(), asyncio.Event()
            holder = asyncio.create_task(_hold_rows(world, table, held, done))
            await held.wait()
            try:
                assert await asyncio.wait_for(act(), 5) == 0, table  # skipped, in no time
            finally:
                done.set()
                await holder
            assert await act() == 1, table  # released: now it is this one's

    run(tmp_path, database_url, scenario, sla="1m")


@pytest.mark.telephony
def test_a_call_in_wrap_up_ends_when_its_bound_passes_without_a_report(
    tmp_path: Path, database_url: str
) -> None:
    """The caller hangs up before the agent reports: the call stays open (the open-call
    gauge counts it) with a `wrap-up` timer at its bound; when that fires, the call ends,
    the report never having come. A report in time stops the timer instead."""

    async def scenario(world: World) -> None:
        answered, hangup = (EventType.DIAL_ANSWERED, ""), (EventType.HANGUP, "")
        await world.call("silent", "+12125550100", answered, hangup)
        await world.call("reported", "+12125550100", answered, hangup)
        stored = await world.store.call("reported")
        assert stored is not None
        state = CallState.from_json(stored.state)
        event = Event(EventType.OUTCOME, state.seq, world.clock(), outcome="needs-office")
        ended, decision = step(world.compiled, state, event)
        await world.store.transaction(
            update_call, state.seq, "e-report", {}, ended.to_json(), decision.to_json(), iso(T0)
        )
        timers = "SELECT call_id, due_at, state FROM timers WHERE kind = 'wrap-up' ORDER BY id"
        assert await world.rows(timers) == [
            ("silent", "2026-11-24T15:30:00+00:00", "pending"),
            ("reported", "2026-11-24T15:30:00+00:00", "cancelled"),
        ]
        assert await world.store.open_calls() == 1  # the silent call, in wrap-up
        world.clock.advance(30 * 60 - 1)
        await world.runner().tick()  # the ticket's SLA and escalation, not the wrap-up yet
        assert await world.store.open_calls() == 1
        world.clock.advance(1)
        assert await world.runner().tick() == 1
        assert await world.store.open_calls() == 0
        stored = await world.store.call("silent")
        assert stored is not None and stored.state["status"] == "ended"
        assert stored.state["end_reason"] == "the agent's report never came"
        assert stored.state["trace"][-1] == (
            "wrap-up ended at 2026-11-24T15:30:00Z: the agent's report never came"
        )
        told = "SELECT count(*) FROM deliveries WHERE call_id = 'silent'"
        assert await world.rows(told) == [(0,)]  # the wrap-up's end tells nobody

    run(tmp_path, database_url, scenario)
