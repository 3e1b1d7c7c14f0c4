"""Several workers: one socket bound with TCP_NODELAY, any worker serves any event of any call,
and the metrics add up across them."""

from __future__ import annotations

import itertools
import re
import socket
from pathlib import Path

import httpx
from test_service import AT, CALLER, Server

from routing_engine.service.app import listening_socket


def test_the_listening_socket_has_tcp_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def _switched(served: list[tuple[str, int, str]]) -> bool:
    """Whether some call had consecutive events served by different workers."""
    return any(a[0] == b[0] and a[2] != b[2] for a, b in itertools.pairwise(served))


def test_two_workers_serve_alternate_events_of_one_call(tmp_path: Path) -> None:
    server = Server(tmp_path / "w.db", workers=2)
    try:
        served: list[tuple[str, int, str]] = []  # (call, seq, worker)
        decisions = 0
        # Which worker accepts a connection is the kernel's choice; on a busy machine one
        # worker may take many in a row, so calls go on (up to 60) until some call's events
        # were served by both workers.
        for n in range(60):
            if n >= 12 and _switched(served):
                break
            call_id = f"w-{n}"
            # a new connection for every request, so the kernel may hand it to either worker
            start = httpx.post(
                f"{server.url}/v1/calls",
                json={"call_id": call_id, "from": CALLER, "to": "+12125550100", "at": AT},
            )
            assert start.status_code == 200
            served.append((call_id, 1, start.headers["X-Served-By"]))
            decisions += 1
            expected = ["er-nurse-backup", "er-nurse", None]
            for seq, target in enumerate(expected, start=1):
                body = {"event_id": f"e{seq}", "seq": seq, "type": "dial.no-answer", "at": AT}
                response = httpx.post(f"{server.url}/v1/calls/{call_id}/events", json=body)
                assert response.status_code == 200, response.text
                decisions += 1
                rung = [
                    t["name"]
                    for a in response.json()["actions"]
                    if a["type"] == "ring"
                    for t in a["targets"]
                ]
                if target is not None:
                    assert target in rung
                served.append((call_id, seq + 1, response.headers["X-Served-By"]))
        workers = {worker for _, _, worker in served}
        assert len(workers) == 2, workers
        assert _switched(served), "no call had consecutive events served by different workers"
        metrics = httpx.get(f"{server.url}/metrics").text
        counted = sum(
            float(v) for v in re.findall(r"^routing_decisions_total\{[^}]*\} (\S+)$", metrics, re.M)
        )
        assert counted == decisions  # every worker's decisions, added up
    finally:
        server.stop()


def test_the_workers_metrics_folder_goes_when_the_server_stops(tmp_path: Path) -> None:
    """`serve --workers N` keeps its workers' metrics in a folder it makes; a server that stops
    removes it (each start used to leave one behind in the temporary folder)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    server = Server(tmp_path / "m.db", workers=2, env={"TMPDIR": str(scratch)})
    try:
        made = list(scratch.glob("routing-metrics-*"))
        assert len(made) == 1 and made[0].is_dir(), made
        assert httpx.get(f"{server.url}/metrics").status_code == 200
    finally:
        server.stop()
    assert list(scratch.glob("routing-metrics-*")) == []
