"""The store: call sessions, processed events, flow versions and the decision audit log.

SQLAlchemy 2 Core, and no database call blocks the event loop, so a deadline can always answer
in time. The hot path (a call's rows, `call_rows`) is plain synchronous functions that
`Store.transaction` runs in one transaction: on the embedded SQLite file (WAL mode) in the
store's writer thread, one thread hop per transaction and one commit for every transaction
waiting (`sqlite_writer`); on PostgreSQL (asyncpg) through `AsyncConnection.run_sync`. The
cold paths use the async engine (aiosqlite, asyncpg).

Every change of a call is one transaction that checks the call's `seq` is still the one it
read (optimistic concurrency): two processes that race on one call never both apply.

A store belongs to one deployment: the first server to open it claims it (`Store.open`), and a
server of another deployment is refused there (`StoreClaimed`), so no route of one deployment
can list, read, answer or change another's calls, tickets, versions, timers or deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from routing_engine.core.clock import Clock, system_clock
from routing_engine.store.call_rows import StoredCall, read_call, read_targets
from routing_engine.store.private import private_file
from routing_engine.store.schema import SchemaState, StoreOutdated, open_schema, upgrade
from routing_engine.store.schema import state as schema_state
from routing_engine.store.sqlite_writer import Writer, immediate_engine
from routing_engine.store.tables import (
    calls,
    decisions,
    iso,
    owner,
    target_states,
    versions,
)
from routing_engine.store.urls import StoreUrlError, async_url, sqlite_url, url_problem

P = ParamSpec("P")
T = TypeVar("T")


SCHEMA_LOCK = 0x726F757465  # the PostgreSQL advisory lock under which the schema is made

__all__ = [
    "Store",
    "StoreClaimed",
    "StoreOutdated",
    "StoreUrlError",
    "async_url",
    "claim",
    "sqlite_url",
]


class StoreClaimed(RuntimeError):
    """The store belongs to another deployment than the one opening it (or, made before stores
    had owners, holds several deployments' versions)."""

    def __init__(self, store: str, holders: list[str], deployment: str):
        self.store, self.holders, self.deployment = store, holders, deployment
        named = " and ".join(map(repr, holders))
        if deployment in holders:  # an earlier version's store, shared by several
            held = f"holds deployments {named} (it was shared before a store had one owner)"
        else:
            held = f"belongs to deployment{'s' if len(holders) > 1 else ''} {named}, not"
            held += f" {deployment!r}"
        super().__init__(
            f"the store {store} {held}: a store holds one deployment's calls, tickets and "
            f"versions. Serve {deployment!r} with its own store: another --database, or the "
            "default one (each deployment has its own folder in the data directory, "
            "$ROUTING_DATA_DIR)"
        )


def _claim(connection: Connection, deployment: str, at: str, store: str) -> None:
    """Claim the store for `deployment`, or raise StoreClaimed when another deployment has
    it. A store made before stores had owners is claimed unless it holds another
    deployment's versions."""
    found = connection.execute(select(owner.c.deployment)).first()
    if found is not None:
        if found.deployment != deployment:
            raise StoreClaimed(store, [found.deployment], deployment)
        return
    names = sorted(connection.execute(select(versions.c.name).distinct()).scalars())
    if names and names != [deployment]:
        raise StoreClaimed(store, names, deployment)
    connection.execute(insert(owner).values(id=1, deployment=deployment, claimed_at=at))


def claim(url: str, deployment: str, clock: Clock = system_clock) -> None:
    """Open the store at `url` for `deployment` (its tables made, the store claimed) and close
    it again: the check a server makes before it serves. StoreClaimed, StoreOutdated or
    StoreUrlError when it may not serve on it. Runs in a thread of its own, so it may be
    called with or without an event loop running."""

    async def opening() -> None:
        store = Store(url, clock)
        try:
            await store.open(deployment)
        except BaseException:  # aiosqlite stops a failed connection without waiting for it:
            await asyncio.sleep(0.1)  # let its thread report before asyncio.run ends the loop
            raise
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(opening())).result()


class Store:
    def __init__(self, url: str, clock: Clock = system_clock):
        self.url = url = async_url(url)
        self.clock = clock  # what the store's rows are stamped with
        self.owner: str | None = None  # the deployment, once `open` has claimed the store
        try:
            self.engine: AsyncEngine = create_async_engine(url)
        except (ArgumentError, InvalidRequestError, ModuleNotFoundError) as error:
            raise StoreUrlError(url_problem(url, error)) from None
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.writer: Writer | None = None  # a SQLite file's transactions, in a thread
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            file = Path(str(parsed.database))
            if file.parent.is_dir():  # else SQLite's own error names it
                private_file(file)  # before SQLite makes it 0644 (and its -wal, -shm alike)
            self.writer = Writer(immediate_engine(parsed, _sqlite_pragmas))

    async def transaction(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, *args, **kwargs)` in one transaction, committed when it returns,
        rolled back when it raises. A SQLite file's runs in the store's writer thread (one
        thread hop however many statements, one commit for every transaction waiting);
        another backend's through `run_sync`. Cancelled (a deadline passed), it is abandoned:
        a thread cannot be stopped, but the work rolls back unless it is already committing
        (see `abandon`)."""
        if self.writer is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work, *args, **kwargs)
        result: T = await self.writer.run(lambda c: work(c, *args, **kwargs))
        return result

    def abandon(self, task: asyncio.Task[Any]) -> bool:
        """Abandon the transaction `task` awaits (before cancelling the task at a deadline).
        False when a SQLite file's transaction is already committing: its outcome is moments
        away, and the task is to be awaited, not cancelled. Always True on other backends
        (cancelled, their transaction rolls back, or commits if COMMIT was already sent)."""
        return self.writer is None or self.writer.abandon(task)

    async def read(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, *args, **kwargs)` on a connection of the async engine: a read
        apart from the writer (in WAL mode readers never wait for it)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    @property
    def shown(self) -> str:
        """The store as messages name it: a SQLite file's path, else its URL (no password)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database:
            return url.database
        return url.render_as_string(hide_password=True)

    async def open(self, deployment: str | None = None) -> None:
        """Bring a new store to this version's schema (a store made by the release before
        migrations to the baseline: `schema.py`), and claim it for `deployment` (when given);
        StoreOutdated when its schema is not this version's (run `cli.py db upgrade`),
        StoreClaimed when it belongs to another deployment (nothing is changed then). The
        workers of a server open one new store at once: each looks, migrates and claims under
        a lock held to its commit, so one makes the tables and claims the store, and the others
        find them."""
        async with self.locked() as connection:
            await connection.run_sync(open_schema, self.shown)
            if deployment is not None:
                at = iso(self.clock())
                await connection.run_sync(_claim, deployment, at, self.shown)
        self.owner = deployment

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[AsyncConnection]:
        """A transaction holding the store's schema lock to its commit: SQLite's write lock
        (BEGIN IMMEDIATE), or a PostgreSQL advisory lock. What opening and migrating run in."""
        async with self.engine.begin() as connection:
            if self.engine.dialect.name == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            yield connection

    async def schema_state(self) -> SchemaState:
        """Where the store's schema stands (read only; `cli.py db check`)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(schema_state)

    async def upgrade(self) -> tuple[SchemaState, SchemaState]:
        """Apply the schema revisions the store lacks, under the schema lock (`cli.py db
        upgrade`); where it stood before, and after."""
        async with self.locked() as connection:
            before = await connection.run_sync(upgrade, self.shown)
            return before, await connection.run_sync(schema_state)

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    async def probe(self) -> None:
        """Commit a write that changes nothing, the way a decision commits (raises when the
        store cannot commit now): what /readyz asks of a store that answers reads."""
        await self.transaction(_touch_owner)

    async def publish(self, name: str, digest: str, sources: dict[str, str]) -> None:
        """Record a deployment version (its files' text); publishing it again, or in another
        worker at the same moment, changes nothing. StoreClaimed for another deployment's
        version than the one the store was opened for."""
        if self.owner is not None and name != self.owner:
            raise StoreClaimed(self.shown, [self.owner], name)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        async with self.engine.begin() as connection:
            await connection.execute(
                dialect.insert(versions)
                .values(
                    digest=digest,
                    name=name,
                    sources=json.dumps(sources),
                    published_at=iso(self.clock()),
                )
                .on_conflict_do_nothing()
            )

    async def version_sources(self, digest: str) -> dict[str, str] | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(versions.c.sources).where(versions.c.digest == digest)
                )
            ).first()
        return None if row is None else dict(json.loads(row.sources))

    async def list_versions(self) -> list[dict[str, str]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(versions.c.digest, versions.c.name, versions.c.published_at).order_by(
                    versions.c.published_at
                )
            )
            return [
                {
                    "hash": r.digest,
                    "version": r.digest[:12],
                    "name": r.name,
                    "published_at": r.published_at,
                }
                for r in rows
            ]

    async def open_calls(self) -> int:
        async with self.engine.connect() as connection:
            result = await connection.execute(
                select(func.count()).select_from(calls).where(calls.c.status != "ended")
            )
            return int(result.scalar_one())

    async def target_states(self) -> dict[str, dict[str, Any]]:
        """Live target state, as the runtime's snapshot: name -> {"available", "skills"}."""
        return await self.read(read_targets)

    async def set_target(self, name: str, available: bool | None, skills: list[str] | None) -> None:
        """Change a target's live availability and/or skills (None leaves that part as it is)."""
        async with self.engine.begin() as connection:
            found = (
                await connection.execute(select(target_states).where(target_states.c.name == name))
            ).first()
            values: dict[str, Any] = {"updated_at": iso(self.clock())}
            if available is not None:
                values["available"] = int(available)
            if skills is not None:
                values["skills"] = json.dumps(skills)
            if found is None:
                await connection.execute(insert(target_states).values(name=name, **values))
            else:
                await connection.execute(
                    update(target_states).where(target_states.c.name == name).values(**values)
                )

    async def call(self, call_id: str) -> StoredCall | None:
        """A call as stored, or None."""
        return await self.read(read_call, call_id)

    async def audit(self, call_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(decisions.c.decision)
                .where(decisions.c.call_id == call_id)
                .order_by(decisions.c.id)
            )
            return [json.loads(row.decision) for row in rows]


WAL_TRIES_S = 10.0  # how long a connection retries turning a new file to WAL mode


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Each SQLite connection's settings: busy_timeout first, then WAL mode. Turning a new
    file to WAL takes an exclusive lock that SQLite does not wait for (no busy handler):
    several servers started at once on a new data folder got `database is locked` there, so
    it is retried for a while. A file that cannot be written (read-only) keeps its mode: its
    readers still read it."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    give_up = time.monotonic() + WAL_TRIES_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except Exception as error:  # sqlite3's OperationalError, or the async driver's copy
            if "readonly" in str(error):
                break
            if "locked" not in str(error) or time.monotonic() > give_up:
                raise
            time.sleep(0.01 + random.random() * 0.04)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _touch_owner(connection: Connection) -> None:
    """A write that changes nothing: the owner row set to itself."""
    connection.execute(update(owner).values(claimed_at=owner.c.claimed_at))
