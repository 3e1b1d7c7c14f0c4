"""HTTP benchmark (issue 8): the routing endpoint against a bare FastAPI endpoint, same server.

wrk on 127.0.0.1 posts new calls (each with a unique call_id, see `wrk_call.lua`) for a bounded
time to two servers started the same way (our own socket with TCP_NODELAY, uvicorn with uvloop
and httptools, access log off), with 1 worker and with 2 workers:

- `routing`: `cli.py serve examples/hospital` with a fresh SQLite store in a temporary directory;
- `bare`: `benchmarks.bare_app`, which parses the body with the same contract model and answers a
  constant decision.

Each result: requests/s, p50/p99 latency, server CPU per request (every process of the server,
from /proc), the workers' resident memory. wrk runs on the same machine and takes CPU too.

    python -m benchmarks.http [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_call.lua"
HOST = "127.0.0.1"
THREADS = 2
CONNECTIONS = 16
TICKS = os.sysconf("SC_CLK_TCK")


def ensure_wrk() -> str:
    """wrk's path, installing the Debian package once when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(f"wrk is missing and could not be installed: {done.stderr[-500:]}")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --- processes, from /proc ------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state (field 3) on


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (and of their reaped children)."""
    ticks = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14-17
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def workers_of(pid: int, workers: int) -> list[int]:
    """The processes that serve requests: the server itself, or its spawned workers."""
    if workers == 1:
        return [pid]
    found = []
    for child in descendants(pid)[1:]:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(child)
    return found


# --- servers ----------------------------------------------------------------------------------


def server_command(app: str, port: int, workers: int, scratch: Path) -> list[str]:
    if app == "routing":
        database = f"sqlite+aiosqlite:///{scratch / 'routing.sqlite'}"
        return [
            sys.executable,
            "cli.py",
            "serve",
            "examples/hospital",
            "--host",
            HOST,
            "--port",
            str(port),
            "--database",
            database,
            "--workers",
            str(workers),
        ]
    return [
        sys.executable,
        "-m",
        "benchmarks.bare_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def _post_call(port: int, call_id: str) -> int:
    body = json.dumps({"call_id": call_id, "from": "+12125551234", "to": "+12125550111"})
    request = urllib.request.Request(
        f"http://{HOST}:{port}/v1/calls",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def stop(process: subprocess.Popen[bytes], known: list[int]) -> None:
    """Terminate the server by its PID, kill it after a while; then any of its processes left."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for pid in known:
        if pid != process.pid and proc_stat(pid) is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def server(app: str, workers: int, scratch: Path) -> Iterator[tuple[int, int]]:
    """A running server: (its PID, its port); always stopped on the way out."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(scratch / "metrics")
    (scratch / "metrics").mkdir(exist_ok=True)
    log = open(scratch / f"{app}-{workers}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        server_command(app, port, workers, scratch),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    known: list[int] = [process.pid]
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{app} server exited ({process.returncode}): "
                    + (scratch / f"{app}-{workers}.log").read_text()[-1000:]
                )
            try:
                answered = _post_call(port, f"ready-{app}-{workers}-{time.monotonic_ns()}")
                if answered == 200 and len(workers_of(process.pid, workers)) >= workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} server with {workers} workers did not start in 60 s")
            time.sleep(0.2)
        known = descendants(process.pid)
        yield process.pid, port
        known = sorted(set(known) | set(descendants(process.pid)))
    finally:
        stop(process, known)
        log.close()


# --- wrk --------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency_ms(output: str, percentile: str) -> float | None:
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    return float(found.group(1)) * UNITS[found.group(2)] if found else None


def wrk(port: int, seconds: int, tag: str) -> dict[str, Any]:
    command = [
        ensure_wrk(),
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        f"http://{HOST}:{port}/v1/calls",
        "--",
        tag,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    output = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": _latency_ms(output, "50"),
        "p99_ms": _latency_ms(output, "99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def fallbacks(port: int) -> dict[str, float]:
    """The routing server's fallback answers so far, by reason (every worker's, from its
    Prometheus metrics): a fallback is a 200 to wrk, but no routing decision."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^routing_fallbacks_total\{reason="([^"]*)"\} (\S+)$'
    return {found[1]: float(found[2]) for found in re.finditer(pattern, text, re.M)}


def measure(app: str, workers: int, seconds: int, warmup: int, scratch: Path) -> dict[str, Any]:
    name = f"{app} {workers} worker{'s' if workers > 1 else ''}"
    with server(app, workers, scratch) as (pid, port):
        tag = f"{app}{workers}x{time.time_ns()}"
        wrk(port, warmup, f"{tag}w")  # imports, caches and every worker warmed up
        pids = descendants(pid)
        fell_before = fallbacks(port) if app == "routing" else {}
        before = cpu_seconds(pids)
        result = wrk(port, seconds, tag)
        cpu = cpu_seconds(pids) - before
        fell = fallbacks(port) if app == "routing" else {}
        rss = [rss_mb(worker) for worker in workers_of(pid, workers)]
    fell = {reason: n - fell_before.get(reason, 0.0) for reason, n in fell.items()}
    fell = {reason: n for reason, n in fell.items() if n}
    notes = [f"wrk -t{THREADS} -c{CONNECTIONS} {seconds}s"]
    if fell:
        notes.append("fallbacks: " + ", ".join(f"{n:.0f} {r}" for r, n in sorted(fell.items())))
    if result["non_2xx"]:
        notes.append(f"{result['non_2xx']} non-2xx answers")
    if result["socket_errors"]:
        notes.append(f"socket errors: {result['socket_errors']}")
    notes.append(f"rss per worker {', '.join(f'{value:.0f}' for value in rss)} MB")
    requests = result["requests"]
    fallen = round(sum(fell.values()))
    return {
        "name": name,
        "rps": round(result["rps"], 1),
        # requests/s answered with a decision, not a fallback: what the goals compare
        "decided_rps": round(result["rps"] * (requests - fallen) / requests, 1)
        if requests
        else 0.0,
        "fallbacks": fallen,
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "cpu_us_per_request": round(cpu * 1e6 / requests, 1) if requests else None,
        "rss_mb": round(max(rss), 1) if rss else None,
        "requests": requests,
        "note": "; ".join(notes),
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """Bare and routing endpoints, 1 and 2 workers: one result each."""
    ensure_wrk()
    seconds, warmup = (3, 1) if quick else (15, 3)
    results = []
    with tempfile.TemporaryDirectory(prefix="routing-http-bench-") as scratch:
        for workers in (1, 2):
            for app in ("bare", "routing"):
                results.append(measure(app, workers, seconds, warmup, Path(scratch)))
    return results


def _by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {result["name"]: result for result in results}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'name':<20} {'req/s':>9} {'decided':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu µs/req':>11} {'rss MB':>7} {'requests':>9}  note"
    ]
    for result in results:
        lines.append(
            f"{result['name']:<20} {result['rps']:>9.0f} {result['decided_rps']:>9.0f} "
            f"{result['p50_ms'] or 0:>8.2f} {result['p99_ms'] or 0:>8.2f} "
            f"{result['cpu_us_per_request'] or 0:>11.0f} "
            f"{result['rss_mb'] or 0:>7.0f} {result['requests']:>9}  {result['note']}"
        )
    named = _by_name(results)
    for label, top, bottom, goal in (
        ("routing / bare, 1 worker", "routing 1 worker", "bare 1 worker", 0.7),
        ("routing / bare, 2 workers", "routing 2 workers", "bare 2 workers", 0.7),
        ("routing 2 workers / 1 worker", "routing 2 workers", "routing 1 worker", 1.2),
        ("bare 2 workers / 1 worker", "bare 2 workers", "bare 1 worker", None),
    ):
        if top in named and bottom in named and named[bottom]["decided_rps"]:
            ratio = named[top]["decided_rps"] / named[bottom]["decided_rps"]
            verdict = (
                "" if goal is None else f" (goal >= {goal}: {'met' if ratio >= goal else 'MISSED'})"
            )
            lines.append(f"{label}: {ratio:.2f}{verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 3 s per run instead of 15 s")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.quick)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
