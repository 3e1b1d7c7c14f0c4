"""What the store does on PostgreSQL that SQLite does another way: a transaction abandoned at
its deadline while it waits for a row another process holds rolls back and leaves the pool
sound; servers opening one new database at once take turns under the advisory lock; the
probe /readyz makes commits a write. (Everything else runs the same tests on both backends.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, text

from routing_engine.core.clock import ManualClock
from routing_engine.store.call_rows import Conflict, insert_call, read_call, update_call
from routing_engine.store.database import Store
from routing_engine.store.tables import iso

AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
pytestmark = pytest.mark.postgres


def state_of(call_id: str, seq: int) -> dict[str, Any]:
    return {"call_id": call_id, "hash": "d" * 64, "seq": seq, "status": "active"}


def decision_of(call_id: str, seq: int) -> dict[str, Any]:
    return {"call_id": call_id, "seq": seq, "node": "n", "actions": []}


async def opened(url: str) -> Store:
    store = Store(url, ManualClock(AT))
    await store.open("hospital")
    return store


def test_a_transaction_abandoned_while_it_waits_for_a_row_rolls_back(postgres_url: str) -> None:
    async def scenario() -> None:
        store = await opened(postgres_url)
        other = Store(postgres_url)
        try:
            now = iso(AT)
            await store.transaction(insert_call, state_of("c1", 0), decision_of("c1", 0), now)
            async with other.engine.connect() as holder, holder.begin():
                await holder.execute(text("SELECT 1 FROM calls WHERE call_id = 'c1' FOR UPDATE"))
                waiting = asyncio.ensure_future(
                    store.transaction(
                        update_call, 0, "e1", {}, state_of("c1", 1), decision_of("c1", 1), now
                    )
                )
                await asyncio.sleep(0.3)
                assert not waiting.done()  # it waits for the row
                assert store.abandon(waiting)  # always true on PostgreSQL: it rolls back
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
            # the row released: nothing of the abandoned one was committed, and the pool's
            # connections still serve (the cancelled one was reset or replaced)
            stored = await store.call("c1")
            assert stored is not None and stored.seq == 0
            for _ in range(3):
                await store.transaction(read_call, "c1")
            await store.transaction(
                update_call, 0, "e1", {}, state_of("c1", 1), decision_of("c1", 1), now
            )
            with pytest.raises(Conflict):  # the seq moved on: a stale one is refused
                await store.transaction(
                    update_call, 0, "e2", {}, state_of("c1", 1), decision_of("c1", 1), now
                )
            await store.probe()
        finally:
            await other.close()
            await store.close()

    asyncio.run(scenario())


def test_two_stores_racing_on_one_call_never_both_apply(postgres_url: str) -> None:
    """Two servers' stores apply the next event of one call at the same moment: one commits,
    the other gets Conflict (its UPDATE waits for the first, then finds the seq moved)."""

    async def scenario() -> list[str]:
        one, two = await opened(postgres_url), await opened(postgres_url)
        try:
            now = iso(AT)
            await one.transaction(insert_call, state_of("race", 0), decision_of("race", 0), now)

            def step(connection: Connection, event_id: str) -> None:
                update_call(
                    connection, 0, event_id, {}, state_of("race", 1), decision_of("race", 1), now
                )
                connection.execute(text("SELECT pg_sleep(0.2)"))  # both inside at once

            outcomes = await asyncio.gather(
                one.transaction(step, "a"), two.transaction(step, "b"), return_exceptions=True
            )
            return sorted(type(o).__name__ for o in outcomes)
        finally:
            await one.close()
            await two.close()

    assert asyncio.run(scenario()) == ["Conflict", "NoneType"]


def test_stores_opening_one_new_database_at_once_make_it_once(postgres_url: str) -> None:
    async def scenario() -> list[tuple[Any, ...]]:
        emptied = Store(postgres_url)
        async with emptied.engine.begin() as connection:  # a database with no tables at all
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await emptied.close()
        stores = [Store(postgres_url) for _ in range(4)]
        try:
            await asyncio.gather(*(store.open("hospital") for store in stores))
            async with stores[0].engine.connect() as connection:
                owners = await connection.execute(text("SELECT deployment FROM store_owner"))
                return [tuple(row) for row in owners]
        finally:
            for store in stores:
                await store.close()

    assert asyncio.run(scenario()) == [("hospital",)]
