"""Compile and validate at scale: generated deployments of 1k, 10k and 100k nodes (flows of
~100 nodes mixing menus, branches with conditions, hours, rings and tickets, one entry per
flow) go through `routing_engine.api.check`, several times per size, each check in a fresh
subprocess so the peaks of memory (ru_maxrss growth during check) do not mix; the figures
and the growth ratio are medians. Also: the size of one in-flight
call's state, in process and as the JSON a store keeps.

    python -m benchmarks.scale [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHUNK = 6  # nodes per chunk: menu, branch, hours, ring, ticket, say
FLOW_CHUNKS = 17  # ~100 nodes a flow
# checks per size (each in a fresh process), quick and full: medians of several, as the
# machine is shared and one slow run would move a ratio
RUNS = {True: {1_000: 3, 10_000: 2}, False: {1_000: 3, 10_000: 5, 100_000: 3}}

HEADER = """deployment: scale
ring_cadence: 6s
caller_max_wait: 1h
fallback:
  ring: t0
  timeout: 30s
entries:
{entries}targets:
{targets}contacts:
  manager:
    name: Manager
    email: manager@example.org
schedules:
  office-hours:
    timezone: America/New_York
    weekly:
      mon-fri: 08:00-18:00
    holidays: US
boards:
{boards}"""


def _flow(number: int) -> str:
    lines = [f"flow: f{number}", "start: m0", "nodes:"]
    for i in range(FLOW_CHUNKS):
        after = f"m{i + 1}" if i + 1 < FLOW_CHUNKS else "bye"
        target = f"t{(number + i) % 50}"
        lines += [
            f"  m{i}:",
            f"    menu: 'Press 1 for sales, 2 for support ({i}).'",
            "    options:",
            f"      '1': b{i}",
            f"      '2': h{i}",
            f"    fallback: {after}",
            f"  b{i}:",
            "    branch:",
            '      - when: \'caller.state == "NY" and caller.type == "geographic"\'',
            f"        then: r{i}",
            f"    else: h{i}",
            f"  h{i}:",
            "    hours: office-hours",
            f"    open: r{i}",
            f"    closed: k{i}",
            f"  r{i}:",
            f"    ring: {target}",
            "    timeout: 2 rings",
            "    'on':",
            f"      no-answer: k{i}",
            f"  k{i}:",
            f"    ticket: board{number % 10}",
            "    sla: 15m",
            "    managers: manager",
            f"    next: s{i}",
            f"  s{i}:",
            f"    say: 'Thank you ({i}).'",
            f"    next: {after}",
        ]
    lines += ["  bye:", "    hangup: done"]
    return "\n".join(lines) + "\n"


def generate(folder: Path, nodes: int) -> int:
    """Write a deployment of about `nodes` nodes into `folder`; return its node count."""
    flows = max(1, round(nodes / (CHUNK * FLOW_CHUNKS)))
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    entries = "".join(f"  '+1212555{n:04d}': f{n}\n" for n in range(flows))
    targets = "".join(f"  t{n}:\n    uri: sip:t{n}@example.org\n" for n in range(50))
    boards = "".join(f"  board{n}:\n    name: Board {n}\n" for n in range(10))
    header = HEADER.format(entries=entries, targets=targets, boards=boards)
    (folder / "deployment.yaml").write_text(header)
    for n in range(flows):
        (folder / "flows" / f"f{n}.yaml").write_text(_flow(n))
    return flows * CHUNK * FLOW_CHUNKS


_MEASURE = """
import json, resource, sys, time
from routing_engine.api import check
path = sys.argv[1]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
result = check(path)
seconds = time.perf_counter() - began
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
errors = [d.message for d in result.diagnostics if d.severity.name == "ERROR"][:3]
print(json.dumps({"seconds": seconds, "peak_bytes": grown * 1024, "errors": errors}))
"""


def measure(nodes: int, runs: int) -> list[dict[str, Any]]:
    """Generate a deployment of `nodes` nodes and check it `runs` times, each in a fresh
    subprocess."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        count = generate(Path(tmp), nodes)
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", _MEASURE, tmp], check=True,
                                 capture_output=True, text=True)  # fmt: skip
            data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            if data["errors"]:
                raise RuntimeError(f"the generated deployment does not check: {data['errors']}")
            data["nodes"] = count
            found.append(data)
    return found


def call_state_size() -> dict[str, int]:
    """Bytes of one in-flight hospital call: its state's JSON (what a store row holds) and a
    deep in-process size of the CallState."""
    from benchmarks.decision import BILLING_LINE, HOSPITAL, load_mix, runtime_engine
    from routing_engine import load_deployment

    compiled = load_deployment(HOSPITAL).compiled
    call = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)[0]
    steps = runtime_engine(compiled).play(call)
    next(steps)  # the first decision: ringing the office
    state, _ = next(steps)  # the office did not answer: ringing the overflow
    return {"json_bytes": len(json.dumps(state.to_json()).encode()), "object_bytes": _deep(state)}


def _deep(value: Any, seen: set[int] | None = None) -> int:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep(k, seen) + _deep(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        size += sum(_deep(item, seen) for item in value)
    elif hasattr(value, "__slots__"):
        size += sum(_deep(getattr(value, name), seen) for name in value.__slots__)
    return size


def run(quick: bool, sizes: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """Time and memory of check() per size; the 100k/10k growth ratios; call state size."""
    sizes = sizes or ((1_000, 10_000) if quick else (1_000, 10_000, 100_000))
    results: list[dict[str, Any]] = []
    medians: dict[int, tuple[float, float]] = {}  # size -> (seconds, peak bytes)
    for size in sizes:
        found = measure(size, RUNS[quick].get(size, 1))
        n = found[0]["nodes"]
        seconds = [data["seconds"] for data in found]
        peak = statistics.median(data["peak_bytes"] for data in found)
        medians[size] = (statistics.median(seconds), peak)
        note = f"{n} nodes; peak RSS growth {peak / n:.0f} B/node (median)"
        results.append({"name": f"check/{size}", "unit": "s", "runs": seconds,
                        "min": min(seconds), "median": medians[size][0], "note": note,
                        "us_per_node": medians[size][0] / n * 1e6,
                        "peak_bytes_per_node": peak / n})  # fmt: skip
    if 100_000 in medians and 10_000 in medians:
        (big, big_peak), (small, small_peak) = medians[100_000], medians[10_000]
        ratio, memory = big / small, big_peak / small_peak
        note = (f"median time x{ratio:.1f}, peak memory x{memory:.1f} for 10x the nodes "
                "(goal: <= 12x)")  # fmt: skip
        results.append({"name": "check/growth-100k-10k", "unit": "ratio", "runs": [ratio],
                        "min": ratio, "median": ratio, "note": note})  # fmt: skip
    sizes_of_state = call_state_size()
    for key, value in sizes_of_state.items():
        results.append({"name": f"call-state/{key}", "unit": "bytes", "runs": [float(value)],
                        "min": float(value), "median": float(value),
                        "note": "one billing call ringing the overflow"})  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k nodes only")
    for r in run(parser.parse_args().quick):
        print(f"{r['name']:28} {r['median']:12.3f} {r['unit']:6} {r['note']}")


if __name__ == "__main__":
    main()
