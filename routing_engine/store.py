"""The store: call sessions, processed events, flow versions and the decision audit log.

SQLAlchemy 2 Core, async throughout (aiosqlite for the embedded SQLite file in WAL mode; the
same portable SQL is meant for PostgreSQL through asyncpg), so no database call blocks the
event loop and a deadline can always answer in time.

Every change of a call is one transaction that checks the call's `seq` is still the one it
read (optimistic concurrency): two processes that race on one call never both apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from routing_engine.tables import (
    calls,
    decisions,
    events,
    metadata,
    target_states,
    versions,
)
from routing_engine.ticket_store import raise_tickets


def _now() -> str:
    return datetime.now(UTC).isoformat()


def sqlite_url(data_dir: str | Path) -> str:
    """The default store: a SQLite file in the data directory (created when missing)."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{folder / 'routing.db'}"


@dataclass(slots=True)
class StoredCall:
    call_id: str
    digest: str
    seq: int
    state: dict[str, Any]
    first_decision: dict[str, Any]


SCHEMA_LOCK = 0x726F757465  # the PostgreSQL advisory lock under which tables are made


class StoreOutdated(RuntimeError):
    """The store's tables are an earlier version's."""


def _stale_tables(connection: Any) -> list[str]:
    """Each existing table that lacks columns of this version's, with what it lacks."""
    found = inspect(connection)
    existing = set(found.get_table_names())
    stale = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {column["name"] for column in found.get_columns(table.name)}
        lacking = [c.name for c in table.columns if c.name not in have]
        if lacking:
            stale.append(f"table {table.name} lacks {', '.join(lacking)}")
    return stale


class Conflict(Exception):
    """Another request changed the call first; nothing was written."""


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def open(self) -> None:
        """Create the tables that are missing; StoreOutdated when a table an earlier version
        made lacks columns this one needs (nothing is changed then). The workers of a server
        open one new store at once: each looks and creates under a lock held to its commit
        (SQLite's write lock; a PostgreSQL advisory lock), so one makes the tables and the
        others find them."""
        async with self.engine.begin() as connection:
            if self.engine.dialect.name == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            stale = await connection.run_sync(_stale_tables)
            if stale:
                raise StoreOutdated(
                    f"the store {self.engine.url.render_as_string(hide_password=True)} was made "
                    f"by an earlier version: {'; '.join(stale)}. Move the database aside (it "
                    "is made afresh), or point --database at a new one"
                )
            await connection.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    async def publish(self, name: str, digest: str, sources: dict[str, str]) -> None:
        """Record a deployment version (its files' text); publishing it again, or in another
        worker at the same moment, changes nothing."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        async with self.engine.begin() as connection:
            await connection.execute(
                dialect.insert(versions)
                .values(digest=digest, name=name, sources=json.dumps(sources), published_at=_now())
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
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(target_states))
            out: dict[str, dict[str, Any]] = {}
            for row in rows:
                live: dict[str, Any] = {}
                if row.available is not None:
                    live["available"] = bool(row.available)
                if row.skills is not None:
                    live["skills"] = json.loads(row.skills)
                out[row.name] = live
            return out

    async def set_target(self, name: str, available: bool | None, skills: list[str] | None) -> None:
        """Change a target's live availability and/or skills (None leaves that part as it is)."""
        async with self.engine.begin() as connection:
            found = (
                await connection.execute(select(target_states).where(target_states.c.name == name))
            ).first()
            values: dict[str, Any] = {"updated_at": _now()}
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
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(select(calls).where(calls.c.call_id == call_id))
            ).first()
        if row is None:
            return None
        return StoredCall(
            row.call_id, row.digest, row.seq, json.loads(row.state), json.loads(row.first_decision)
        )

    async def answered(
        self, call_id: str, event_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The request and decision stored for an event already processed, if any."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(events.c.request, events.c.decision).where(
                        events.c.call_id == call_id, events.c.event_id == event_id
                    )
                )
            ).first()
        return None if row is None else (json.loads(row.request), json.loads(row.decision))

    async def start(self, state: dict[str, Any], decision: dict[str, Any]) -> bool:
        """Store a new call and its first decision; False when the call id is taken."""
        now = _now()
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    insert(calls).values(
                        call_id=state["call_id"],
                        digest=state["hash"],
                        seq=state["seq"],
                        status=state["status"],
                        state=json.dumps(state),
                        first_decision=json.dumps(decision),
                        started_at=now,
                        updated_at=now,
                    )
                )
                await connection.execute(
                    insert(decisions).values(**_audit(decision, state["hash"]))
                )
                await raise_tickets(connection, state, decision)
        except IntegrityError:
            return False
        return True

    async def apply(
        self,
        old_seq: int,
        event_id: str,
        request: dict[str, Any],
        state: dict[str, Any],
        decision: dict[str, Any],
    ) -> None:
        """Store an event's outcome, if the call is still at `old_seq` (else Conflict)."""
        call_id = state["call_id"]
        try:
            async with self.engine.begin() as connection:
                changed = await connection.execute(
                    update(calls)
                    .where(calls.c.call_id == call_id, calls.c.seq == old_seq)
                    .values(
                        seq=state["seq"],
                        status=state["status"],
                        state=json.dumps(state),
                        updated_at=_now(),
                    )
                )
                if changed.rowcount != 1:
                    raise Conflict(call_id)
                await connection.execute(
                    insert(events).values(
                        call_id=call_id,
                        event_id=event_id,
                        request=json.dumps(request),
                        decision=json.dumps(decision),
                        received_at=_now(),
                    )
                )
                await connection.execute(
                    insert(decisions).values(**_audit(decision, state["hash"]))
                )
                await raise_tickets(connection, state, decision)
        except IntegrityError:
            raise Conflict(call_id) from None

    async def audit(self, call_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(decisions.c.decision)
                .where(decisions.c.call_id == call_id)
                .order_by(decisions.c.id)
            )
            return [json.loads(row.decision) for row in rows]


def _audit(decision: dict[str, Any], digest: str) -> dict[str, Any]:
    return {
        "call_id": decision["call_id"],
        "seq": decision["seq"],
        "digest": digest,
        "node": decision["node"],
        "fallback_reason": decision.get("fallback_reason"),
        "decision": json.dumps(decision),
        "decided_at": _now(),
    }


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
