"""The service over real HTTP: uvicorn on an ephemeral loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_healthz_over_http(tmp_path: Path) -> None:
    """The default store, in the data directory (here a fresh one, not the checkout's)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "cli.py", "serve", "examples/hospital", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "ROUTING_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read() if server.stdout else ""
                    raise AssertionError(f"server did not start: {output}") from error
                time.sleep(0.1)
        assert response.status_code == 200
        body = response.json()
        assert (
            body["status"] == "ok"
            and body["deployment"] == "hospital"
            and len(body["version"]) == 12
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_serve_refuses_a_broken_deployment() -> None:
    result = subprocess.run(
        [sys.executable, "cli.py", "serve", "tests/fixtures/five-mistakes", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot serve: 5 error(s)" in result.stderr
