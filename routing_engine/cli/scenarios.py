"""`cli.py test`: run a deployment's scenario files and report pass/fail and coverage."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated

import typer

from routing_engine.cli.common import Format, FormatOption, load_or_exit
from routing_engine.core.diagnostics import render_all_text
from routing_engine.review.scenario_format import SCENARIO_DIR, scenario_files
from routing_engine.review.scenarios import Report, Result, run_files


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("test")(test_command)


def test_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    files: Annotated[
        list[str] | None,
        typer.Argument(help=f"scenario files or folders; default: DEPLOYMENT/{SCENARIO_DIR}/"),
    ] = None,
    output: FormatOption = Format.text,
    junit: Annotated[
        str | None, typer.Option("--junit", help="also write a JUnit XML report to this file")
    ] = None,
    min_coverage: Annotated[
        float,
        typer.Option("--min-coverage", help="fail when edge coverage (percent) is below this"),
    ] = 0.0,
    match: Annotated[
        str, typer.Option("-k", "--match", help="only the scenarios whose name contains this")
    ] = "",
) -> None:
    """Play scenario files against a deployment on a fake clock; report each scenario's result
    and the node and edge coverage they give. Exit 1 on any failure."""
    loaded = load_or_exit(deployment, "test")
    paths = _scenario_paths(Path(deployment), files)
    if not paths:
        where = Path(deployment) / SCENARIO_DIR
        typer.echo(f"error: no scenario files (looked in {where})", err=True)
        raise typer.Exit(2)
    report = run_files(loaded.compiled, paths, match=match, min_coverage=min_coverage)
    if output is Format.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(_text(report))
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_bytes(junit_xml(report, deployment))
    if not report.passed:
        raise typer.Exit(1)


def _scenario_paths(deployment: Path, given: list[str] | None) -> list[Path]:
    if not given:
        return scenario_files(deployment)
    paths: list[Path] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            paths.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            )
        elif path.is_file():
            paths.append(path)
        else:
            typer.echo(f"error: no scenario file or folder {item}", err=True)
            raise typer.Exit(2)
    return paths


def _text(report: Report) -> str:
    lines: list[str] = []
    if report.problems:
        lines.append(render_all_text(report.problems, report.sources))
    for result in report.results:
        lines.extend(_result_lines(result))
    failed = sum(1 for r in report.results if not r.passed)
    summary = f"{len(report.results)} scenarios: {len(report.results) - failed} passed"
    summary += f", {failed} failed" if failed else ""
    if report.problems:
        summary += f"; {len(report.problems)} problem(s) in scenario files"
    if not report.results:
        summary += " (FAILED: no scenario was played)"
    lines.append(summary)
    coverage = report.coverage
    if coverage is not None:
        lines.append(
            f"coverage: nodes {len(coverage.nodes_hit)}/{len(coverage.nodes)} "
            f"({coverage.node_percent:g}%), edges {len(coverage.edges_hit)}/{len(coverage.edges)} "
            f"({coverage.edge_percent:g}%)"
        )
        missed = coverage.missed_edges
        if missed:
            lines.append("edges no scenario takes:")
            lines.extend(f"  {edge.describe()}    {edge.span}" for edge in missed)
        if report.coverage_low:
            lines.append(f"FAILED: edge coverage is under --min-coverage {report.min_coverage:g}%")
    return "\n".join(lines)


def _result_lines(result: Result) -> list[str]:
    where = f"{result.scenario.span.file}:{result.scenario.span.line}"
    if result.passed:
        return [f"PASS  {result.scenario.name}  ({where})"]
    lines = [f"FAIL  {result.scenario.name}  ({where})"]
    for failure in result.failures:
        first, *rest = failure.message.splitlines()
        lines.append(f"      {failure.span}: {failure.what}: {first}")
        lines.extend(f"        {line}" for line in rest)
    if result.trace:
        lines.append("      the call went:")
        lines.extend(f"        | {line}" for line in result.trace)
    return lines


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: the characters it cannot are shown as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(report: Report, deployment: str) -> bytes:
    """The report as JUnit XML: one test case per scenario, one per unreadable file."""
    failed = sum(1 for r in report.results if not r.passed) + report.coverage_low
    suite = ET.Element(
        "testsuite",
        name=f"scenarios of {deployment}",
        tests=str(len(report.results) + len(report.problems) + report.coverage_low),
        failures=str(failed),
        errors=str(len(report.problems)),
        time=f"{sum(r.seconds for r in report.results):.6f}",
    )
    if report.coverage is not None:
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("node-coverage", report.coverage.node_percent),
            ("edge-coverage", report.coverage.edge_percent),
        ):
            ET.SubElement(properties, "property", name=name, value=f"{value:g}")
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=result.scenario.span.file,
            name=_xml_text(result.scenario.name),
            time=f"{result.seconds:.6f}",
        )
        if not result.passed:
            failure = ET.SubElement(
                case, "failure", message=_xml_text("; ".join(f.what for f in result.failures))
            )
            failure.text = _xml_text("\n".join(_result_lines(result)[1:]))
    for problem in report.problems:
        case = ET.SubElement(suite, "testcase", classname=problem.span.file, name="(file)")
        error = ET.SubElement(case, "error", message=_xml_text(problem.message))
        error.text = _xml_text(f"{problem.span}: {problem.code} {problem.message}")
    if report.coverage_low and report.coverage is not None:
        case = ET.SubElement(suite, "testcase", classname="coverage", name="edge coverage")
        message = (
            f"edge coverage {report.coverage.edge_percent:g}% is under {report.min_coverage:g}%"
        )
        missed = "\n".join(edge.describe() for edge in report.coverage.missed_edges)
        ET.SubElement(case, "failure", message=message).text = _xml_text(missed)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
