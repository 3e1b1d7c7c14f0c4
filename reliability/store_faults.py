"""A locked store and a read-only store: every request decided within the deadline.

- Locked: another connection holds the SQLite store's write lock (BEGIN EXCLUSIVE) for a few
  seconds while new calls and events arrive at once. Each must get a decision (the call's
  fallback at worst) within the deadline, measured by the client from sending to the last
  byte; `/readyz` must say the store cannot commit meanwhile; and once the lock is gone, the
  same requests sent again must get the answers they got (a fallback is recorded).
- Read-only: the store's file and folder cannot be written (file modes, and the immutable
  attribute when this suite runs as root, whom file modes do not stop). The server must
  start, answer every call with a decision within the deadline and say in `/readyz` that its
  store is read-only.

    python -m reliability.store_faults [--quick]
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from reliability.common import (
    Figure,
    Server,
    count,
    event,
    info,
    new_call,
    probe_main,
    ratio,
    share,
    timed,
)

DEADLINE_MS = 500
SLACK = 1.1  # the client's own time (loopback, parsing) on top of the server's deadline
LOCK_S = 4.0


def decided(response: httpx.Response | None) -> bool:
    """An answer the telephony system can act on: a decision, or 409 for a stale request."""
    if response is None:
        return False
    if response.status_code == 409:
        return True
    try:
        return response.status_code == 200 and bool(response.json().get("actions"))
    except ValueError:
        return False


def requests_for(prefix: str, calls: int) -> list[tuple[str, dict[str, Any]]]:
    """New calls, and the first event of calls started before the lock."""
    found: list[tuple[str, dict[str, Any]]] = []
    for n in range(calls):
        found.append(("/v1/calls", new_call(f"{prefix}-new-{n}")))
        found.append((f"/v1/calls/{prefix}-old-{n}/events", event("e1", 1, "digits", digits="1")))
    return found


def send_all(
    server: Server, requests: list[tuple[str, dict[str, Any]]]
) -> list[tuple[httpx.Response | None, float]]:
    def one(request: tuple[str, dict[str, Any]]) -> tuple[httpx.Response | None, float]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return timed(lambda: client.post(request[0], json=request[1]))

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, requests))


def _json(response: httpx.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def locked(quick: bool) -> list[Figure]:
    probe = "locked store"
    calls = 10 if quick else 25
    with tempfile.TemporaryDirectory(prefix="reliability-locked-") as scratch:
        database = Path(scratch) / "routing.db"
        server = Server(database, deadline_ms=DEADLINE_MS)
        try:
            if not server.ready:
                return [info(probe, "server", f"did not start: {server.log_tail()}")]
            for n in range(calls):
                server.client.post("/v1/calls", json=new_call(f"lk-old-{n}"))
            requests = requests_for("lk", calls)
            with closing(sqlite3.connect(database, timeout=5)) as holder:
                holder.execute("BEGIN EXCLUSIVE")
                held = time.monotonic()
                answers = send_all(server, requests)
                ready = server.client.get("/readyz").status_code
                time.sleep(max(0.0, LOCK_S - (time.monotonic() - held)))
                holder.rollback()
            again = send_all(server, requests)
        finally:
            server.stop()
    worst = max(seconds for _, seconds in answers) / (DEADLINE_MS / 1000)
    fallbacks = sum(
        bool(_json(r) and isinstance(_json(r), dict) and _json(r).get("fallback_reason"))
        for r, _ in answers
    )
    changed = [_json(a) != _json(b) for (a, _), (b, _) in zip(answers, again, strict=True)]
    return [
        info(probe, "requests while locked (deadline)", f"{len(answers)} ({DEADLINE_MS} ms)"),
        share(
            probe, "decided (a decision or 409)", sum(decided(r) for r, _ in answers), len(answers)
        ),
        share(
            probe,
            "decided within the deadline",
            sum(decided(r) and s <= SLACK * DEADLINE_MS / 1000 for r, s in answers),
            len(answers),
        ),
        ratio(probe, "max answer time / deadline (client side)", worst, SLACK),
        info(probe, "fallback answers", fallbacks),
        Figure(probe, "/readyz while the store cannot commit", str(ready), "503", ready == 503),
        count(probe, "events retried after the lock answered differently", sum(changed[1::2])),
        count(probe, "new calls retried after the lock answered differently", sum(changed[::2])),
    ]


def lock_down(folder: Path, on: bool) -> bool:
    """Make the store's folder and files unwritable (or writable again). File modes do not stop
    root: then the immutable attribute (chattr) does, where the file system has it."""
    paths = [folder, *folder.iterdir()]
    root = os.geteuid() == 0
    if root and not on:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)
    for path in paths:
        path.chmod((0o555 if path.is_dir() else 0o444) if on else 0o755)
    if root and on:
        done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
        if done.returncode != 0:
            lock_down(folder, on=False)
            return False
    return True


def read_only(quick: bool) -> list[Figure]:
    probe = "read-only store"
    calls = 10 if quick else 25
    with tempfile.TemporaryDirectory(prefix="reliability-readonly-") as scratch:
        folder = Path(scratch) / "store"
        folder.mkdir()
        database = folder / "routing.db"
        data = {"ROUTING_DATA_DIR": str(Path(scratch) / "data")}  # writable: the store is not
        made = Server(database, env=data)  # a store made by a normal start, then read-only
        made.stop()
        if not lock_down(folder, on=True):
            return [info(probe, "not measured", "running as root where chattr +i is refused")]
        server = Server(database, deadline_ms=DEADLINE_MS, ready_s=20, env=data)
        try:
            if not server.ready:
                return [
                    Figure(
                        probe,
                        "server starts and serves",
                        "exited at start"
                        if server.process.poll() is not None
                        else "not ready in 20 s",
                        "starts",
                        False,
                    ),
                    info(probe, "its log", server.log_tail(300)),
                ]
            answers = send_all(server, [("/v1/calls", new_call(f"ro-{n}")) for n in range(calls)])
            ready = server.client.get("/readyz").status_code
        finally:
            server.stop()
            lock_down(folder, on=False)
    worst = max(seconds for _, seconds in answers) / (DEADLINE_MS / 1000)
    return [
        Figure(probe, "server starts and serves", "yes", "starts", True),
        share(
            probe,
            "calls decided within the deadline",
            sum(decided(r) and s <= SLACK * DEADLINE_MS / 1000 for r, s in answers),
            len(answers),
        ),
        ratio(probe, "max answer time / deadline (client side)", worst, SLACK),
        Figure(probe, "/readyz with a read-only store", str(ready), "503", ready == 503),
    ]


def run(quick: bool) -> list[Figure]:
    return locked(quick) + read_only(quick)


if __name__ == "__main__":
    probe_main(run, __doc__)
