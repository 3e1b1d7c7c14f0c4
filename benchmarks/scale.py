"""Compile and validate at scale: generated deployments of 1k, 10k and 100k nodes (flows of
~100 nodes mixing menus, branches with conditions, hours, rings and tickets, one entry per
flow) go through `routing_engine.api.check`; each size runs in its own subprocess so the peaks
of memory (ru_maxrss growth during check) do not mix. Also: the size of one in-flight
call's state, in process and as the JSON a store keeps.

    python -m benchmarks.scale [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHUNK = 6  # nodes per chunk: menu, branch, hours, ring, ticket, say
FLOW_CHUNKS = 17  # ~100 nodes a flow

HEADER = """deployment: scale
ring_cadence: 6s
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
"""


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
    (folder / "deployment.yaml").write_text(HEADER.format(entries=entries, targets=targets))
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


def measure(nodes: int) -> dict[str, Any]:
    """Generate a deployment of `nodes` nodes and check it in a fresh subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        count = generate(Path(tmp), nodes)
        out = subprocess.run([sys.executable, "-c", _MEASURE, tmp], check=True,
                             capture_output=True, text=True)  # fmt: skip
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if data["errors"]:
        raise RuntimeError(f"the generated deployment does not check: {data['errors']}")
    data["nodes"] = count
    return data


def call_state_size() -> dict[str, int]:
    """Bytes of one in-flight hospital call: its state's JSON (what a store row holds) and a
    deep in-process size of the CallState."""
    from benchmarks.decision import BILLING_LINE, HOSPITAL, load_mix
    from routing_engine import load_deployment
    from routing_engine.runtime import start, step

    compiled = load_deployment(HOSPITAL).compiled
    call = load_mix([HOSPITAL / "scenarios" / "billing.yaml"], BILLING_LINE)[0]
    state, _ = start(compiled, call.call)
    event = call.events[0]
    state, _ = step(compiled, state, type(event)(event.type, state.seq, event.at))
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
    measured: dict[int, dict[str, Any]] = {}
    for size in sizes:
        data = measured[size] = measure(size)
        n = data["nodes"]
        note = f"{n} nodes; peak RSS growth {data['peak_bytes'] / n:.0f} B/node"
        results.append({"name": f"check/{size}", "unit": "s", "runs": [data["seconds"]],
                        "min": data["seconds"], "median": data["seconds"], "note": note,
                        "us_per_node": data["seconds"] / n * 1e6,
                        "peak_bytes_per_node": data["peak_bytes"] / n})  # fmt: skip
    if 100_000 in measured and 10_000 in measured:
        big, small = measured[100_000], measured[10_000]
        ratio = big["seconds"] / small["seconds"]
        memory = big["peak_bytes"] / small["peak_bytes"]
        note = f"time x{ratio:.1f}, peak memory x{memory:.1f} for 10x the nodes (goal: <= 12x)"
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
