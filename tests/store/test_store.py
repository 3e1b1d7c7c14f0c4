"""The store refuses tables an earlier version made, saying what they lack, and changes
nothing: a call must never fail because a column is missing."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from routing_engine.store.database import Store, StoreOutdated


def old_store(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, board TEXT, call_id TEXT, seq INT,"
            " caller TEXT, node TEXT, summary TEXT, recording TEXT, managers TEXT, due TEXT,"
            " status TEXT, created_at TEXT)"
        )
        db.commit()
    finally:
        db.close()


def test_an_earlier_versions_store_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_store(path)

    async def open_it() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}")
        try:
            await store.open()
        finally:
            await store.close()

    with pytest.raises(StoreOutdated) as refused:
        asyncio.run(open_it())
    message = str(refused.value)
    assert "table tickets lacks region, call_type, story" in message
    assert "Move the database aside" in message
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    assert tables == {"tickets"}  # nothing was created or changed


def test_serve_says_why_it_cannot_start(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_store(path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "serve", "examples/hospital", "--port", "0",
         "--database", f"sqlite+aiosqlite:///{path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "cannot start: the store" in result.stderr
    assert "table tickets lacks" in result.stderr


def test_a_stream_resumed_from_far_behind_starts_over_with_a_snapshot(tmp_path: Path) -> None:
    """Replaying a long backlog would hold it in memory: past the limit, a snapshot instead."""
    from sqlalchemy import insert

    from routing_engine.service import board_stream
    from routing_engine.store.tables import ticket_events

    async def scenario() -> list[str | None]:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
        await store.open()
        hub = board_stream.Hub(store.engine, store.clock)
        try:
            row = {"ticket_id": 1, "board": "office", "at": "", "kind": "x", "actor": "",
                   "detail": "{}"}  # fmt: skip
            async with store.engine.begin() as connection:
                await connection.execute(
                    insert(ticket_events), [row] * (board_stream.BACKLOG_LIMIT + 10)
                )
            messages = board_stream.stream(hub, None, 1)
            try:
                # bounded: without the limit the replay finds no ticket and waits for changes
                return [(await asyncio.wait_for(anext(messages), 10)).event for _ in range(2)]
            finally:
                await messages.aclose()
        finally:
            hub.stopping = True
            if hub._task is not None:
                hub._task.cancel()
            await store.close()

    assert asyncio.run(scenario()) == [None, "snapshot"]  # the retry hint, then a snapshot


def _open_and_publish(url: str, start: Any) -> None:
    """One worker starting: open the store and publish the deployment, as the server's
    lifespan does, once every worker is ready to (a spawned process)."""

    async def open_it() -> None:
        store = Store(url)
        try:
            await store.open("hospital")  # each claims it for the same deployment
            await store.publish("hospital", "f" * 64, {"flow.yaml": "flow: x"})
        finally:
            await store.close()

    start.wait()
    asyncio.run(open_it())


def test_workers_opening_one_new_store_at_once_all_start(tmp_path: Path) -> None:
    """The workers of one server open a new store at the same moment: one makes the tables and
    records the version, the others find them (before, one of them failed to start on 'table
    calls already exists', and the server stopped)."""
    context = multiprocessing.get_context("spawn")
    for round_ in range(2):
        url = f"sqlite+aiosqlite:///{tmp_path / f'new-{round_}.db'}"
        start = context.Barrier(3)
        workers = [context.Process(target=_open_and_publish, args=(url, start)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0, 0, 0], f"round {round_}"
        db = sqlite3.connect(tmp_path / f"new-{round_}.db")
        try:
            assert db.execute("SELECT count(*) FROM flow_versions").fetchone() == (1,)
            assert db.execute("SELECT deployment FROM store_owner").fetchall() == [("hospital",)]
        finally:
            db.close()
