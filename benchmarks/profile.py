"""Where the time goes (issue 8): cProfile of the two hot paths a goal measures, so a missed
goal comes with its profile in the same report.

- `runtime`: the compiled runtime deciding the billing flow mix (`benchmarks.decision`);
- `app POST /v1/calls`: the routing app itself, in process, starting new calls on the hospital
  main line with a fresh SQLite store: the same requests as the HTTP benchmark, driven straight
  through ASGI (no uvicorn, no sockets, no wrk), next to the bare app (`benchmarks.bare_app`)
  driven the same way. Their plain (unprofiled) microseconds per request are reported too:
  the app's own cost, apart from the HTTP server's.

Each profile lists the packages by own time (share of the whole), then the functions with the
most own time; time spent waiting (for a request, a transaction, a lock) is left out. Each
thread is profiled apart: the event loop's, and the store's writer. cProfile slows what it
watches, and its account of time across awaits is rough: read shares and orders, not absolute
figures.

    python -m benchmarks.profile [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.decision import BILLING_LINE, HOSPITAL, load_mix, runtime_engine
from benchmarks.http import TICKS, proc_stat
from routing_engine import load_deployment

PACKAGES_SHOWN = 8
FUNCTIONS_SHOWN = 12
CONCURRENT = 16  # requests in flight at once, as the HTTP benchmark's wrk connections
# Where a thread waits (for a request, a transaction, a lock), not works: left out of profiles.
WAITS = frozenset(
    {
        "<method 'poll' of 'select.epoll' objects>",
        "<method 'get' of '_queue.SimpleQueue' objects>",
        "<method 'acquire' of '_thread.lock' objects>",
    }
)
Asgi = Callable[..., Awaitable[None]]


def _package(filename: str) -> str:
    """Who a function belongs to: an installed package, our own module, the standard library,
    or a built-in."""
    if filename.startswith("~") or filename.startswith("<"):
        return "(built-in)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for ours in ("routing_engine", "benchmarks"):
        if ours in parts:
            return f"{ours}.{path.stem}" if ours == "routing_engine" else ours
    return f"stdlib {path.stem}"


def _where(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename.startswith("~"):
        return function
    return f"{_package(filename)}: {function} (line {line})"


def summarize(profile: cProfile.Profile, name: str, units: int, unit: str) -> list[dict[str, Any]]:
    """Rows of a report: packages by own time, then the functions with most own time, each per
    `unit` (a decision, a request)."""
    stats = {
        key: row
        for key, row in pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
        if key[2] not in WAITS
    }
    total = sum(row[2] for row in stats.values()) or 1e-9
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.items():
        package = _package(filename)
        by_package[package] = by_package.get(package, 0.0) + own
    rows: list[dict[str, Any]] = []
    for package, own in sorted(by_package.items(), key=lambda p: -p[1])[:PACKAGES_SHOWN]:
        rows.append({"name": name, "what": f"[{package}]", f"own_us_per_{unit}": own / units * 1e6,
                     "share_pct": own / total * 100})  # fmt: skip
    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:FUNCTIONS_SHOWN]
    for key, (_, calls, own, cumulative, _) in ranked:
        rows.append({"name": name, "what": _where(key), f"own_us_per_{unit}": own / units * 1e6,
                     "share_pct": own / total * 100,
                     f"cum_us_per_{unit}": cumulative / units * 1e6,
                     f"calls_per_{unit}": calls / units})  # fmt: skip
    return rows


# -- the runtime ------------------------------------------------------------------------------
def runtime_profile(quick: bool) -> list[dict[str, Any]]:
    compiled = load_deployment(HOSPITAL).compiled
    mix = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)
    play = runtime_engine(compiled).play  # as the decision benchmark times it
    rounds = 50 if quick else 400

    def decide() -> int:
        return sum(1 for call in mix for _ in play(call))

    decide()  # warm: caches as a running server has them
    profile = cProfile.Profile()
    decisions = 0
    profile.enable()
    for _ in range(rounds):
        decisions += decide()
    profile.disable()
    return summarize(profile, "runtime (billing mix)", decisions, "decision")


# -- the apps, in process ---------------------------------------------------------------------
def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def post(app: Asgi, path: str, payload: dict[str, Any]) -> int:
    """One request through the app's ASGI interface, as uvicorn would hand it over; its status."""
    body = json.dumps(payload).encode()
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, body), receive, send)
    return status


def _call(tag: str, n: int) -> dict[str, Any]:
    return {"call_id": f"profile-{tag}-{n}", "from": "+12125551234", "to": "+12125550111"}


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native thread id."""
    found = {}
    for task in os.listdir("/proc/self/task"):
        fields = proc_stat(int(task))  # a thread's /proc entry is read as a process's
        if fields is not None:  # utime and stime are fields 14 and 15
            found[int(task)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


async def _drive(
    app: Any, tag: str, requests: int, profile: cProfile.Profile | None
) -> tuple[float, float, float]:
    """Post `requests` new calls, CONCURRENT at a time as wrk does; (seconds taken, CPU seconds
    of the event loop's thread, CPU seconds of the process's other threads)."""
    loop_thread = threading.get_native_id()
    cpu_before, began = _thread_cpu(), time.perf_counter()
    if profile is not None:
        profile.enable()
    for first in range(0, requests, CONCURRENT):
        wave = range(first, min(first + CONCURRENT, requests))
        statuses = await asyncio.gather(*(post(app, "/v1/calls", _call(tag, n)) for n in wave))
        if any(status != 200 for status in statuses):
            raise RuntimeError(f"POST /v1/calls answered {sorted(set(statuses))}")
    if profile is not None:
        profile.disable()
    seconds, cpu_after = time.perf_counter() - began, _thread_cpu()
    spent = {tid: cpu - cpu_before.get(tid, 0.0) for tid, cpu in cpu_after.items()}
    in_loop = spent.pop(loop_thread, 0.0)
    return seconds, in_loop, sum(spent.values())


class _ThreadProfiles:
    """While entered, each thread that starts is profiled, on its own (cProfile watches only
    the thread that enables it), by thread name."""

    def __init__(self) -> None:
        self.profiles: dict[str, cProfile.Profile] = {}

    def _start(self, *_: Any) -> None:
        sys.setprofile(None)
        profile = self.profiles.setdefault(threading.current_thread().name, cProfile.Profile())
        profile.enable()

    def __enter__(self) -> None:
        threading.setprofile(self._start)

    def __exit__(self, *_: object) -> None:
        threading.setprofile(None)


async def _apps_profile(quick: bool, scratch: Path) -> list[dict[str, Any]]:
    requests, runs = (640, 3) if quick else (3200, 5)
    from benchmarks import bare_app
    from routing_engine.service.app import create_app

    url = f"sqlite+aiosqlite:///{scratch / 'profile.sqlite'}"
    apps = {"routing": create_app(HOSPITAL, database_url=url), "bare": bare_app.create_app()}
    rows: list[dict[str, Any]] = []
    for name, app in apps.items():
        async with app.router.lifespan_context(app):
            await _drive(app, f"{name}-warm", 160, None)
            plain = [await _drive(app, f"{name}-{r}", requests, None) for r in range(runs)]
        # profiled in a second life of the app, so that the threads it starts (the store's
        # writer) start profiled too
        profile, threads = cProfile.Profile(), _ThreadProfiles()
        with threads:
            async with app.router.lifespan_context(app):
                await _drive(app, f"{name}-profiled", requests, profile)
        per_request = [(s / requests * 1e6, loop / requests * 1e6, other / requests * 1e6)
                       for s, loop, other in plain]  # fmt: skip
        rows.append({
            "name": f"app {name} POST /v1/calls",
            "what": "(unprofiled, in process)",
            "us_per_request_min": min(p[0] for p in per_request),
            "us_per_request_median": statistics.median(p[0] for p in per_request),
            "loop_cpu_us_per_request": statistics.median(p[1] for p in per_request),
            "other_threads_cpu_us_per_request": statistics.median(p[2] for p in per_request),
        })  # fmt: skip
        if name == "routing":
            rows.extend(summarize(profile, f"app {name} POST /v1/calls", requests, "request"))
            for thread, thread_profile in threads.profiles.items():
                where = f"app {name} POST /v1/calls, thread {thread}"
                found = summarize(thread_profile, where, requests, "request")
                if sum(r["own_us_per_request"] for r in found if "[" in r["what"]) > 25:
                    rows.extend(found)  # a thread that works, not one that only waits
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """The runtime's profile, then the apps' in-process cost and the routing app's profile."""
    rows = runtime_profile(quick)
    with tempfile.TemporaryDirectory(prefix="routing-profile-") as scratch:
        rows.extend(asyncio.run(_apps_profile(quick, Path(scratch))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    for row in run(parser.parse_args().quick):
        figures = "  ".join(
            f"{k}={v:.3g}" for k, v in row.items() if isinstance(v, float | int) and k != "name"
        )
        print(f"{row['name']:28} {row['what'][:70]:70} {figures}", file=sys.stdout)


if __name__ == "__main__":
    main()
