"""The real engine for the Asterisk and FreeSWITCH tests: `cli.py serve` (uvicorn) on a free
loopback port, serving the hospital at a fixed instant (`--now`), with a telephony key; stopped
by its PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from conftest import HOSPITAL, ROOT

KEY = "telephony-key-for-the-tests-0001"
# A Wednesday in office hours in New York (11:00 EDT), not a holiday.
OPEN = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Engine:
    url: str
    key: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the engine (by its PID), as a crash or a network cut would leave it."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def call(self, call_id: str) -> dict[str, object]:
        """The engine's record of a call (its state, trace and decisions)."""
        headers = {"Authorization": f"Bearer {self.key}"}
        response = httpx.get(f"{self.url}/v1/calls/{call_id}", headers=headers, timeout=5)
        response.raise_for_status()
        found: dict[str, object] = response.json()
        return found


@contextmanager
def running_engine(folder: Path, now: datetime = OPEN, deadline_ms: int = 2000) -> Iterator[Engine]:
    """The hospital served on 127.0.0.1 as if it were `now`; its data in `folder`."""
    port = free_port()
    keys = folder / "keys"
    keys.write_text(f"telephony {KEY}\n", encoding="utf-8")
    log = (folder / "engine.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [
            sys.executable,
            "cli.py",
            "serve",
            str(HOSPITAL),
            "--port",
            str(port),
            "--keys",
            str(keys),
            "--now",
            now.isoformat(),
            "--deadline-ms",
            str(deadline_ms),
        ],
        cwd=ROOT,
        env={**os.environ, "ROUTING_DATA_DIR": str(folder / "data")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                output = (folder / "engine.log").read_text(encoding="utf-8")
                raise AssertionError(f"the engine did not start: {output}")
            time.sleep(0.1)
        yield Engine(url, KEY, server)
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        log.close()
