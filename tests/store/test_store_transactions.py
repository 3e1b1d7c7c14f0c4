"""The store's transactions (store.transaction, sqlite_writer, call_rows): each is all or
nothing; on a SQLite file the writer thread commits the transactions waiting together, yet
each has its own outcome; one abandoned at its deadline is never committed; and the other
backends (PostgreSQL) run the very same functions through run_sync."""

from __future__ import annotations

import asyncio
import fcntl
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
from routing_engine.core.calls import NewCall
from routing_engine.core.clock import ManualClock
from routing_engine.core.runtime import start
from routing_engine.service.core import Service
from routing_engine.store.call_rows import insert_call, read_call, read_targets
from routing_engine.store.database import Store
from routing_engine.store.sqlite_writer import Writer
from routing_engine.store.tables import target_states

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
HOSPITAL = load_deployment(ROOT / "examples" / "hospital")


def first(call_id: str, dialed: str = "+12125550111") -> tuple[dict[str, Any], dict[str, Any], str]:
    """A new call's state and first decision in the hospital deployment, and when it was
    stored (the arguments of `insert_call` after the connection)."""
    state, decision = start(HOSPITAL.compiled, NewCall(call_id, "+12125551234", dialed, AT))
    return state.to_json(), decision.to_json(), AT.isoformat()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def with_store(path: Path, scenario: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}", ManualClock(AT))
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


def test_both_paths_run_the_same_functions(tmp_path: Path, postgres_url: str) -> None:
    """A SQLite file runs a transaction in the writer thread (pysqlite); any other store runs
    the same function through run_sync on its async driver: PostgreSQL (asyncpg), and an
    in-memory SQLite through aiosqlite. All store and serve a call alike."""

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

    on_file = asyncio.run(serve(Store(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}", ManualClock(AT))))
    in_memory = asyncio.run(serve(Store("sqlite+aiosqlite:///:memory:", ManualClock(AT))))
    on_postgres = asyncio.run(serve(Store(postgres_url, ManualClock(AT))))
    assert (on_file[0], in_memory[0], on_postgres[0]) == ("pysqlite", "aiosqlite", "asyncpg")
    assert on_file[1:] == in_memory[1:] == on_postgres[1:]
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


def queued_behind_gate(
    store: Store, works: list[Callable[[Connection], Any]]
) -> Callable[[], Awaitable[list[Any]]]:
    """Ask for `works` while a gate holds the writer, so they form one batch; the function
    returned opens the gate and gives their outcomes (exceptions as values)."""

    async def run() -> list[Any]:
        gate = Gate()
        held = await gate.hold(store)
        asked = [asyncio.ensure_future(store.transaction(work)) for work in works]
        await asyncio.sleep(0.05)
        gate.opened.set()
        await held
        return list(await asyncio.gather(*asked, return_exceptions=True))

    return run


def inserts(call_id: str) -> Callable[[Connection], None]:
    return lambda connection: insert_call(connection, *first(call_id))


def test_a_failure_that_rolls_back_the_whole_transaction_fails_its_whole_batch(
    tmp_path: Path,
) -> None:
    """SQLite itself may roll back the whole transaction on a failure (ON CONFLICT ROLLBACK,
    RAISE(ROLLBACK), a full disk...): the jobs before it lost their rows too, so none of the
    batch is reported done."""
    path = tmp_path / "r.db"

    def breaks(connection: Connection) -> None:
        connection.execute(text("INSERT INTO fragile VALUES (1)"))

    async def scenario(store: Store) -> None:
        async with store.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE fragile (n INTEGER)"))
            await connection.execute(
                text(
                    "CREATE TRIGGER fragile_rolls_back BEFORE INSERT ON fragile "
                    "BEGIN SELECT RAISE(ROLLBACK, 'the whole transaction rolled back'); END"
                )
            )
        outcomes = await queued_behind_gate(store, [inserts("a"), breaks, inserts("c")])()
        assert [type(outcome) for outcome in outcomes] == [IntegrityError] * 3
        assert all("whole transaction" in str(outcome) for outcome in outcomes)
        await store.transaction(insert_call, *first("after"))  # the writer goes on

    with_store(path, scenario)
    assert rows(path, "SELECT call_id FROM calls") == [("after",)]


def test_a_failed_commit_fails_every_job_even_those_refused_on_its_rows(tmp_path: Path) -> None:
    """B is refused because of A's row (the id is taken), then the commit fails: A's row was
    never stored, so B gets the commit's error, not a refusal based on it."""
    path = tmp_path / "c.db"

    def orphan(connection: Connection) -> None:
        connection.execute(text("INSERT INTO child VALUES (99)"))

    async def scenario(store: Store) -> None:
        assert isinstance(store.writer, Writer)
        event.listen(
            store.writer.engine, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON")
        )
        async with store.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await connection.execute(
                text(
                    "CREATE TABLE child (pid INTEGER REFERENCES parent(id) "
                    "DEFERRABLE INITIALLY DEFERRED)"
                )
            )
        batch = [inserts("a"), inserts("a"), orphan]  # the commit finds the orphan
        outcomes = await queued_behind_gate(store, batch)()
        assert [type(outcome) for outcome in outcomes] == [IntegrityError] * 3
        assert all("FOREIGN KEY" in str(outcome) for outcome in outcomes)
        await store.transaction(insert_call, *first("a"))  # nothing of it was kept

    with_store(path, scenario)
    assert rows(path, "SELECT call_id FROM calls") == [("a",)]


def test_a_batch_waits_once_for_another_writer_and_then_commits_whole(tmp_path: Path) -> None:
    """Another process holds the write lock for 300 ms (the busy timeout is 5 s): the batch
    waits at its BEGIN IMMEDIATE, with nothing open, and every job of it succeeds."""
    path = tmp_path / "busy.db"

    def reads_then_inserts(call_id: str) -> Callable[[Connection], None]:
        def work(connection: Connection) -> None:
            read_targets(connection)
            insert_call(connection, *first(call_id))

        return work

    async def scenario(store: Store) -> None:
        await store.transaction(read_call, "warm-up")
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        works = [reads_then_inserts(f"w{n}") for n in range(3)]
        asked = [asyncio.ensure_future(store.transaction(work)) for work in works]
        await asyncio.sleep(0.3)
        other.execute("COMMIT")
        other.close()
        assert await asyncio.gather(*asked) == [None] * 3

    with_store(path, scenario)
    assert rows(path, "SELECT call_id FROM calls ORDER BY call_id") == [("w0",), ("w1",), ("w2",)]


def test_what_a_batch_reads_no_other_writer_changes_before_it_commits(tmp_path: Path) -> None:
    """The batch's transaction holds the write lock from its start (BEGIN IMMEDIATE): read,
    decide and write are serializable, another connection's write waits for the commit."""
    path = tmp_path / "ser.db"
    other_write: list[str] = []

    def reads_while_another_writes(connection: Connection) -> None:
        read_targets(connection)
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            other.execute("INSERT INTO target_states (name, updated_at) VALUES ('x', 'now')")
            other_write.append("written")
        except sqlite3.OperationalError as error:
            other_write.append(str(error))
        finally:
            other.close()

    async def scenario(store: Store) -> None:
        await store.transaction(reads_while_another_writes)

    with_store(path, scenario)
    assert other_write == ["database is locked"]


def test_standalone_reads_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    async def scenario(store: Store) -> None:
        await store.transaction(insert_call, *first("stored"))
        gate = Gate()
        held = await gate.hold(store)  # a batch holding the write lock
        try:
            found = await asyncio.wait_for(store.call("stored"), 2)
            assert found is not None and found.call_id == "stored"
            assert await asyncio.wait_for(store.target_states(), 2) == {}
        finally:
            gate.opened.set()
            await held

    with_store(tmp_path / "reads.db", scenario)


class Interrupt(BaseException):
    """Not an Exception: what used to kill the writer's thread."""


def test_a_job_that_raises_a_base_exception_fails_alone_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    def interrupted(_connection: Connection) -> None:
        raise Interrupt

    async def scenario(store: Store) -> None:
        with pytest.raises(RuntimeError, match="Interrupt") as raised:
            await asyncio.wait_for(store.transaction(interrupted), 5)
        assert isinstance(raised.value.__cause__, Interrupt)
        await asyncio.wait_for(store.transaction(insert_call, *first("after")), 5)

    with_store(tmp_path / "base.db", scenario)
    assert rows(tmp_path / "base.db", "SELECT call_id FROM calls") == [("after",)]


def test_close_joins_the_thread_and_a_transaction_after_it_starts_a_new_one(
    tmp_path: Path,
) -> None:
    async def scenario(store: Store) -> None:
        assert isinstance(store.writer, Writer)
        await store.transaction(insert_call, *first("before"))
        thread = store.writer.thread
        assert thread is not None
        await store.writer.close()
        assert not thread.is_alive()
        await asyncio.wait_for(store.transaction(insert_call, *first("after")), 5)
        assert store.writer.thread is not thread

    with_store(tmp_path / "life.db", scenario)
    assert rows(tmp_path / "life.db", "SELECT count(*) FROM calls") == [(2,)]


def test_a_batch_whose_jobs_were_all_abandoned_opens_no_transaction(tmp_path: Path) -> None:
    async def scenario(store: Store) -> None:
        await store.transaction(read_call, "warm-up")
        commits = count_commits(store)
        gate = Gate()
        held = await gate.hold(store)
        asked = [asyncio.ensure_future(store.transaction(inserts(f"x{n}"))) for n in range(2)]
        await asyncio.sleep(0.05)
        for task in asked:
            task.cancel()
        gate.opened.set()
        await held
        await store.transaction(read_call, "flush")  # after the abandoned batch
        assert len(commits) == 2  # the gate's and the flush's

    with_store(tmp_path / "none.db", scenario)


def test_a_decision_already_committing_at_the_deadline_is_answered_not_the_fallback(
    tmp_path: Path,
) -> None:
    """The job's writes are kept (its savepoint released) when the deadline passes while a
    later job of its batch still runs: it cannot be abandoned, so the asker waits the few
    moments to its commit and answers the stored decision."""
    state, decision, now = first("kept")

    def stores(connection: Connection) -> dict[str, Any]:
        insert_call(connection, state, decision, now)
        return decision

    async def scenario(store: Store) -> None:
        service = Service(HOSPITAL, store, deadline_s=0.2)
        gate, later = Gate(), Gate()
        held = await gate.hold(store)
        answer = asyncio.ensure_future(
            service.decision(lambda: store.transaction(stores), "kept", 1, HOSPITAL.compiled)
        )
        await asyncio.sleep(0.01)  # its job queued first
        after = asyncio.ensure_future(store.transaction(later))
        await asyncio.sleep(0.05)
        gate.opened.set()
        await held
        await asyncio.to_thread(later.entered.wait, 10)  # "kept" is kept; the batch goes on
        await asyncio.sleep(0.3)  # past the deadline
        later.opened.set()
        assert await answer == decision
        await after
        assert service.fallbacks == 0

    with_store(tmp_path / "kept.db", scenario)
    assert rows(tmp_path / "kept.db", "SELECT call_id FROM calls") == [("kept",)]


def test_a_writer_takes_its_turn_after_another_process_writer(tmp_path: Path) -> None:
    """The writers of the processes serving one file take turns through a lock file beside
    it (the kernel wakes the next at once, where SQLite's busy wait sleeps and polls): while
    another holds the turn, a batch waits; then it commits."""
    path = tmp_path / "turn.db"

    async def scenario(store: Store) -> None:
        await store.transaction(read_call, "warm-up")
        with open(f"{path}-writers.lock", "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)  # another worker's writer, mid-batch
            asked = asyncio.ensure_future(store.transaction(insert_call, *first("t")))
            await asyncio.sleep(0.2)
            assert not asked.done()
            fcntl.flock(turn, fcntl.LOCK_UN)
        assert await asyncio.wait_for(asked, 5) is None

    with_store(path, scenario)
    assert rows(path, "SELECT call_id FROM calls") == [("t",)]
