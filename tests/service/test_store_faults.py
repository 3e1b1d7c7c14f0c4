"""Decisions when the store fails, through real HTTP on the hospital (whose ER falls back to its
nurses): a store locked by another connection's write (every answer within the deadline, the
fallback kept for retries, stale events still 409, /readyz not ready), and a store that cannot
be opened for writing at start (served with fallbacks, recovered when it can be written)."""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HOSPITAL, in_process
from starlette.requests import Request
from test_service import AT, CALLER, Server, event, new_call

from routing_engine.service.app import create_app
from routing_engine.service.fallbacks import Budget, arrival

ER = "+12125550100"
NURSES = ["er-nurse", "er-nurse-backup"]


def rung(plan: dict[str, Any]) -> list[str]:
    return [t["name"] for a in plan["actions"] if a["type"] == "ring" for t in a["targets"]]


@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """The store's file locked by another connection's open write transaction: no decision can
    commit until it ends (readers still read: WAL)."""
    holder = sqlite3.connect(database, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def timed_events(server: Server, calls: list[str], seq: int, prefix: str) -> list[Any]:
    """One event per call, all sent at once, each timed at the client: (seconds, response)."""
    start = threading.Barrier(len(calls))

    def send(call_id: str) -> tuple[float, httpx.Response]:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            client.get("/healthz")  # the connection is open before the clock starts
            body = {"event_id": f"{prefix}-{call_id}", "seq": seq, "type": "dial.no-answer"}
            start.wait()
            began = time.perf_counter()
            response = client.post(f"/v1/calls/{call_id}/events", json={**body, "at": AT})
            return time.perf_counter() - began, response

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(send, calls))


def test_a_locked_store_answers_every_event_with_its_lines_fallback(tmp_path: Path) -> None:
    """With the store locked, every event is answered: the ER's own fallback (the call was
    read in time), for the deadline. How soon, as a ratio of the deadline, is a figure of the
    reliability suite (`make reliability`, RELIABILITY.md), not of a timed test here: these
    machines are shared, and a loaded one delays any answer; `test_the_budget_*` below checks
    the arithmetic that makes the answer leave within the deadline."""
    database, deadline_s, count, wave = tmp_path / "locked.db", 2.0, 24, 8
    server = Server(database, deadline_ms=int(deadline_s * 1000))
    try:
        calls = [f"er-{n}" for n in range(count)]
        for call_id in calls:
            assert new_call(server, call_id, ER).json()["node"] == "ring-nurse"
        with locked(database):  # in waves of `wave` events sent at once
            answers = [
                answer
                for first in range(0, count, wave)
                for answer in timed_events(server, calls[first : first + wave], 1, "late")
            ]
        ratios = sorted(seconds / deadline_s for seconds, _ in answers)
        shown = (
            f"answer time / deadline ({deadline_s * 1000:g} ms) for {count} events: "
            f"min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}, "
            f"p90 {ratios[int(count * 0.9)]:.2f}, max {ratios[-1]:.2f}"
        )
        print(shown)  # the figures, shown with -s
        for _, response in answers:
            decision = response.json()
            assert response.status_code == 200, response.text
            assert decision["fallback_reason"] == "deadline", shown
            assert rung(decision) == NURSES  # the ER's own fallback: the call was read in time
    finally:
        server.stop()


def test_the_budget_counts_from_arrival_and_keeps_the_read_and_the_send_inside_it() -> None:
    """The answer must leave by arrival + deadline: the work gets that less the time to send
    the answer, and an event's fallback starts reading the call early enough to fit too."""
    budget = Budget.of(100.0, 0.5, reads=True)
    assert budget.end == pytest.approx(100.0 + 0.5 - 0.015)
    assert budget.read_at == pytest.approx(budget.end - 0.1)
    short = Budget.of(100.0, 0.05, reads=True)  # a short deadline: the reserves shrink with it
    assert short.end == pytest.approx(100.045) and short.read_at == pytest.approx(100.035)
    long = Budget.of(100.0, 2.0, reads=True)  # a long one leaves the read a fifth of it
    assert long.end == pytest.approx(101.985) and long.read_at == pytest.approx(101.585)
    new_call_budget = Budget.of(100.0, 0.5, reads=False)  # a new call's fallback reads nothing
    assert new_call_budget.read_at == new_call_budget.end
    assert Budget.left(time.perf_counter() - 1.0) == 0.0  # past its end: nothing left


def test_the_front_door_notes_when_a_request_arrived(tmp_path: Path) -> None:
    """The budget counts from the arrival the app's front door notes, not from when a handler
    starts: a request that waited for the loop has used part of its deadline."""
    seen: list[float | None] = []
    app = create_app(HOSPITAL, f"sqlite:///{tmp_path / 'r.db'}")

    @app.get("/arrival-probe")
    async def probe(request: Request) -> dict[str, bool]:
        seen.append(arrival(request))
        return {"ok": True}

    async def main(client: httpx.AsyncClient) -> None:
        assert (await client.get("/arrival-probe")).status_code == 200

    before = time.perf_counter()
    in_process(app, main)
    assert seen and seen[0] is not None and before <= seen[0] <= time.perf_counter()


def test_a_fallback_answered_is_kept_for_retries_and_ends_the_call(tmp_path: Path) -> None:
    """Lock, send, unlock, retry the same event_id (and the same new call): the same fallback,
    not the decision the store could make now; the call ended with it, so it does not move on
    behind the telephony system's back."""
    database = tmp_path / "kept.db"
    server = Server(database, deadline_ms=300)
    try:
        assert new_call(server, "er-1", ER).json()["node"] == "ring-nurse"
        with locked(database):
            late = event(server, "er-1", "e1", 1, "dial.no-answer").json()
            late_call = new_call(server, "er-2", ER).json()
            assert event(server, "er-1", "e1", 1, "dial.no-answer").json() == late  # in memory
        assert late["fallback_reason"] == "deadline" and late["seq"] == 2
        assert late_call["fallback_reason"] == "deadline" and late_call["seq"] == 1
        assert event(server, "er-1", "e1", 1, "dial.no-answer").json() == late
        assert new_call(server, "er-2", ER).json() == late_call
        other = event(server, "er-1", "e2", 2, "dial.no-answer")
        assert (other.status_code, other.json()["error"]) == (409, "ended")
        stale = event(server, "er-1", "e3", 1, "dial.no-answer")
        assert (stale.status_code, stale.json()["error"]) == (409, "stale-seq")
        reused = event(server, "er-1", "e1", 1, "dial.answered")
        assert (reused.status_code, reused.json()["error"]) == (409, "event-id-reused")
        for call_id in ("er-1", "er-2"):  # written to the store: it answers from now on
            stored = wait_for_call(server, call_id)
            assert stored["status"] == "ended", stored
            assert stored["end_reason"] == "fallback: deadline"
        assert event(server, "er-1", "e1", 1, "dial.no-answer").json() == late
        assert new_call(server, "er-2", ER).json() == late_call
        with sqlite3.connect(database) as db:
            decided = db.execute("SELECT decision FROM events WHERE call_id = 'er-1'").fetchall()
        assert len(decided) == 1 and '"fallback_reason": "deadline"' in decided[0][0]
    finally:
        server.stop()


def wait_for_call(server: Server, call_id: str) -> dict[str, Any]:
    """The call as stored, once its fallback is written (the server writes it in the
    background as soon as the store commits)."""
    give_up = time.monotonic() + 10
    while True:
        found = server.client.get(f"/v1/calls/{call_id}")
        if found.status_code == 200 and found.json()["status"] == "ended":
            return dict(found.json())
        assert time.monotonic() < give_up, found.text
        time.sleep(0.05)


def test_stale_and_future_events_stay_409_while_the_store_is_locked(tmp_path: Path) -> None:
    """Two servers on one store, the store locked: an event with a stale or a future seq is
    refused (409) by each, not answered a fallback; a retry of an answered event gets its
    stored decision; /readyz says the store cannot commit while /healthz stays 200."""
    database = tmp_path / "two.db"
    servers = [Server(database, deadline_ms=300)]
    servers.append(Server(database, deadline_ms=300))
    try:
        first = servers[0]
        assert new_call(first, "er-1", ER).status_code == 200
        answered = event(first, "er-1", "e1", 1, "dial.no-answer").json()
        assert answered["seq"] == 2 and answered["fallback_reason"] is None
        with locked(database):
            for n, server in enumerate(servers * 5):
                stale = event(server, "er-1", f"s{n}", 1, "dial.no-answer")
                assert (stale.status_code, stale.json()["error"]) == (409, "stale-seq")
                future = event(server, "er-1", f"f{n}", 5, "dial.no-answer")
                assert (future.status_code, future.json()["error"]) == (409, "future-seq")
                assert event(server, "er-1", "e1", 1, "dial.no-answer").json() == answered
            for server in servers:
                ready = server.client.get("/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.json()["error"] == "store-cannot-commit"
                assert server.client.get("/healthz").status_code == 200
        assert all(server.client.get("/readyz").status_code == 200 for server in servers)
    finally:
        for server in servers:
            server.stop()


def immutable(path: Path, on: bool) -> bool:
    """Set or clear a file's immutable attribute (which stops root too); False when this
    filesystem or container does not allow it."""
    flag = "+i" if on else "-i"
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    return done.returncode == 0


def test_a_read_only_store_file_is_served_with_fallbacks(tmp_path: Path) -> None:
    """A store file that cannot be written (immutable: chmod does not stop root, the
    immutable attribute does): the server starts, answers every call and event its line's
    fallback, and says why in /readyz (503) and its log; /healthz stays 200."""
    database = tmp_path / "readonly.db"
    server = Server(database)
    try:
        assert new_call(server, "er-1", ER).json()["node"] == "ring-nurse"
    finally:
        server.stop()
    if not immutable(database, True):
        pytest.skip("chattr +i is not allowed here")
    try:
        server = Server(database, up="/healthz")
        try:
            ready = server.client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["error"] == "store-unwritable"
            assert "readonly database" in ready.json()["message"]
            call = new_call(server, "er-2", ER).json()
            assert call["fallback_reason"] == "store-unavailable" and rung(call) == NURSES
            later = event(server, "er-1", "e1", 1, "dial.no-answer").json()
            assert later["fallback_reason"] == "store-unavailable" and rung(later) == NURSES
            assert later["node"] == "ring-nurse"  # the call as stored was read
            assert new_call(server, "er-2", ER).json() == call  # kept for its retry
        finally:
            server.stop()
        assert "cannot be opened for writing" in server.stderr_text
    finally:
        immutable(database, False)


def test_a_store_that_cannot_be_opened_is_served_with_fallbacks_until_it_can(
    tmp_path: Path,
) -> None:
    """The store's folder is a file (no database can be made there, even by root): the
    server starts on fallbacks, and once the folder can be made it opens the store on its
    own, writes the fallbacks it answered meanwhile, and decides calls again."""
    folder = tmp_path / "data"
    folder.write_text("not a folder")
    server = Server(folder / "routing.db", up="/healthz")
    try:
        ready = server.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"] == "store-unwritable"
        assert server.client.get("/healthz").status_code == 200
        call = new_call(server, "er-1", ER).json()
        assert call["fallback_reason"] == "store-unavailable" and rung(call) == NURSES
        routed = server.client.post(
            "/v1/route", json={"call_id": "sip-1", "from": CALLER, "to": ER, "at": AT}
        )
        assert routed.status_code == 200 and routed.json()["fallback_reason"]
        folder.unlink()
        folder.mkdir()
        give_up = time.monotonic() + 20
        while server.client.get("/readyz").status_code != 200:
            assert time.monotonic() < give_up, "the store was not opened again"
            time.sleep(0.1)
        assert new_call(server, "er-2", ER).json()["node"] == "ring-nurse"
        assert wait_for_call(server, "er-1")["end_reason"] == "fallback: store-unavailable"
        assert new_call(server, "er-1", ER).json() == call
    finally:
        server.stop()
    log = server.stderr_text
    assert "cannot be opened for writing" in log and "open for writing again" in log


def test_five_servers_started_at_once_on_a_new_data_folder_all_come_up(tmp_path: Path) -> None:
    """Fresh starts never race: the first of them makes the store, the others wait for it
    (turning a new file to WAL mode fails at once, without waiting, while another connection
    writes it: it is retried)."""
    env: dict[str, str | None] = {"ROUTING_DATA_DIR": str(tmp_path / "data")}
    with ThreadPoolExecutor(5) as pool:
        starting = [pool.submit(Server, None, env=env, start_s=120) for _ in range(5)]
        outcomes = [s.exception() or s.result() for s in starting]
    servers = [s for s in outcomes if isinstance(s, Server)]
    try:
        assert len(servers) == 5, [str(s) for s in outcomes if not isinstance(s, Server)]
        for n, server in enumerate(servers):
            assert new_call(server, f"er-{n}", ER).json()["node"] == "ring-nurse"
    finally:
        for server in servers:
            server.stop()


def test_routes_that_are_not_decisions_answer_503_while_the_store_cannot_be_reached(
    tmp_path: Path,
) -> None:
    """With the store unopenable, every route that reads it answers 503 `store-unavailable`
    with the reason and a Retry-After (it was a 500 with a traceback), and the background
    rounds (timers, deliveries) and the routes each say so once in the log, not every tick;
    /healthz stays 200 and a call still gets its fallback."""
    folder = tmp_path / "data"
    folder.write_text("not a folder")
    server = Server(folder / "routing.db", up="/healthz")
    asked = [
        ("GET", "/v1/calls/er-1", None),
        ("GET", "/v1/tickets", None),
        ("GET", "/v1/tickets/1", None),
        ("POST", "/v1/tickets/1/claim", {"by": "Alice"}),
        ("POST", "/v1/tickets/1/resolve", {"by": "Alice"}),
        ("GET", "/v1/notifications", None),
        ("GET", "/v1/notifications/inbox", None),
        ("POST", "/v1/flows/reload", None),
        ("GET", "/v1/targets", None),
        ("GET", "/metrics", None),
    ]
    try:
        assert new_call(server, "er-1", ER).json()["fallback_reason"] == "store-unavailable"
        for method, path, body in asked * 2:
            answer = server.client.request(method, path, json=body)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"] == "store-unavailable", path
            assert "unable to open database file" in answer.json()["message"], path
            assert answer.headers["retry-after"] == "1"
        assert server.client.get("/healthz").status_code == 200
        time.sleep(3)  # three rounds of the timers and the deliveries (one a second)
    finally:
        server.stop()
    log = server.stderr_text
    assert "Traceback" not in log and "Exception in" not in log
    for what in ("timers", "deliveries", "requests"):
        assert log.count(f"{what}: the store cannot be reached") == 1, what
