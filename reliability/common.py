"""What every probe family shares: a figure with its goal and verdict, and real servers started
on 127.0.0.1 (`cli.py serve`, uvicorn) and stopped by their PID.

A probe never raises for the behaviour it measures: a refused start, a 500 or a dropped
connection is a figure that misses its goal, not a crash of the suite.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
AT = "2026-11-23T10:00:00-05:00"  # a Monday morning in New York: the hospital's offices open
CALLER = "+12125550123"
OFFICE_LINE = "+12125550111"
# A key per role, for servers started with API keys (each at least 16 characters).
KEYS = {
    "telephony": "reliability-telephony-key",
    "admin": "reliability-admin-key-0001",
    "staff": "reliability-staff-key-0001",
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure of one probe: what was measured, its value, the goal it must keep
    and whether it kept it. `met=None`: measured for information, no goal."""

    probe: str
    measure: str
    value: str
    goal: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return "-" if self.met is None else ("met" if self.met else "MISSED")


def count(probe: str, measure: str, value: int, at_most: int = 0) -> Figure:
    """A count that must stay at or below `at_most` (0: nothing lost, doubled, crashed)."""
    return Figure(probe, measure, str(value), f"<= {at_most}", value <= at_most)


def share(probe: str, measure: str, good: int, total: int) -> Figure:
    """`good` of `total` cases, which must be all of them (and at least one)."""
    return Figure(probe, measure, f"{good} of {total}", "all", total > 0 and good == total)


def ratio(probe: str, measure: str, value: float, at_most: float) -> Figure:
    return Figure(probe, measure, f"{value:.2f}", f"<= {at_most:g}", value <= at_most)


def info(probe: str, measure: str, value: object) -> Figure:
    return Figure(probe, measure, str(value), "-", None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The resident memory of one process (0 when it is gone)."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """A `cli.py serve` process on 127.0.0.1, its log in a file, stopped by its PID.

    `database` is a SQLite file (or None: the deployment's default store in $ROUTING_DATA_DIR,
    which `env` should then set); `keys` configures API keys (`KEYS`)."""

    def __init__(
        self,
        database: Path | None,
        *,
        deployment: Path | str = "examples/hospital",
        deadline_ms: int = 500,
        now: str | None = AT,
        port: int | None = None,
        keys: bool = False,
        env: Mapping[str, str] | None = None,
        ready_s: float = 30.0,
    ) -> None:
        self.database = database
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.deadline_s = deadline_ms / 1000
        command = [
            sys.executable,
            str(ROOT / "cli.py"),
            "serve",
            str(deployment),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--deadline-ms",
            str(deadline_ms),
            *(["--database", f"sqlite+aiosqlite:///{database}"] if database else []),
            *(["--now", now] if now else []),
        ]
        environment = {**os.environ, **(env or {})}
        if database is not None and "ROUTING_DATA_DIR" not in (env or {}):
            # what the server keeps in its data folder (secrets) stays beside its store, and
            # outlives a restart on it
            environment["ROUTING_DATA_DIR"] = str(database.parent / "data")
        environment.pop("ROUTING_API_KEYS", None)
        if keys:
            environment["ROUTING_API_KEYS"] = ",".join(f"{r} {k}" for r, k in KEYS.items())
        handle, name = tempfile.mkstemp(prefix="reliability-server-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            os.chmod(name, 0o644)
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.ready = self._wait_ready(ready_s)

    def _wait_ready(self, within_s: float) -> bool:
        limit = time.monotonic() + within_s
        while time.monotonic() < limit and self.process.poll() is None:
            with suppress(httpx.TransportError):
                if self.client.get("/healthz", timeout=2).status_code == 200:
                    return True
            time.sleep(0.1)
        return False

    def log_tail(self, chars: int = 400) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return " ".join(text[-chars:].split())

    def headers(self, role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {KEYS[role]}"}

    def kill(self) -> None:
        """SIGKILL, at once, no cleanup: what a crash or the OOM killer does."""
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.client.close()
        self.log_path.unlink(missing_ok=True)

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL when it does not stop within 20 s."""
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log_path.unlink(missing_ok=True)


def timed(send: Callable[[], httpx.Response]) -> tuple[httpx.Response | None, float]:
    """A request's answer (None: no answer, the connection failed) and its wall time."""
    started = time.perf_counter()
    try:
        response: httpx.Response | None = send()
    except httpx.HTTPError:
        response = None
    return response, time.perf_counter() - started


def new_call(call_id: str, to: str = OFFICE_LINE, caller: str = CALLER) -> dict[str, Any]:
    return {"call_id": call_id, "from": caller, "to": to, "at": AT}


def probe_main(run: Callable[[bool], list[Figure]], description: str | None) -> None:
    """A probe module run on its own (`python -m reliability.NAME [--quick]`): its figures."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    show(run(parser.parse_args().quick))


def show(figures: list[Figure]) -> None:
    """Print figures as a table (a probe module run on its own)."""
    for figure in figures:
        print(
            f"{figure.probe} | {figure.measure} | {figure.value} | {figure.goal} | {figure.verdict}"
        )


def event(event_id: str, seq: int, kind: str, **data: Any) -> dict[str, Any]:
    return {"event_id": event_id, "seq": seq, "type": kind, "data": data, "at": AT}
