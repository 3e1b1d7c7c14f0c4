"""The per-call locks of one service process: decisions for one call take turns, and a call's
lock is dropped once no decision holds or awaits it (the table must not grow with every call)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from conftest import ROOT

from routing_engine.api import load_deployment
from routing_engine.contract import NewCallRequest
from routing_engine.core.clock import ManualClock
from routing_engine.service.core import Service
from routing_engine.store.database import Store, sqlite_url


def service_for(tmp_path: Path) -> Service:
    loaded = load_deployment(ROOT / "examples" / "hospital")
    clock = ManualClock(datetime.fromisoformat("2026-11-23T10:00:00-05:00"))
    return Service(loaded, Store(sqlite_url(tmp_path), clock), deadline_s=5.0)


def test_a_call_lock_serialises_and_is_dropped_when_free(tmp_path: Path) -> None:
    service = service_for(tmp_path)
    order: list[str] = []

    async def decide(name: str) -> None:
        async with service.lock("call-1"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    async def scenario() -> None:
        await asyncio.gather(decide("a"), decide("b"))
        assert order == ["a in", "a out", "b in", "b out"]
        assert service.locks == {}

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_no_lock_behind(tmp_path: Path) -> None:
    """A decision cancelled at its deadline while waiting for the lock gives up its place."""
    service = service_for(tmp_path)

    async def wait_for_lock() -> None:
        async with service.lock("call-1"):
            raise AssertionError("the waiter was cancelled; it never gets the lock")

    async def scenario() -> None:
        async with service.lock("call-1"):
            assert service.locks["call-1"].users == 1
            waiter = asyncio.create_task(wait_for_lock())
            await asyncio.sleep(0)
            assert service.locks["call-1"].users == 2
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
            assert service.locks["call-1"].users == 1
        assert service.locks == {}

    asyncio.run(scenario())


def test_started_calls_leave_no_locks(tmp_path: Path) -> None:
    service = service_for(tmp_path)
    loaded = service.current

    async def scenario() -> None:
        await service.store.open()
        try:
            await service.store.publish(loaded.name, loaded.digest, loaded.sources)
            calls = [
                NewCallRequest.model_validate(
                    {
                        "call_id": f"lock-{n % 3}",  # each call started twice, at once
                        "from": "+12125551234",
                        "to": "+12125550111",
                        "at": "2026-11-23T10:00:00-05:00",
                    }
                )
                for n in range(6)
            ]
            decisions = await asyncio.gather(
                *(service.start_call(call, loaded.compiled) for call in calls)
            )
            assert [d["call_id"] for d in decisions] == [f"lock-{n % 3}" for n in range(6)]
            assert decisions[0] == decisions[3]  # the retried start answers the same decision
            assert service.locks == {}
        finally:
            await service.store.close()

    asyncio.run(scenario())


def test_background_tasks_leave_when_done() -> None:
    """Work left running (a deadline's, a SIGHUP reload's) is held until done, then dropped."""
    from routing_engine.service.core import Background

    async def scenario() -> int:
        held = Background()
        task = asyncio.ensure_future(asyncio.sleep(0))
        held.add(task)
        assert task in held
        await task
        await asyncio.sleep(0)  # the done callbacks run
        return len(held)

    assert asyncio.run(scenario()) == 0
