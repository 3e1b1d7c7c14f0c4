"""The routing service through real HTTP: uvicorn on an ephemeral loopback port, a temporary
SQLite file, the hospital deployment."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, sql_rows, store_url

AT = "2026-11-23T10:00:00-05:00"  # Monday morning: offices open
CALLER = "+12125550123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `cli.py serve` process; stopped by its PID, and it must stop by itself. `env` adds to
    (or, with None values, takes from) the environment it inherits; `port` reuses a port (a
    restart). Its clock starts at `now` and runs on from there; `now=None` serves on the
    machine's clock, for a test that sends no time and whose flows read none (only durations
    count, never the date). `database` is a SQLite file, a URL given as it is, or None: the
    deployment's default store (in $ROUTING_DATA_DIR, which `env` should then set). It is up
    when `up` answers 200 (within `start_s`): /readyz, or /healthz for a server whose store
    cannot commit."""

    def __init__(
        self,
        database: Path | str | None,
        deadline_ms: int = 500,
        deployment: str = "examples/hospital",
        workers: int = 1,
        port: int | None = None,
        env: dict[str, str | None] | None = None,
        now: str | None = AT,
        up: str = "/readyz",
        start_s: float = 30,
    ):
        self.port = port or free_port()
        self.database = database
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            str(ROOT / "cli.py"),
            "serve",
            deployment,
            "--port",
            str(self.port),
            *(["--database", store_url(database)] if database is not None else []),
            "--deadline-ms",
            str(deadline_ms),
            "--workers",
            str(workers),
            *(["--now", now] if now is not None else []),
        ]
        environment = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        # the server's logs go to a file: a pipe nobody reads would fill up and block it
        handle, name = tempfile.mkstemp(prefix="routing-server-", suffix=".log")
        self.log = os.fdopen(handle, "wb")
        self.log_path = Path(name)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=self.log
        )
        deadline = time.monotonic() + start_s
        while True:
            try:
                if httpx.get(f"{self.url}{up}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("the server did not start")
            time.sleep(0.1)
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the server did not stop by itself") from None
        finally:
            self.log.close()
            self.stderr_text = self.log_path.read_text(encoding="utf-8", errors="replace")
            self.log_path.unlink(missing_ok=True)
            # captured by pytest and shown only when the test fails: the server's side of it
            print(f"--- server log ---\n{self.stderr_text[-20000:]}")


@pytest.fixture(scope="module")
def database(module_database: Path | str) -> Path | str:
    """The module's store, on each backend in turn."""
    return module_database


@pytest.fixture(scope="module")
def server(database: Path | str) -> Iterator[Server]:
    running = Server(database)
    yield running
    running.stop()


def new_call(
    server: Server, call_id: str, to: str = "+12125550111", caller: str = CALLER
) -> httpx.Response:
    return server.client.post(
        "/v1/calls", json={"call_id": call_id, "from": caller, "to": to, "at": AT}
    )


def event(
    server: Server, call_id: str, event_id: str, seq: int, kind: str, **data: Any
) -> httpx.Response:
    body = {"event_id": event_id, "seq": seq, "type": kind, "data": data, "at": AT}
    return server.client.post(f"/v1/calls/{call_id}/events", json=body)


def test_an_office_call_rolls_over_and_ends_as_a_ticket(server: Server) -> None:
    first = new_call(server, "office-1")
    assert first.status_code == 200
    assert (first.json()["seq"], first.json()["actions"][0]["type"]) == (1, "menu")
    steps = [
        ("digits", {"digits": "1"}),
        ("dial.no-answer", {}),
        ("dial.answered", {}),
        ("outcome", {"outcome": "needs-office"}),
    ]
    decisions = []
    for seq, (kind, data) in enumerate(steps, start=1):
        response = event(server, "office-1", f"e{seq}", seq, kind, **data)
        assert response.status_code == 200, response.text
        decisions.append(response.json())
    assert decisions[0]["actions"][0]["targets"][0]["name"] == "cardiology-office"
    assert decisions[1]["actions"][0]["targets"][0]["name"] == "offshore-center"
    ticket, _say, _hangup = decisions[-1]["actions"]
    assert (ticket["type"], ticket["board"], ticket["due"]) == (
        "ticket",
        "cardiology",
        "2026-11-23T15:15:00Z",
    )
    assert decisions[-1]["seq"] == 5 and decisions[-1]["await"] == []
    state = server.client.get("/v1/calls/office-1").json()
    assert state["status"] == "ended" and state["seq"] == 5
    assert [d["seq"] for d in state["decisions"]] == [1, 2, 3, 4, 5]
    assert state["trace"][0] == "entry +12125550111 -> ivr/main-menu"


def test_an_er_call(server: Server) -> None:
    first = new_call(server, "er-1", to="+12125550100")
    assert first.json()["actions"][0]["targets"][0]["name"] == "er-nurse"
    second = event(server, "er-1", "e1", 1, "dial.no-answer")
    assert second.json()["actions"][0]["targets"][0]["name"] == "er-nurse-backup"


def test_retries_return_the_same_decision_and_change_nothing(server: Server) -> None:
    new_call(server, "retry-1")
    once = event(server, "retry-1", "e1", 1, "digits", digits="3")
    again = event(server, "retry-1", "e1", 1, "digits", digits="3")
    assert once.status_code == again.status_code == 200
    assert once.json() == again.json()
    assert server.client.get("/v1/calls/retry-1").json()["seq"] == 2
    start_again = new_call(server, "retry-1")
    assert start_again.status_code == 200 and start_again.json()["seq"] == 1  # the first decision
    reused = event(server, "retry-1", "e1", 1, "digits", digits="4")
    assert reused.status_code == 409 and reused.json()["error"] == "event-id-reused"
    other_call = new_call(server, "retry-1", caller="+14155550123")
    assert other_call.status_code == 409 and other_call.json()["error"] == "call-id-reused"


@pytest.mark.parametrize(("seq", "error"), [(1, "stale-seq"), (5, "future-seq")])
def test_stale_and_future_seq_are_refused_and_change_nothing(
    server: Server, seq: int, error: str
) -> None:
    call_id = f"seq-{error}"
    new_call(server, call_id)
    event(server, call_id, "e1", 1, "digits", digits="3")
    refused = event(server, call_id, "e2", seq, "dial.no-answer")
    assert refused.status_code == 409
    assert refused.json()["error"] == error
    assert server.client.get(f"/v1/calls/{call_id}").json()["seq"] == 2


def test_events_that_do_not_fit_the_call(server: Server) -> None:
    assert event(server, "nobody", "e1", 1, "hangup").status_code == 404
    new_call(server, "fit-1")
    wrong = event(server, "fit-1", "e1", 1, "dial.answered")
    assert wrong.status_code == 409 and wrong.json()["error"] == "unexpected-event"


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "error", "field"),
    [
        (
            "/v1/calls",
            b'{"call_id": "x",',
            {"content-type": "application/json"},
            400,
            "malformed-json",
            None,
        ),
        (
            "/v1/calls",
            b"call_id=x",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "unsupported-media-type",
            None,
        ),
        (
            "/v1/calls",
            b'{"call_id": "x", "from": "+12125550123"}',
            {"content-type": "application/json"},
            422,
            "bad-request",
            "to",
        ),
        (
            "/v1/calls",
            b'{"call_id": "x", "from": "555-0100", "to": "+12125550111"}',
            {"content-type": "application/json"},
            422,
            "bad-request",
            "from",
        ),
        (
            "/v1/calls/x/events",
            b'{"event_id": "e", "seq": 1, "type": "dial.ringing"}',
            {"content-type": "application/json"},
            422,
            "bad-request",
            "type",
        ),
        (
            "/v1/calls/x/events",
            b'{"event_id": "e", "seq": 1, "type": "digits"}',
            {"content-type": "application/json"},
            422,
            "bad-request",
            "data.digits",
        ),
        (
            "/v1/calls",
            b"[" * 30000,  # a parser that recurses would answer 500
            {"content-type": "application/json"},
            400,
            "too-deep",
            None,
        ),
        (
            "/board/session",
            b'{"name": ' * 40 + b'"x"' + b"}" * 40,
            {"content-type": "application/json"},
            400,
            "too-deep",
            None,
        ),
        (
            "/v1/calls",
            b'{"pad": "' + b"x" * 70000 + b'"}',
            {"content-type": "application/json"},
            413,
            "body-too-large",
            None,
        ),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_problem(
    server: Server,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
    field: str | None,
) -> None:
    response = server.client.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["message"]
    if field is not None:
        assert field in [problem["field"] for problem in body["problems"]]
    assert server.client.get("/v1/calls/x").status_code == 404  # nothing stored


def test_a_locked_database_still_gets_a_fallback_in_time(tmp_path: Path) -> None:
    database = tmp_path / "locked.db"
    server = Server(database, deadline_ms=300)
    try:
        holder = sqlite3.connect(database, timeout=1)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            response = new_call(server, "locked-1")
            elapsed = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()
        assert response.status_code == 200
        decision = response.json()
        assert decision["fallback_reason"] == "deadline"
        assert decision["actions"][0]["targets"][0]["name"] == "front-desk-office"
        assert elapsed < 5  # the deadline (0.3 s) answered, not the database's 5 s busy wait
        assert new_call(server, "locked-2").json()["fallback_reason"] is None  # free again
    finally:
        server.stop()


def test_calls_survive_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "restart.db"
    first = Server(database)
    try:
        new_call(first, "keep-1")
        event(first, "keep-1", "e1", 1, "digits", digits="2")
    finally:
        first.stop()
    second = Server(database)
    try:
        response = event(second, "keep-1", "e2", 2, "dial.no-answer")
        assert response.status_code == 200
        assert response.json()["actions"][0]["targets"][0]["name"] == "offshore-center"
        assert (
            event(second, "keep-1", "e1", 1, "digits", digits="2").json()["seq"] == 2
        )  # still idempotent
    finally:
        second.stop()


def test_metrics_count_decisions_fallbacks_and_refusals(server: Server) -> None:
    new_call(server, "metrics-1")
    event(server, "metrics-1", "e1", 1, "digits", digits="9")  # a wrong digit: the menu again
    event(server, "metrics-1", "e9", 9, "digits", digits="1")  # refused: future seq
    text = server.client.get("/metrics").text
    assert 'routing_decisions_total{kind="menu",result="ok"}' in text
    assert 'routing_refusals_total{error="future-seq"}' in text
    assert "routing_decision_seconds_bucket" in text
    assert "routing_open_calls " in text


def test_logs_are_json_lines_with_the_call(tmp_path: Path) -> None:
    import json

    database = tmp_path / "locked-log.db"
    server = Server(database, deadline_ms=200)
    holder = sqlite3.connect(database, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert new_call(server, "log-1").json()["fallback_reason"] == "deadline"
    finally:
        holder.rollback()
        holder.close()
        server.stop()
    lines = [json.loads(line) for line in server.stderr_text.splitlines() if line.startswith("{")]
    fallback = next(line for line in lines if line.get("reason") == "deadline")
    assert (fallback["level"], fallback["call_id"]) == ("warning", "log-1")
    assert len(fallback["version"]) == 12


def route(
    server: Server, call_id: str, to: str, code: int | None = None, seq: int = 1
) -> dict[str, Any]:
    body: dict[str, Any] = {"call_id": call_id, "from": CALLER, "to": to, "at": AT}
    if code is not None:
        body["failure"] = {"code": code, "seq": seq}
    response = server.client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_sip_proxies_get_routes_and_the_next_leg_after_a_failure(server: Server) -> None:
    first = route(server, "sip-er", "+12125550100")
    assert (first["version"], first["routing"], first["final"]) == ("1.0", "serial", False)
    assert [r["uri"] for r in first["routes"]] == ["sip:er-nurse@mercy.example"]
    assert first["routes"][0]["fr_inv_timer"] == 18000  # 3 rings
    assert "X-Route-Target: er-nurse" in first["routes"][0]["headers"]["extra"]
    busy = route(server, "sip-er", "+12125550100", 486, seq=first["seq"])
    assert [r["uri"] for r in busy["routes"]] == ["sip:er-nurse-backup@mercy.example"]
    assert (
        route(server, "sip-er", "+12125550100", 486, seq=first["seq"]) == busy
    )  # retried: same answer
    both = route(server, "sip-er", "+12125550100", 408, seq=busy["seq"])
    assert both["routing"] == "parallel" and len(both["routes"]) == 2
    last = route(server, "sip-er", "+12125550100", 480, seq=both["seq"])
    assert (last["routes"], last["final"]) == ([], True)
    state = server.client.get("/v1/calls/sip-er").json()
    assert state["status"] == "ended"


def test_a_proxy_asking_for_an_ivr_number_gets_the_fallback_routes(server: Server) -> None:
    answer = route(server, "sip-ivr", "+12125550111")
    assert [r["uri"] for r in answer["routes"]] == ["sip:front-desk@mercy.example"]
    assert server.client.post("/v1/route", json={"call_id": "x", "from": CALLER}).status_code == 422
    unknown = server.client.post(
        "/v1/route",
        json={"call_id": "nope", "from": CALLER, "to": "+12125550100", "failure": {"code": 486}},
    )
    assert unknown.status_code == 404


def test_each_decision_is_logged_with_its_call_version_and_node(tmp_path: Path) -> None:
    import json

    server = Server(tmp_path / "log.db")
    try:
        new_call(server, "logged-1")
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.stderr_text.splitlines() if line.startswith("{")]
    decision = next(line for line in lines if line.get("message") == "decision")
    assert (decision["call_id"], decision["node"], len(decision["version"])) == (
        "logged-1",
        "main-menu",
        12,
    )


def test_an_injected_fault_still_gets_the_fallback(tmp_path: Path) -> None:
    database = tmp_path / "fault.db"
    server = Server(database)
    try:
        new_call(server, "fault-1")
        with sqlite3.connect(database) as db:  # corrupt the stored call: the next step fails inside
            db.execute("UPDATE calls SET state = '{\"broken\": true}' WHERE call_id = 'fault-1'")
        response = event(server, "fault-1", "e1", 1, "digits", digits="1")
        assert response.status_code == 200
        assert response.json()["fallback_reason"] == "internal-error"
        assert response.json()["actions"][0]["targets"][0]["name"] == "front-desk-office"
        assert (
            'routing_fallbacks_total{reason="internal-error"} 1.0'
            in server.client.get("/metrics").text
        )
    finally:
        server.stop()


def test_concurrent_events_for_one_call_never_both_apply(tmp_path: Path) -> None:
    import concurrent.futures

    database = tmp_path / "race.db"
    one, two = Server(database), Server(database)
    try:
        for n in range(6):
            call_id = f"race-{n}"
            new_call(one, call_id)
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                first = pool.submit(event, one, call_id, "a", 1, "digits", digits="1")
                second = pool.submit(event, two, call_id, "b", 1, "digits", digits="2")
                codes = sorted([first.result().status_code, second.result().status_code])
            assert codes == [200, 409], codes
            state = one.client.get(f"/v1/calls/{call_id}").json()
            assert state["seq"] == 2 and len(state["decisions"]) == 2
    finally:
        one.stop()
        two.stop()


def test_tickets_are_stored_with_the_decision_that_raises_them(
    server: Server, database: Path | str
) -> None:
    new_call(server, "ticket-1", to="+12125550130")  # radiology
    event(server, "ticket-1", "e1", 1, "dial.no-answer")
    event(server, "ticket-1", "e2", 2, "dial.answered")
    event(server, "ticket-1", "e3", 3, "outcome", outcome="needs-office")
    rows = sql_rows(
        store_url(database), "SELECT board, status, due FROM tickets WHERE call_id = 'ticket-1'"
    )
    assert rows == [("radiology", "open", "2026-11-23T15:15:00Z")]


def test_an_oversized_body_is_refused_before_it_is_read(server: Server) -> None:
    """A request declaring a gigabyte gets 413 at once, without the server waiting for it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n{"
        )
        reply = conn.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 413")


def test_a_flow_diagram_with_a_calls_path(server: Server) -> None:
    new_call(server, "drawn-1", to="+12125550140")
    event(server, "drawn-1", "e1", 1, "dial.no-answer")
    response = server.client.get("/v1/flows/billing/diagram.svg", params={"call_id": "drawn-1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = response.content.decode().replace("&#45;", "-")  # Graphviz escapes '-' in SVG text
    assert "billing/new-york.ring-overflow" in svg and "#d62728" in svg
    assert server.client.get("/v1/flows/nope/diagram.svg").status_code == 404
    unknown_call = server.client.get("/v1/flows/billing/diagram.svg", params={"call_id": "nobody"})
    assert unknown_call.status_code == 404
