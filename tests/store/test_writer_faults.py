"""The store under faults at its edges: a new file being written by another connection is
turned to WAL mode once it is free (fresh starts never race); the writer of a store whose
folder cannot hold its lock file fails its transactions with the reason, and writes again once
it can."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from routing_engine.store.database import Store, claim


def test_a_new_file_written_by_another_connection_is_turned_to_wal_once_free(
    tmp_path: Path,
) -> None:
    """Turning a file to WAL fails at once, without SQLite's busy wait, while another
    connection holds its write lock (a server making the store): one in five servers started
    at once on a new data folder died of it. It is retried until the lock is free."""
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE first_one_here (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO first_one_here VALUES (1)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    began = time.monotonic()
    try:
        claim(f"sqlite:///{path}", "hospital")
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - began >= 0.4  # it waited for the lock, then went on
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT deployment FROM store_owner").fetchall() == [("hospital",)]
    finally:
        db.close()


def test_a_writer_without_its_lock_file_fails_each_transaction_and_recovers(
    tmp_path: Path,
) -> None:
    """The writer's thread does not die when the lock file beside the database cannot be
    made (its folder is a file): each transaction fails with that error, none hangs, and once
    the folder exists the same store writes."""
    folder = tmp_path / "data"
    folder.write_text("not a folder")

    def one(connection: Connection) -> int:
        return int(connection.execute(text("SELECT 1")).scalar_one())

    async def scenario() -> None:
        store = Store(f"sqlite:///{folder / 'routing.db'}")
        try:
            for _ in range(2):
                with pytest.raises(NotADirectoryError):
                    await asyncio.wait_for(store.transaction(one), 5)
            folder.unlink()
            folder.mkdir()
            assert await asyncio.wait_for(store.transaction(one), 5) == 1
        finally:
            await store.close()

    asyncio.run(scenario())
