"""The store's transactions (store.transaction, sqlite_writer, call_rows): each is all or
nothing; on a SQLite file the writer thread commits the transactions waiting together, yet
each has its own outcome; one abandoned at its deadline is never committed; and the other
backends (PostgreSQL) run the very same functions through run_sync."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from receivers import alarms
from sqlalchemy import Connection, event, insert, text
from sqlalchemy.exc import IntegrityError

from routing_engine.api import load_deployment
from routing_engine.call_rows import insert_call, read_call, read_targets
from routing_engine.calls import NewCall
from routing_engine.runtime import start
from routing_engine.service_core import Service
from routing_engine.sqlite_writer import Writer
from routing_engine.store import Store
from routing_engine.tables import target_states

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
HOSPITAL = load_deployment(ROOT / "examples" / "hospital")


def first(call_id: str, dialed: str = "+12125550111") -> tuple[dict[str, Any], dict[str, Any]]:
    """A new call's state and first decision in the hospital deployment."""
    state, decision = start(HOSPITAL.compiled, NewCall(call_id, "+12125551234", dialed, AT))
    return state.to_json(), decision.to_json()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def with_store(path: Path, scenario: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}")
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


class Gate:
    """A transaction that holds the writer until opened, so the next ones queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, _connection: Connection) -> None:
        self.entered.set()
        self.opened.wait(10)

    async def hold(self, store: Store) -> asyncio.Task[None]:
        held = asyncio.create_task(store.transaction(self))
        await asyncio.to_thread(self.entered.wait, 10)
        return held


def count_commits(store: Store) -> list[int]:
    commits: list[int] = []
    assert isinstance(store.writer, Writer)
    event.listen(store.writer.engine, "commit", lambda _c: commits.append(1))
    return commits


def test_waiting_transactions_commit_together_each_with_its_own_outcome(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store_calls = [first(f"batch-{n}") for n in range(6)]

    def writes_then_fails(connection: Connection) -> None:
        insert_call(connection, *first("half-written"))
        raise RuntimeError("fails after writing")

    async def scenario(store: Store) -> None:
        await store.transaction(insert_call, *first("taken"))
        commits = count_commits(store)
        gate = Gate()
        held = await gate.hold(store)
        asked = [
            asyncio.ensure_future(store.transaction(insert_call, *call)) for call in store_calls
        ]
        asked.insert(2, asyncio.ensure_future(store.transaction(insert_call, *first("taken"))))
        asked.insert(4, asyncio.ensure_future(store.transaction(writes_then_fails)))
        await asyncio.sleep(0.05)  # all queued behind the gate
        gate.opened.set()
        await held
        outcomes = await asyncio.gather(*asked, return_exceptions=True)
        assert isinstance(outcomes[2], IntegrityError)  # the id is taken: it fails alone
        assert isinstance(outcomes[4], RuntimeError)  # wrote, then failed: rolled back alone
        assert [o for n, o in enumerate(outcomes) if n not in (2, 4)] == [None] * 6
        # the gate's commit, then the batch's: each failure rolled back to its own savepoint
        assert len(commits) == 2
        assert await store.call("half-written") is None

    with_store(path, scenario)
    stored = {row[0] for row in rows(path, "SELECT call_id FROM calls")}
    assert stored == {"taken"} | {f"batch-{n}" for n in range(6)}
    audited = rows(path, "SELECT call_id, count(*) FROM decisions GROUP BY call_id")
    assert sorted(audited) == sorted((call_id, 1) for call_id in stored)


def test_transactions_without_failures_share_one_commit(tmp_path: Path) -> None:
    async def scenario(store: Store) -> None:
        await store.transaction(read_call, "warm-up")
        commits = count_commits(store)
        gate = Gate()
        held = await gate.hold(store)
        asked = [
            asyncio.ensure_future(store.transaction(insert_call, *first(f"one-{n}")))
            for n in range(10)
        ]
        await asyncio.sleep(0.05)
        gate.opened.set()
        await asyncio.gather(held, *asked)
        assert len(commits) == 2  # the gate's, then all ten at once

    with_store(tmp_path / "one.db", scenario)
    assert rows(tmp_path / "one.db", "SELECT count(*) FROM calls") == [(10,)]


def test_an_abandoned_transaction_is_never_committed(tmp_path: Path) -> None:
    """A deadline cancels the request; the thread cannot be stopped, but what it wrote for
    that request rolls back, whether it was waiting or already running, and the others of
    its batch still commit."""
    running = threading.Event()
    resume = threading.Event()

    def slow_start(connection: Connection) -> None:
        insert_call(connection, *first("slow"))
        running.set()
        resume.wait(10)

    async def scenario(store: Store) -> None:
        gate = Gate()
        held = await gate.hold(store)
        waiting = asyncio.ensure_future(store.transaction(insert_call, *first("waiting")))
        slow = asyncio.ensure_future(store.transaction(slow_start))
        kept = asyncio.ensure_future(store.transaction(insert_call, *first("kept")))
        await asyncio.sleep(0.05)
        waiting.cancel()  # abandoned before it ran
        gate.opened.set()
        await held
        await asyncio.to_thread(running.wait, 10)
        slow.cancel()  # abandoned after it wrote, before the commit
        resume.set()
        await kept
        assert waiting.cancelled() and slow.cancelled()

    with_store(tmp_path / "a.db", scenario)
    assert rows(tmp_path / "a.db", "SELECT call_id FROM calls") == [("kept",)]
    assert rows(tmp_path / "a.db", "SELECT call_id FROM decisions") == [("kept",)]


def test_a_start_and_its_audit_row_and_timers_are_one_transaction(tmp_path: Path) -> None:
    """A call whose flow must resolve within a time limit starts a timer with it; when the
    timer cannot be written, neither the call nor its audit row is."""
    loaded = load_deployment(alarms(tmp_path, "http://hooks.invalid"))
    path = tmp_path / "t.db"

    async def scenario(store: Store) -> None:
        service = Service(loaded, store, deadline_s=5.0)
        from routing_engine.contract import NewCallRequest

        def call(call_id: str) -> NewCallRequest:
            body = {"call_id": call_id, "from": "+12125550123", "to": "+12125550101"}
            return NewCallRequest.model_validate({**body, "at": AT.isoformat()})

        await service.start_call(call("limited-1"), loaded.compiled)
        async with store.engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TRIGGER no_timers BEFORE INSERT ON timers "
                    "BEGIN SELECT RAISE(ABORT, 'the timers table is out of order'); END"
                )
            )
        with pytest.raises(RuntimeError, match="vanished"):  # the insert failed: not stored
            await service.start_call(call("limited-2"), loaded.compiled)

    with_store(path, scenario)
    assert rows(path, "SELECT call_id FROM calls") == [("limited-1",)]
    assert rows(path, "SELECT call_id FROM decisions") == [("limited-1",)]
    assert rows(path, "SELECT call_id, kind FROM timers") == [("limited-1", "resolve-within")]


def test_both_paths_run_the_same_functions(tmp_path: Path) -> None:
    """A SQLite file runs a transaction in the writer thread (pysqlite); any other store runs
    the same function through run_sync on its async driver, as PostgreSQL (asyncpg) does:
    here an in-memory SQLite through aiosqlite. Both store and serve a call alike."""

    def driver(connection: Connection) -> str:
        return str(connection.dialect.driver)

    async def serve(store: Store) -> tuple[str, dict[str, Any], dict[str, Any]]:
        await store.open()
        try:
            async with store.engine.begin() as connection:
                values = {"name": "billing-office", "available": 0, "updated_at": "now"}
                await connection.execute(insert(target_states).values(**values))
            service = Service(HOSPITAL, store, deadline_s=5.0)
            from routing_engine.contract import EventRequest, NewCallRequest

            body = {"call_id": "both", "from": "+12125551234", "to": "+12125550111"}
            new = NewCallRequest.model_validate({**body, "at": AT.isoformat()})
            opened = await service.start_call(new, HOSPITAL.compiled)
            digits = {"event_id": "e1", "seq": 1, "type": "digits", "data": {"digits": "3"}}
            event = EventRequest.model_validate({**digits, "at": AT.isoformat()})
            answered = await service.apply_event("both", event)
            assert await service.apply_event("both", event) == answered  # a retry
            return await store.transaction(driver), opened, answered
        finally:
            await store.close()

    on_file = asyncio.run(serve(Store(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")))
    in_memory = asyncio.run(serve(Store("sqlite+aiosqlite:///:memory:")))
    assert (on_file[0], in_memory[0]) == ("pysqlite", "aiosqlite")
    assert on_file[1:] == in_memory[1:]
    assert on_file[2]["seq"] == 2


def test_a_batch_reads_target_states_once_and_sees_every_change_made_before_it(
    tmp_path: Path,
) -> None:
    async def scenario(store: Store) -> None:
        # the writer's transactions hold the write lock (BEGIN IMMEDIATE): made before
        await store.set_target("billing-office", False, None)
        gate = Gate()
        held = await gate.hold(store)
        asked = [asyncio.ensure_future(store.transaction(read_targets)) for _ in range(3)]
        await asyncio.sleep(0.05)
        gate.opened.set()
        await held
        together = await asyncio.gather(*asked)
        assert together[0] == {"billing-office": {"available": False}}
        assert together[0] is together[1] is together[2]  # one read for the batch
        await store.set_target("billing-office", True, ["billing"])
        later = await store.transaction(read_targets)  # a new transaction reads again
        assert later == {"billing-office": {"available": True, "skills": ["billing"]}}

    with_store(tmp_path / "targets.db", scenario)
