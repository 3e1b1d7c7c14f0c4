"""The transactions of a SQLite file, run in one thread of the store's own, with group commit.

A thread hop and a commit each cost about as much as a whole request's statements, so the
writer takes every transaction waiting when it is free and runs them in one database
transaction: one commit and one hop back to the event loop for all of them. The database
transaction begins with BEGIN IMMEDIATE (the engine's "begin" event, `immediate_engine`), so
the wait for another process's write lock happens once, up front, with nothing open, and what
each job reads, decides and writes is serializable.

Each job runs inside a SAVEPOINT and still gets its own outcome. One that raises is rolled back
to its savepoint and fails alone; one abandoned (its asker's deadline passed) before it ran is
skipped, and one abandoned while it ran is rolled back to its savepoint. Once a job's savepoint
is released its writes are kept: it can no longer be abandoned (`Writer.abandon` says so), and
it is reported done only if the batch commits. When the batch's transaction is lost (it cannot
begin, SQLite rolled all of it back so a savepoint is gone, or the commit fails), every job of
the batch gets that error, and none is reported done.

SQLite writes one at a time anyway, so a single thread loses nothing; it never blocks the
event loop, so a deadline can always answer in time. The writers of the several processes
serving one file (a server's workers) take turns through a lock file beside it (`_turn`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL

BATCH = 64  # transactions committed together at most
_STATES = threading.Lock()  # guards every job's state: the loop abandons, the writer advances


class Abandoned(Exception):
    """The request that ran a transaction gave up on it (its deadline passed); it rolled back."""


class _State(Enum):
    QUEUED = auto()
    RUNNING = auto()
    FAILED = auto()  # rolled back to its savepoint
    KEPT = auto()  # savepoint released: committed with its batch, or failed with it
    ABANDONED = auto()


@dataclass(slots=True, eq=False)
class _Job:
    """A transaction asked for, and its outcome."""

    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    state: _State = _State.QUEUED
    ok: bool = False
    outcome: Any = None  # the result, or the exception raised

    def advance(self, state: _State) -> bool:
        """Move to `state` (in the writer's thread); False when its asker abandoned it: by
        `abandon`, or by cancelling its future (`cancel()` sets the future's state at once;
        its callbacks, and the CancelledError in the asker, come a turn of the loop later)."""
        with _STATES:
            if self.state is _State.ABANDONED or self.future.cancelled():
                self.state = _State.ABANDONED
                return False
            self.state = state
            return True

    def abandon(self) -> bool:
        """Give it up (in the event loop); False when its writes are already kept."""
        with _STATES:
            if self.state is _State.KEPT:
                return False
            self.state = _State.ABANDONED
            return True


def immediate_engine(url: URL, on_connect: Callable[[Any, Any], None]) -> Engine:
    """A pysqlite engine for the writer, after SQLAlchemy's recipe for pysqlite transactions:
    pysqlite's own BEGIN is turned off (it begins lazily, before the first write, so a write
    that times out on a lock leaves a transaction open) and every transaction begins with
    BEGIN IMMEDIATE. `on_connect` sets the pragmas (WAL, busy_timeout...)."""
    engine = create_engine(url.set(drivername="sqlite"))

    def connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        on_connect(dbapi_connection, record)

    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
    return engine


class Writer:
    """Runs `work(connection)` functions in transactions of `engine`, in its own thread."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # the thread's own
        self.thread: threading.Thread | None = None  # started by the first transaction
        self.asked: dict[asyncio.Task[Any], _Job] = {}  # the job each task awaits

    async def run(self, work: Callable[[Connection], Any]) -> Any:
        """`work`'s result once its transaction has committed (or what it raised, rolled
        back). Cancelled, the transaction is abandoned: rolled back, unless its writes were
        already kept (`abandon`), in which case it commits though nobody awaits it."""
        job = _Job(work, asyncio.get_running_loop().create_future())
        self._queue().put(job)
        task = asyncio.current_task()
        if task is not None:
            self.asked[task] = job
        try:
            return await job.future
        except asyncio.CancelledError:
            job.abandon()
            raise
        finally:
            if task is not None:
                del self.asked[task]

    def abandon(self, task: asyncio.Task[Any]) -> bool:
        """Abandon the transaction `task` awaits, if any. False when it cannot be: its writes
        are kept and it is committing with its batch (its outcome is moments away)."""
        job = self.asked.get(task)
        return job is None or job.abandon()

    async def close(self) -> None:
        """Stop the thread once the transactions already asked for are done, and wait for it
        without blocking the event loop (a transaction asked for later starts a new thread,
        with a queue of its own)."""
        thread, self.thread = self.thread, None
        if thread is not None:
            self.jobs.put(None)
            await asyncio.to_thread(thread.join)
        self.engine.dispose()

    def _queue(self) -> queue.SimpleQueue[_Job | None]:
        """The queue of a live thread: started with a fresh queue if there is none."""
        if self.thread is None or not self.thread.is_alive():
            self.jobs = queue.SimpleQueue()
            self.thread = threading.Thread(
                target=self._serve, args=(self.jobs,), name="store-writer", daemon=True
            )
            self.thread.start()
        return self.jobs

    def _serve(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        stopping = False
        turns: BinaryIO | None = None  # the lock file beside the database (see _turn)
        try:
            while not stopping:
                batch, stopping = _take(jobs)
                if not all(
                    job.state is _State.ABANDONED or job.future.cancelled() for job in batch
                ):
                    turns = turns or self._turns(batch)
                    if turns is not None:
                        self._run(batch, turns)
                _deliver(batch)
        finally:
            if turns is not None:
                turns.close()

    def _turns(self, batch: list[_Job]) -> BinaryIO | None:
        """The lock file the writers take turns by, opened; None when it cannot be (its folder
        is missing or read-only): the batch fails with that error, and the next batch tries
        again, so the thread keeps serving and a store that comes back is written again."""
        try:
            lock = f"{self.engine.url.database}-writers.lock"  # private, as the store (0600)
            return open(lock, "a+b", opener=lambda path, flags: os.open(path, flags, 0o600))
        except OSError as error:
            for job in batch:
                job.ok, job.outcome = False, error
            return None

    def _run(self, batch: list[_Job], turns: BinaryIO) -> None:
        """The jobs in one transaction, each in a savepoint; all fail if it is lost."""
        try:
            with _turn(turns), self.engine.begin() as connection:
                for job in batch:
                    _attempt(connection, job)
        except BaseException as error:  # no job's work raises here: the transaction is lost
            for job in batch:
                job.ok, job.outcome = False, _deliverable(error)


@contextlib.contextmanager
def _turn(turns: BinaryIO) -> Iterator[None]:
    """This process's turn to write the file, among the processes that serve it (the workers
    of a server): an exclusive lock on `turns`, a file beside it, held from BEGIN IMMEDIATE to
    COMMIT. SQLite's own lock keeps the data safe, but a writer kept waiting by it sleeps and
    polls (1, 2, 5, 10 ms...), so a second worker's writer lost most turns and two workers
    served fewer calls than one; the kernel hands this lock on at once, in turn."""
    fcntl.flock(turns, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(turns, fcntl.LOCK_UN)


def _take(jobs: queue.SimpleQueue[_Job | None]) -> tuple[list[_Job], bool]:
    """The jobs waiting (at least one, at most BATCH), and whether the thread is to stop."""
    first = jobs.get()
    if first is None:
        return [], True
    batch = [first]
    while len(batch) < BATCH:
        try:
            more = jobs.get_nowait()
        except queue.Empty:
            break
        if more is None:
            return batch, True
        batch.append(more)
    return batch, False


def _attempt(connection: Connection, job: _Job) -> None:
    """Run one job in a savepoint of the transaction under way. Raises only when the
    transaction is lost (SQLite rolled it back: the savepoint is gone). The savepoints are
    sent to sqlite3 itself: through SQLAlchemy's nested transactions they cost more than the
    job's own statements."""
    if not job.advance(_State.RUNNING):
        job.ok, job.outcome = False, Abandoned("abandoned before it ran")
        return
    raw = connection.connection.driver_connection
    assert raw is not None  # a pooled connection in use always has its DBAPI connection
    raw.execute("SAVEPOINT job")
    try:
        outcome = job.work(connection)
    except BaseException as error:  # even KeyboardInterrupt is this job's outcome only
        _undo(raw, error)
        job.advance(_State.FAILED)
        job.ok, job.outcome = False, _deliverable(error)
        return
    if job.advance(_State.KEPT):
        raw.execute("RELEASE job")
        job.ok, job.outcome = True, outcome
    else:
        _undo(raw, None)
        job.ok, job.outcome = False, Abandoned("abandoned at its deadline")


def _undo(raw: Any, cause: BaseException | None) -> None:
    """Roll back to the job's savepoint and drop it. If SQLite has rolled back the whole
    transaction (the savepoint is gone), raise `cause` (or SQLite's error): the batch fails."""
    try:
        raw.execute("ROLLBACK TO job")
        raw.execute("RELEASE job")
    except Exception:
        if cause is None:
            raise
        raise cause from None


def _deliverable(error: BaseException) -> BaseException:
    """What a future can carry and an asker can catch: an Exception (StopIteration aside)."""
    if isinstance(error, Exception) and not isinstance(error, StopIteration):
        return error
    wrapped = RuntimeError(f"the transaction raised {error!r}")
    wrapped.__cause__ = error
    return wrapped


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
