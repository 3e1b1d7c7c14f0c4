"""Whether the service's store can commit, as the service sees it: for /readyz, and for the
decisions (a store that cannot be opened for writing gets no work: every call and event is
answered its fallback at once).

A server whose store cannot be opened for writing at start (a read-only file or folder, a
database that refuses it) still starts: it serves fallback decisions, says so in /readyz and
its logs, and tries to open the store again, waiting longer each time (up to REOPEN_S[1]),
until it can; then it decides calls again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("routing_engine.server")
REOPEN_S = (0.5, 30.0)  # the first and the longest wait between tries to open the store
PROBE_S = 1.0  # how long /readyz waits for a probe write to commit


@dataclass(slots=True)
class StoreHealth:
    """`down`: why the store cannot be opened for writing (None: it was opened)."""

    down: str | None = None


def why(error: BaseException) -> str:
    """A store error in a line: the database's own message when there is one."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__name__}: {cause}"


# What a store that cannot be opened raises (not a refusal: those stop the server).
UNOPENABLE = (SQLAlchemyError, OSError)
# What a store that cannot be reached just now raises to a route or a background round.
STORE_ERRORS = (SQLAlchemyError, sqlite3.Error)


class Outage:
    """Says once, in a line, that `what` cannot reach the store (again only when the reason
    changes), and once that it can again: a store down for an hour is two lines in the log,
    not a traceback a second."""

    def __init__(self, what: str):
        self.what = what
        self.reason: str | None = None

    def failed(self, error: BaseException) -> None:
        reason = why(error)
        if reason != self.reason:
            log.error("%s: the store cannot be reached (%s); trying again", self.what, reason)
        self.reason = reason

    def recovered(self) -> None:
        if self.reason is not None:
            log.warning("%s: the store answers again", self.what)
        self.reason = None


async def reopen(health: StoreHealth, shown: str, opening: Callable[[], Awaitable[None]]) -> None:
    """Try `opening` the store until it works, waiting longer each time; log each failure
    (so the logs say, periodically, that the server serves only fallbacks) and the recovery.
    Returns when the store is open (`health.down` cleared)."""
    wait = REOPEN_S[0]
    while health.down is not None:
        await asyncio.sleep(wait)
        try:
            await opening()
        except Exception as error:  # still down, whatever the reason: say it, try again
            health.down = why(error)
            wait = min(wait * 2, REOPEN_S[1])
            log.error(
                "the store %s still cannot be opened for writing (%s): every call gets its "
                "fallback decision; trying again in %g s",
                shown,
                health.down,
                wait,
            )
            continue
        health.down = None
        log.warning("the store %s is open for writing again: calls are decided", shown)


def announce_down(health: StoreHealth, shown: str, error: BaseException) -> None:
    """Mark the store down, and say so in one clear line."""
    health.down = why(error)
    log.error(
        "the store %s cannot be opened for writing (%s): serving every call its fallback "
        "decision (/readyz answers 503) and trying again every %g s to %g s",
        shown,
        health.down,
        *REOPEN_S,
    )
