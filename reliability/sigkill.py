"""SIGKILL of a server under load: nothing lost, nothing doubled, timers exactly once.

A real server (`cli.py serve`, a SQLite store in a temporary folder, `--now` fixed) takes a
bounded load: office calls that end as tickets (an SLA and its escalation) and ER calls that
end unanswered (their `resolve_within`), each call's requests in order, each request retried
with the same ids until it is answered. Halfway through, the server gets SIGKILL; a new one
starts on the same store and port, and the clients' retries carry on. Then:

- from the store: every call at its last step, every event stored once, one decision per step;
- from the API: every request sent again gets the answer it got the first time;
- the server is restarted a day later (`--now`): every due timer fires once; the burst of
  deliveries this makes is timed until drained; then SIGKILL again, a restart, and nothing
  fires twice.

    python -m reliability.sigkill [--quick]
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
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
    share,
)

ER_LINE = "+12125550100"
LATER = "2026-11-24T10:00:00-05:00"  # a day on: every SLA, escalation and resolve_within due
THREADS = 6
RETRY_FOR_S = 60.0  # a request unanswered this long counts as lost

Step = tuple[str, dict[str, Any]]  # (path, body)


def script(call_id: str, office: bool) -> list[Step]:
    """Every request of one call, in order."""
    calls, events = "/v1/calls", f"/v1/calls/{call_id}/events"
    if office:  # cardiology office: no answer, the offshore center, a ticket for the office
        kinds: list[tuple[str, dict[str, Any]]] = [
            ("digits", {"digits": "1"}),
            ("dial.no-answer", {}),
            ("dial.answered", {}),
            ("outcome", {"outcome": "needs-office"}),
        ]
        first = new_call(call_id)
    else:  # the ER: nobody answers, the caller hangs up: the call's resolve_within falls due
        kinds = [("dial.no-answer", {}), ("hangup", {})]
        first = new_call(call_id, to=ER_LINE)
    steps: list[Step] = [(calls, first)]
    for seq, (kind, data) in enumerate(kinds, start=1):
        steps.append((events, event(f"{call_id}-e{seq}", seq, kind, **data)))
    return steps


class Load:
    """Clients that send each call's steps in order, retrying each until it is answered."""

    def __init__(self, url: str, scripts: dict[str, list[Step]]) -> None:
        self.url = url
        self.scripts = scripts
        self.answers: dict[tuple[str, int], tuple[int, Any]] = {}
        self.acknowledged = 0
        self.unanswered = 0
        self.retried = 0
        self.lock = threading.Lock()

    def send(self, client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response | None:
        limit = time.monotonic() + RETRY_FOR_S
        while time.monotonic() < limit:
            try:
                return client.post(path, json=body)
            except httpx.TransportError:
                with self.lock:
                    self.retried += 1
                time.sleep(0.1)  # the server is down: retry the same request
        return None

    def run_call(self, call_id: str) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for index, (path, body) in enumerate(self.scripts[call_id]):
                response = self.send(client, path, body)
                with self.lock:
                    if response is None:
                        self.unanswered += 1
                        return
                    self.acknowledged += 1
                    self.answers[(call_id, index)] = (response.status_code, _body(response))

    def run(self) -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(self.run_call, self.scripts))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def kill_when(load: Load, total: int, server: Server) -> Callable[[], Server]:
    """A thread's work: SIGKILL the server once half the requests are answered, then start a
    new one on the same store and port; returns it."""

    def work() -> Server:
        while load.acknowledged < total // 2:
            time.sleep(0.005)
        server.kill()
        return Server(server.database, port=server.port)

    return work


def store_counts(database: Path, scripts: dict[str, list[Step]]) -> dict[str, int]:
    """Lost and doubled transitions, counted from the store."""
    with closing(sqlite3.connect(database, timeout=10)) as db:
        seqs = dict(db.execute("SELECT call_id, seq FROM calls"))
        events = dict(db.execute("SELECT call_id, count(*) FROM events GROUP BY call_id"))
        doubled_decisions = db.execute(
            "SELECT count(*) FROM (SELECT call_id, seq FROM decisions GROUP BY call_id, seq "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
    lost = doubled = 0
    for call_id, steps in scripts.items():
        expected = len(steps) - 1  # events; the first step is the call itself
        stored = events.get(call_id, 0)
        lost += max(0, expected - stored) + (call_id not in seqs)
        doubled += max(0, stored - expected) + max(0, seqs.get(call_id, 0) - len(steps))
    return {"lost": lost, "doubled": doubled + int(doubled_decisions)}


def timer_counts(database: Path) -> dict[str, int]:
    """Timers due, fired and pending, and the firings recorded on tickets (one per timer)."""
    with closing(sqlite3.connect(database, timeout=10)) as db:
        states = dict(db.execute("SELECT state, count(*) FROM timers GROUP BY state"))
        ticket_timers = db.execute(
            "SELECT count(*) FROM timers WHERE state = 'fired' AND ticket_id IS NOT NULL"
        ).fetchone()[0]
        recorded = db.execute(
            "SELECT count(*) FROM ticket_events WHERE kind IN ('sla-missed', 'escalated')"
        ).fetchone()[0]
        deliveries = dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
    return {
        "fired": states.get("fired", 0),
        "pending": states.get("pending", 0),
        "ticket_timers": int(ticket_timers),
        "recorded": int(recorded),
        "deliveries": sum(deliveries.values()),
        "undelivered": deliveries.get("pending", 0),
    }


def wait_for(test: Callable[[], bool], within_s: float) -> float | None:
    """Seconds until `test()` holds (None: not within the time)."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if test():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def replay(url: str, load: Load) -> int:
    """Every answered request sent again: how many got another answer than the first time."""
    changed = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        for (call_id, index), (status, body) in load.answers.items():
            path, request = load.scripts[call_id][index]
            again = client.post(path, json=request)
            changed += (again.status_code, _body(again)) != (status, body)
    return changed


def run(quick: bool, calls: int | None = None) -> list[Figure]:
    """The load (`calls` calls; by default 40 quick, 150 full), the kill, the restarts."""
    calls = calls or (40 if quick else 150)
    scripts = {f"k{n:04d}": script(f"k{n:04d}", office=n % 3 != 0) for n in range(calls)}
    total = sum(len(steps) for steps in scripts.values())
    with tempfile.TemporaryDirectory(prefix="reliability-kill-") as scratch:
        database = Path(scratch) / "routing.db"
        first = Server(database)
        if not first.ready:
            first.stop()
            return [info("SIGKILL under load", "server", f"did not start: {first.log_tail()}")]
        load = Load(first.url, scripts)
        with ThreadPoolExecutor(1) as killer:
            restarted = killer.submit(kill_when(load, total, first))
            load.run()
            second = restarted.result()
        try:
            changed = replay(second.url, load)
        finally:
            second.stop()
        counts = store_counts(database, scripts)
        figures = [
            info("SIGKILL under load", "calls / requests", f"{calls} / {total}"),
            share(
                "SIGKILL under load",
                "requests answered (retried across the kill)",
                load.acknowledged,
                total,
            ),
            info("SIGKILL under load", "requests cut by the kill and retried", load.retried),
            share(
                "SIGKILL under load",
                "answers 200",
                sum(status == 200 for status, _ in load.answers.values()),
                total,
            ),
            count("SIGKILL under load", "lost transitions (store)", counts["lost"]),
            count("SIGKILL under load", "doubled transitions (store)", counts["doubled"]),
            count("SIGKILL under load", "retries answered differently", changed),
        ]
        return figures + fire_timers(database)


def fire_timers(database: Path) -> list[Figure]:
    """Restart a day later: every timer due fires once, the deliveries drain; SIGKILL, restart,
    and nothing fires again."""
    probe = "timers after SIGKILL"
    later = Server(database, now=LATER)
    if not later.ready:
        later.stop()
        return [info(probe, "server", f"did not restart: {later.log_tail()}")]
    fired_s = wait_for(lambda: timer_counts(database)["pending"] == 0, 30)
    drained_s = wait_for(lambda: timer_counts(database)["undelivered"] == 0, 60)
    before = timer_counts(database)
    later.kill()
    again = Server(database, now=LATER)
    time.sleep(3 if again.ready else 0)  # the timer runner's turns: nothing may fire again
    again.stop()
    after = timer_counts(database)
    return [
        share(
            probe, "timers fired (of all due)", before["fired"], before["fired"] + before["pending"]
        ),
        count(
            probe,
            "timer firings doubled (ticket history)",
            abs(before["recorded"] - before["ticket_timers"]),
        ),
        count(
            probe,
            "timers or deliveries added by a second SIGKILL and restart",
            after["fired"] - before["fired"] + after["deliveries"] - before["deliveries"],
        ),
        Figure(
            probe,
            f"delivery burst drained ({before['deliveries']} deliveries), s",
            "not within 60 s" if drained_s is None else f"{drained_s:.1f}",
            "<= 30",
            drained_s is not None and drained_s <= 30,
        ),
        info(
            probe,
            "seconds until every due timer fired",
            "not within 30 s" if fired_s is None else f"{fired_s:.1f}",
        ),
    ]


if __name__ == "__main__":
    probe_main(run, __doc__)
