"""Run the benchmarks and write benchmarks/RESULTS.md: the machine, the versions, the exact
commands, every figure as min/median over repeated runs, and each goal as met or missed with
its measured ratio. Speed goals live here, as ratios measured in one run, never in timed tests.

    python -m benchmarks.run            # full: a few minutes
    python -m benchmarks.run --quick    # under a minute
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PARTS = ("decision", "http", "scale", "profile")  # benchmarks/<part>.py: run(quick) -> results
GROUPED = {"profile"}  # parts whose results are several tables, one per result name
PACKAGES = ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "aiosqlite", "lark", "SpiffWorkflow")

Results = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal: a ratio of two measured figures, and the bound it must keep."""

    text: str
    ratio: Callable[[Results], float | None]  # None: not measured in this run
    bound: float
    at_most: bool  # True: the ratio must be <= bound; False: >= bound

    def verdict(self, results: Results) -> tuple[str, str]:
        value = self.ratio(results)
        if value is None:
            return "not measured", "-"
        met = value <= self.bound if self.at_most else value >= self.bound
        return ("met" if met else "MISSED"), f"{value:.2f}"


def figure(results: Results, part: str, name: str, key: str) -> float | None:
    """One figure of one result (None when that result is absent or has no such figure)."""
    for result in results.get(part, []):
        if result.get("name") == name and isinstance(result.get(key), (int, float)):
            return float(result[key])
    return None


def ratio(
    part: str, top: tuple[str, str], bottom: tuple[str, str]
) -> Callable[[Results], float | None]:
    """A goal's ratio: figure `top` over figure `bottom`, each (result name, key)."""

    def compute(results: Results) -> float | None:
        above, below = figure(results, part, *top), figure(results, part, *bottom)
        if above is None or below is None or below == 0:
            return None
        return above / below

    return compute


GOALS = (
    Goal(
        "engine at most 2x the hand-written floor building the same reply and state "
        "(median us/decision, billing mix)",
        ratio("decision", ("decision/runtime", "median"), ("decision/hand-written-full", "median")),
        2.0,
        True,
    ),
    Goal(
        "engine at least 500x faster than SpiffWorkflow (median us/decision, billing mix)",
        ratio("decision", ("decision/spiffworkflow", "median"), ("decision/runtime", "median")),
        500.0,
        False,
    ),
    Goal(
        "routing endpoint at least 70% of bare FastAPI requests/s, 1 worker (fallback answers "
        "not counted)",
        ratio("http", ("routing 1 worker", "decided_rps"), ("bare 1 worker", "rps")),
        0.7,
        False,
    ),
    Goal(
        "routing endpoint at least 70% of bare FastAPI requests/s, 2 workers (fallback answers "
        "not counted)",
        ratio("http", ("routing 2 workers", "decided_rps"), ("bare 2 workers", "rps")),
        0.7,
        False,
    ),
    Goal(
        "2 workers at least 1.2x one worker (routing requests/s answered with a decision)",
        ratio("http", ("routing 2 workers", "decided_rps"), ("routing 1 worker", "decided_rps")),
        1.2,
        False,
    ),
    Goal(
        "100k-node check at most 12x the 10k-node check (median seconds; full run only)",
        ratio("scale", ("check/100000", "median"), ("check/10000", "median")),
        12.0,
        True,
    ),
)


def machine(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """The lines a report opens with: the machine, who runs it, the versions of `packages`,
    the commit and when (the reliability suite's report opens with them too)."""
    cpus = os.cpu_count() or 0
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("\n", 1)[0].split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB"
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- machine: {platform.machine()}, {cpus} cores{memory}, {platform.system()} "
        f"{platform.release()}; running as {'root' if os.geteuid() == 0 else 'a user'}",
        f"- Python {platform.python_version()}; " + ", ".join(versions),
        f"- commit {commit or 'unknown'}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def table(results: list[dict[str, Any]]) -> list[str]:
    """A markdown table of one part's results (every key any result has, in order)."""
    keys: list[str] = []
    for result in results:
        keys.extend(k for k in result if k not in keys)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for result in results:
        lines.append("| " + " | ".join(_cell(result.get(k, "")) for k in keys) + " |")
    return lines


def report(results: Results, quick: bool, seconds: float, failures: dict[str, str]) -> str:
    command = "make bench-quick" if quick else "make bench"
    module = "python -m benchmarks.run" + (" --quick" if quick else "")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (`{module}`) in {seconds:.0f} s. Every figure is measured in "
        "this one run; goals are ratios of figures of this run, so a slower or busier machine "
        "moves both sides.",
        "",
        *machine(),
        "",
        "What each profile led to, and why a goal still missed is missed: [NOTES.md](NOTES.md).",
        "",
        "## Goals",
        "",
        "| goal | ratio | bound | verdict |",
        "|---|---|---|---|",
    ]
    for goal in GOALS:
        verdict, value = goal.verdict(results)
        bound = f"{'<=' if goal.at_most else '>='} {goal.bound:g}"
        lines.append(f"| {goal.text} | {value} | {bound} | {verdict} |")
    for part in PARTS:
        lines.extend(
            [
                "",
                f"## {part}",
                "",
                f"`python -m benchmarks.{part}" + (" --quick`" if quick else "`"),
                "",
            ]
        )
        if part in failures:
            lines.append(f"Not measured: {failures[part]}")
        elif part in GROUPED and results.get(part):
            for name in dict.fromkeys(r["name"] for r in results[part]):
                rows = [{k: v for k, v in r.items() if k != "name"} for r in results[part]
                        if r["name"] == name]  # fmt: skip
                lines.extend([*([""] if lines[-1] else []), f"### {name}", "", *table(rows)])
        elif results.get(part):
            lines.extend(table(results[part]))
        else:
            lines.append("No results.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the report")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    results: Results = {}
    failures: dict[str, str] = {}
    for part in PARTS:
        try:
            module = importlib.import_module(f"benchmarks.{part}")
            results[part] = list(module.run(quick=args.quick))
        except Exception as error:  # one part that cannot run leaves the others' figures
            failures[part] = f"{type(error).__name__}: {error}"
            print(f"benchmarks.{part}: {failures[part]}", file=sys.stderr)
    text = report(results, args.quick, time.perf_counter() - began, failures)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
