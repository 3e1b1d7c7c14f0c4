"""The transactions of a SQLite file, run in one thread of the store's own, with group commit.

A thread hop and a commit each cost about as much as a whole request's statements, so the
writer takes every transaction waiting when it is free and runs them in one database
transaction: one commit and one hop back to the event loop for all of them. Each still gets
its own outcome. One whose work raises having written nothing (a refusal, a stale seq, an id
already taken: the statement that failed is undone by SQLite itself) fails alone; one that
raises having written rows, or is abandoned having written rows, has the batch rolled back and
the others run again one transaction at a time, so nothing of it is ever half-written, and an
abandoned one is committed only if its asker gave up while the commit was under way.

SQLite writes one at a time anyway, so a single thread loses nothing; it never blocks the
event loop, so a deadline can always answer in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

BATCH = 64  # transactions committed together at most


class Abandoned(Exception):
    """The request that ran a transaction gave up on it (its deadline passed); it rolled back."""


class _Redo(Exception):
    """A transaction of the batch failed or was abandoned after writing: run them one by one."""


@dataclass(slots=True, eq=False)
class _Job:
    """A transaction asked for, and its outcome."""

    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]  # cancelled by the event loop when its asker gives up
    wrote: bool = False  # rows changed in the transaction under way
    ok: bool = False
    outcome: Any = None  # the result, or the exception raised

    @property
    def abandoned(self) -> bool:
        """Its asker has given up (a deadline cancelled it). Read in the writer's thread: the
        future's state is set at once by `cancel()` (its callbacks would come later)."""
        return self.future.cancelled()


class Writer:
    """Runs `work(connection)` functions in transactions of `engine`, in its own thread."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None  # started by the first transaction

    async def run(self, work: Callable[[Connection], Any]) -> Any:
        """`work`'s result once its transaction has committed (or what it raised, rolled
        back). Cancelled, the transaction is abandoned: rolled back if not yet committed."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._serve, name="store-writer", daemon=True)
            self.thread.start()
        job = _Job(work, asyncio.get_running_loop().create_future())
        self.jobs.put(job)
        return await job.future

    def close(self) -> None:
        """Stop the thread once the transactions already asked for are done (a transaction
        asked for later starts a new one)."""
        if self.thread is not None:
            self.jobs.put(None)
            self.thread = None

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self.jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            live = [job for job in batch if not job.abandoned]
            self._run(live)
            _deliver(batch)
        self.engine.dispose()

    def _run(self, jobs: list[_Job]) -> None:
        """The jobs in one transaction; again one by one if one failed having written."""
        try:
            with self.engine.begin() as connection:
                for job in jobs:
                    if job.abandoned:  # while an earlier one ran (waited on a lock, say)
                        job.ok, job.outcome = False, Abandoned("abandoned before it ran")
                        continue
                    _attempt(connection, job, alone=len(jobs) == 1)
                if any(job.wrote and job.abandoned for job in jobs):
                    raise _Redo
        except _Redo:
            for job in jobs:
                if not job.abandoned:
                    self._run([job])
                else:
                    job.ok, job.outcome = False, Abandoned("abandoned at its deadline")
        except Exception as error:  # the commit failed (or a lone job failed): none is done
            for job in jobs:
                if job.ok or job.outcome is None:
                    job.ok, job.outcome = False, error


def _attempt(connection: Connection, job: _Job, alone: bool) -> None:
    """Run one job in the transaction under way, noting whether it wrote rows. Raises _Redo
    when it failed having written rows (the batch must roll back), or what it raised when it
    is alone."""
    raw = connection.connection.driver_connection
    before = raw.total_changes if raw is not None else 0
    try:
        job.ok, job.outcome = True, job.work(connection)
    except Exception as error:
        job.ok, job.outcome = False, error
        job.wrote = raw is None or raw.total_changes != before
        if job.wrote and alone:
            raise
        if job.wrote:
            raise _Redo from error
        return
    job.wrote = raw is None or raw.total_changes != before


def _deliver(batch: list[_Job]) -> None:
    """Hand every outcome back to its event loop: one wake-up per loop for the whole batch."""
    loops: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in batch:
        loops.setdefault(job.future.get_loop(), []).append(job)
    for loop, jobs in loops.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, jobs)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # cancelled (abandoned): its asker has gone
            continue
        if job.ok:
            job.future.set_result(job.outcome)
        else:
            job.future.set_exception(job.outcome)
