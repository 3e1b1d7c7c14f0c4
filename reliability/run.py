"""Run the reliability suite and write RELIABILITY.md: the machine, the commit, and for each
probe family a table of its figures, each with its goal and verdict. Exits 1 when a figure
misses its goal or a family cannot run.

Every probe is bounded in time and in requests, talks to 127.0.0.1 only, and stops every
process it starts by its PID.

    python -m reliability.run              # make reliability: a few minutes
    python -m reliability.run --quick      # fewer cases, about a minute
    python -m reliability.run --only fuzz  # one family (fuzz, openapi, sigkill, ...)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from benchmarks.run import machine
from reliability.common import ROOT, Figure

REPORT = ROOT / "RELIABILITY.md"
# module: the family's title; each module's run(quick) returns its figures.
FAMILIES = {
    "fuzz": "Fuzzing: the YAML reader, the DSL reader, the condition language",
    "openapi": "schemathesis over the whole OpenAPI",
    "sigkill": "SIGKILL of a server under load",
    "store_faults": "A locked store and a read-only store",
    "hostile": "Hostile inputs",
}
PACKAGES = ("hypothesis", "schemathesis", "fastapi", "uvicorn", "sqlalchemy", "aiosqlite")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report(
    figures: dict[str, list[Figure]],
    failures: dict[str, str],
    quick: bool,
    seconds: dict[str, float],
) -> str:
    command = "python -m reliability.run" + (" --quick" if quick else "")
    lines = [
        "# Reliability",
        "",
        f"Written by `make reliability` (`{command}`) in {sum(seconds.values()):.0f} s. Every "
        "figure is measured in this run, against real servers on 127.0.0.1 (`cli.py serve`, "
        "uvicorn, SQLite in a temporary folder); a verdict is `met` or `MISSED` against its "
        "goal, `-` for a figure given for information.",
        "",
        *machine(PACKAGES),
        "",
        "## Summary",
        "",
        "| family | figures with a goal | met | missed | seconds | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for family, title in FAMILIES.items():
        if family not in figures and family not in failures:
            continue
        goals = [f for f in figures.get(family, []) if f.met is not None]
        met = sum(bool(f.met) for f in goals)
        verdict = "not run" if family in failures else ("met" if met == len(goals) else "MISSED")
        lines.append(
            f"| {title} | {len(goals)} | {met} | {len(goals) - met} | "
            f"{seconds.get(family, 0):.0f} | {verdict} |"
        )
    for family, title in FAMILIES.items():
        if family not in figures and family not in failures:
            continue
        lines += ["", f"## {title}", "", f"`python -m reliability.{family}`", ""]
        if family in failures:
            lines.append(f"Not run: {_cell(failures[family])}")
            continue
        lines += ["| probe | figure | value | goal | verdict |", "|---|---|---|---|---|"]
        lines += [
            f"| {_cell(f.probe)} | {_cell(f.measure)} | {_cell(f.value)} | {_cell(f.goal)} "
            f"| {f.verdict} |"
            for f in figures[family]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer cases, shorter runs")
    parser.add_argument("--only", choices=sorted(FAMILIES), action="append", help="one family")
    parser.add_argument("--out", default=str(REPORT), help="where to write the report")
    args = parser.parse_args(argv)
    figures: dict[str, list[Figure]] = {}
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for family in args.only or FAMILIES:
        began = time.perf_counter()
        print(f"reliability.{family} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"reliability.{family}")
            figures[family] = list(module.run(quick=args.quick))
        except Exception as error:  # a family that cannot run leaves the others' figures
            failures[family] = f"{type(error).__name__}: {error}"
            print(f"reliability.{family}: {failures[family]}", file=sys.stderr)
        seconds[family] = time.perf_counter() - began
    text = report(figures, failures, args.quick, seconds)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    missed = [f for found in figures.values() for f in found if f.met is False]
    return 1 if missed or failures else 0


if __name__ == "__main__":
    sys.exit(main())
