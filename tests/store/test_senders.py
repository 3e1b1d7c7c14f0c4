"""Sending webhooks safely and fast: the guard checks every address a name resolves to (a fake
resolver stands in for DNS; nothing leaves this machine) and connects to the address it
checked; a delivery to a receiver on 127.0.0.1 is refused unless the deployment allows
127.0.0.0/8; every webhook is signed; and a burst to a slow receiver drains concurrently,
each delivery sent exactly once though two workers share the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from receivers import WebhookReceiver, alarms
from sqlalchemy import func, insert, select

from routing_engine.api import load_deployment
from routing_engine.core.clock import ManualClock
from routing_engine.core.outbound import Network, networks
from routing_engine.store.database import Store
from routing_engine.store.notify import NotifySettings, verify
from routing_engine.store.outbox import DeliveryWorker
from routing_engine.store.senders import DeliveryRefused, Senders, checked_address
from routing_engine.store.tables import deliveries, iso

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SECRET = b"a-test-secret-of-enough-length-0123"


def resolver(answers: dict[str, list[str]]) -> Any:
    async def resolve(host: str, _port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"unknown name {host}")
        return answers[host]

    return resolve


def test_every_address_a_name_resolves_to_is_checked() -> None:
    fake = resolver({
        "public.test": ["93.184.216.34"],
        "mixed.test": ["93.184.216.34", "10.0.0.1"],  # one internal answer is enough to refuse
        "metadata.test": ["169.254.169.254"],
        "mapped.test": ["::ffff:127.0.0.1"],
        "inside.test": ["10.20.3.4"],
    })  # fmt: skip
    allowed = networks(["10.20.0.0/16"])

    async def scenario() -> None:
        assert str(await checked_address("public.test", 443, (), fake)) == "93.184.216.34"
        assert str(await checked_address("inside.test", 443, allowed, fake)) == "10.20.3.4"
        for name in ("mixed.test", "metadata.test", "mapped.test", "inside.test"):
            with pytest.raises(DeliveryRefused, match=f"{name} resolves to"):
                await checked_address(name, 443, (), fake)
        with pytest.raises(DeliveryRefused, match="loopback"):
            await checked_address("0x7f000001", 80, (), fake)  # a literal: no lookup at all
        with pytest.raises(httpx.ConnectError, match="cannot resolve"):
            await checked_address("nowhere.test", 443, (), fake)
        with pytest.raises(DeliveryRefused, match="localhost resolves to"):
            await checked_address("localhost", 80, ())  # the machine's own resolver

    asyncio.run(scenario())


def row(address: str, delivery: int = 1) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        id=delivery, event="sla-missed", channel="webhook", address=address, payload='{"a": 1}'
    )


def test_a_delivery_to_this_machine_is_refused_unless_the_deployment_allows_it(
    tmp_path: Path,
) -> None:
    hooks = WebhookReceiver(statuses=[302])
    port = hooks.server.server_address[1]
    allowing = load_deployment(alarms(tmp_path, hooks.url)).compiled.deployment
    assert allowing.allow_webhook_networks == ("127.0.0.0/8",)
    fake = resolver({"hooks.test": ["127.0.0.1"]})  # a name no real resolver knows

    async def send(allowed: tuple[Network, ...], address: str) -> Any:
        settings = NotifySettings(timeout_s=5, secret=SECRET)
        senders = Senders(settings, allowed=lambda: allowed, resolver=fake)
        try:
            return await senders.send(row(address), datetime.now(UTC))
        finally:
            await senders.close()

    try:
        for address in (f"{hooks.url}/hook", f"http://hooks.test:{port}/hook"):
            refused = asyncio.run(send((), address))
            assert (refused.ok, refused.final) == (False, True)
            assert refused.detail.startswith("refused:") and "loopback" in refused.detail
        assert hooks.received == []  # nothing reached the receiver
        allowed = networks(allowing.allow_webhook_networks)
        redirected = asyncio.run(send(allowed, f"{hooks.url}/hook"))
        assert (redirected.ok, redirected.detail) == (False, "HTTP 302")  # not followed
        sent = asyncio.run(send(allowed, f"http://hooks.test:{port}/named"))
        assert sent.ok and sent.status == 200
        (arrived,) = hooks.at("/named")  # connected to the checked address, named as written
        assert arrived.headers["Host"] == f"hooks.test:{port}"
        stamp, signature = (
            arrived.headers["X-Routing-Timestamp"],
            arrived.headers["X-Routing-Signature"],
        )
        assert verify(SECRET, stamp, arrived.body, signature, time.time(), 300)
        assert len(hooks.received) == 2
    finally:
        hooks.close()


def test_a_refused_delivery_is_given_up_at_once(tmp_path: Path) -> None:
    hooks = WebhookReceiver()

    async def scenario(store: Store, clock: ManualClock) -> None:
        await add_deliveries(store, 1, f"{hooks.url}/hook")
        settings = NotifySettings(secret=SECRET)
        senders = Senders(settings)  # no network allowed
        try:
            worker = DeliveryWorker(store.engine, settings, senders.send, "a", clock)
            assert await worker.tick() == 1
            clock.advance(3600)
            assert await worker.tick() == 0
        finally:
            await senders.close()
        async with store.engine.connect() as connection:
            found = (await connection.execute(select(deliveries))).one()
        assert (found.status, found.attempts) == ("failed", 1)
        assert found.last_error.startswith("refused: 127.0.0.1 is a loopback address")
        assert hooks.received == []

    try:
        with_store(tmp_path, scenario)
    finally:
        hooks.close()


async def add_deliveries(store: Store, count: int, address: str) -> None:
    stamp = iso(T0)
    rows = [
        {
            "timer_id": number,
            "event": "sla-missed",
            "contact": "manager",
            "channel": "webhook",
            "address": address,
            "payload": f'{{"n": {number}}}',
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": stamp,
        }
        for number in range(1, count + 1)
    ]
    async with store.engine.begin() as connection:
        await connection.execute(insert(deliveries), rows)


def with_store(tmp_path: Path, scenario: Any) -> None:
    async def main() -> None:
        clock = ManualClock(T0)
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", clock)
        await store.open()
        try:
            await scenario(store, clock)
        finally:
            await store.close()

    asyncio.run(main())


async def pending(store: Store) -> int:
    query = select(func.count()).where(deliveries.c.status == "pending")
    async with store.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def pump(worker: DeliveryWorker, wake: asyncio.Event, store: Store) -> None:
    """What the service's delivery loop does: fill the free slots, wait for one to free."""
    while await pending(store) or worker.sending:
        wake.clear()
        await worker.fill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), 0.5)


def drain(tmp_path: Path, hooks: WebhookReceiver, count: int) -> float:
    """Seconds two workers (a process each, 16 slots each) take to send `count` deliveries."""
    elapsed = []
    tmp_path.mkdir()

    async def scenario(store: Store, clock: ManualClock) -> None:
        await add_deliveries(store, count, f"{hooks.url}/hook")
        settings = NotifySettings(secret=SECRET, concurrency=16, timeout_s=5)
        allowed = networks(["127.0.0.0/8"])
        senders = [Senders(settings, allowed=lambda: allowed) for _ in "ab"]
        wakes = [asyncio.Event(), asyncio.Event()]
        workers = [
            DeliveryWorker(store.engine, settings, sender.send, name, clock, wake.set)
            for name, sender, wake in zip("ab", senders, wakes, strict=True)
        ]
        began = time.monotonic()
        try:
            pumps = (pump(w, e, store) for w, e in zip(workers, wakes, strict=True))
            await asyncio.wait_for(asyncio.gather(*pumps), timeout=60)
        finally:
            for sender in senders:
                await sender.close()
        elapsed.append(time.monotonic() - began)
        assert await pending(store) == 0

    with_store(tmp_path, scenario)
    return elapsed[0]


def test_a_burst_drains_concurrently_and_each_delivery_is_sent_once(tmp_path: Path) -> None:
    """300 deliveries to a receiver that takes 0.1 s each: one at a time, its slowness would
    add 30 s to the drain; sent concurrently, it adds a small part of that (compared with the
    same burst to a prompt receiver, so the machine's own speed cancels out). No delivery is
    sent twice, though two workers share the store."""
    count, delay = 300, 0.1
    prompt, slow = WebhookReceiver(), WebhookReceiver(delay_s=delay)
    try:
        baseline = drain(tmp_path / "prompt", prompt, count)
        slowed = drain(tmp_path / "slow", slow, count)
    finally:
        prompt.close()
        slow.close()
    assert slowed - baseline < 0.25 * count * delay, f"{baseline:.1f}s, then {slowed:.1f}s"
    for hooks in (prompt, slow):
        ids = sorted(int(r.headers["X-Routing-Delivery"]) for r in hooks.received)
        assert ids == list(range(1, count + 1))  # each exactly once


def test_the_concurrency_comes_from_the_environment() -> None:
    assert NotifySettings.from_env({}).concurrency == 16
    assert NotifySettings.from_env({"ROUTING_NOTIFY_CONCURRENCY": "4"}).concurrency == 4
    with pytest.raises(ValueError, match="ROUTING_NOTIFY_CONCURRENCY must be at least 1"):
        NotifySettings.from_env({"ROUTING_NOTIFY_CONCURRENCY": "0"})
