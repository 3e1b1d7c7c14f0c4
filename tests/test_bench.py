"""`make bench-quick` runs and writes a well-formed report: every part measured, every goal
given its ratio and a verdict. No timed assertions: the goals are judged in the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from benchmarks.run import GOALS, PARTS


def test_bench_quick_writes_a_well_formed_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results")
    assert "- machine: " in text and "- Python " in text and "- commit " in text
    goal_rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and (" | >= " in line or " | <= " in line)
    ]
    assert len(goal_rows) == len(GOALS)
    measured = [row for row in goal_rows if row.rstrip(" |").endswith(("met", "MISSED"))]
    assert len(measured) == len(GOALS) - 1  # the 100k-node check runs in the full run only
    for part in PARTS:
        assert f"## {part}" in text
        assert "Not measured" not in text.split(f"## {part}", 1)[1].split("\n## ", 1)[0]
    assert "| decision/runtime |" in text and "| routing 1 worker |" in text
    assert "| check/10000 |" in text
    # every missed goal comes with its profile: the runtime's, and the routing app's per request
    profiles = text.split("## profile", 1)[1]
    for heading in ("### runtime (billing mix)", "### app routing POST /v1/calls"):
        section = profiles.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "| [routing_engine." in section  # packages by own time, ours among them
        assert "(line " in section  # then functions
    assert "| (unprofiled, in process) |" in profiles
    assert "(NOTES.md)" in text and (ROOT / "benchmarks" / "NOTES.md").is_file()
