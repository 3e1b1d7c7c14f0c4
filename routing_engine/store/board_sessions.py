"""The board's sign-in sessions as rows (`tables.board_sessions`): a session cookie counts only
while its row is there, unrevoked and unexpired, so signing out or removing a key ends it on
every worker and server sharing the store, at once.

A row is found by the SHA-256 of the cookie's random session id: the store never holds what a
cookie carries. Plain synchronous functions on a connection, run by `Store.transaction` (the
changes) or `Store.read` (the checks); times are the store's UTC ISO text, from the service's
clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, insert, not_, or_, select, update

from routing_engine.store.tables import board_sessions


def row_id(sid: str) -> str:
    """The row of the session whose cookie carries the random id `sid`."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    name: str
    role: str
    key_id: str


def add_session(
    connection: Connection,
    sid: str,
    person: tuple[str, str, str],
    issued_at: str,
    expires_at: str,
) -> None:
    """Record a new session of `person` (name, role, key id); the rows expired by `issued_at`
    go at the same time, so the table holds the sessions of one shift or so."""
    name, role, key_id = person
    connection.execute(delete(board_sessions).where(board_sessions.c.expires_at <= issued_at))
    connection.execute(
        insert(board_sessions).values(
            id=row_id(sid),
            name=name,
            role=role,
            key_id=key_id,
            issued_at=issued_at,
            expires_at=expires_at,
        )
    )


def live_session(connection: Connection, sid: str, now: str) -> SessionRow | None:
    """The session's row while it counts (there, not revoked, not expired at `now`)."""
    found = connection.execute(
        select(board_sessions.c.name, board_sessions.c.role, board_sessions.c.key_id).where(
            board_sessions.c.id == row_id(sid),
            board_sessions.c.revoked_at.is_(None),
            board_sessions.c.expires_at > now,
        )
    ).first()
    return None if found is None else SessionRow(found.name, found.role, found.key_id)


def live_of(connection: Connection, sids: Collection[str], now: str) -> set[str]:
    """Which of the sessions `sids` still count at `now`."""
    if not sids:
        return set()
    ids = {row_id(sid): sid for sid in sids}
    found = connection.execute(
        select(board_sessions.c.id).where(
            board_sessions.c.id.in_(list(ids)),
            board_sessions.c.revoked_at.is_(None),
            board_sessions.c.expires_at > now,
        )
    ).scalars()
    return {ids[found_id] for found_id in found}


def any_live(connection: Connection, now: str) -> bool:
    """Whether any session still counts at `now`."""
    found = connection.execute(
        select(board_sessions.c.id)
        .where(board_sessions.c.revoked_at.is_(None), board_sessions.c.expires_at > now)
        .limit(1)
    ).first()
    return found is not None


def revoke_session(connection: Connection, sid: str, at: str, why: str) -> bool:
    """End one session; False when it had already ended."""
    result = connection.execute(
        update(board_sessions)
        .where(board_sessions.c.id == row_id(sid), board_sessions.c.revoked_at.is_(None))
        .values(revoked_at=at, revoked_why=why)
    )
    return result.rowcount > 0


def revoke_other_keys(connection: Connection, allowed: Collection[tuple[str, str]], at: str) -> int:
    """End every session issued with a key that is no longer configured with the role it had
    (`allowed`: the configured (key id, role) pairs; a session of a server without keys has
    the key id ''); how many ended. Expired rows go too. A key put back later does not bring
    its sessions back."""
    connection.execute(delete(board_sessions).where(board_sessions.c.expires_at <= at))
    query = update(board_sessions).where(board_sessions.c.revoked_at.is_(None))
    if allowed:
        kept = or_(
            *(
                and_(board_sessions.c.key_id == key_id, board_sessions.c.role == role)
                for key_id, role in allowed
            )
        )
        query = query.where(not_(kept))
    result = connection.execute(query.values(revoked_at=at, revoked_why="key-removed"))
    return result.rowcount
