"""`cli.py validate` (check deployments) and `cli.py rules` (the rules a check applies)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from routing_engine import api
from routing_engine.cli.common import Format, FormatOption
from routing_engine.core.diagnostics import render_all_text, render_json, summary_line
from routing_engine.core.waits import Waits, say_seconds
from routing_engine.validate import RULES


def register(app: typer.Typer) -> None:
    """Add this group's commands to the command line."""
    app.command("validate")(validate_command)
    app.command("rules")(rules_command)


def validate_command(
    paths: Annotated[list[str], typer.Argument(help="deployment directories or flow files")],
    output: FormatOption = Format.text,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="also show each number's worst wait, unanswered (text output)"
        ),
    ] = False,
) -> None:
    """Check deployments: every problem, with file:line:col, is reported."""
    failed = False
    all_diagnostics = []
    sources: dict[str, str] = {}
    for path in paths:
        result = api.check(path)
        failed = failed or not result.ok
        all_diagnostics.extend(result.diagnostics)
        sources.update(result.sources)
        if output is Format.text:
            if result.diagnostics:
                typer.echo(render_all_text(result.diagnostics, result.sources))
            if verbose and result.context is not None:
                for line in wait_lines(Waits(result.context)):
                    typer.echo(f"{path}: {line}")
            status = "ok" if result.ok else "FAILED"
            typer.echo(f"{path}: {status}: {summary_line(result.diagnostics)}")
    if output is Format.json:
        typer.echo(render_json(all_diagnostics))
    raise typer.Exit(1 if failed else 0)


def wait_lines(waits: Waits) -> list[str]:
    """One line per dialed number: the longest its caller may ring, queue and listen."""
    return [
        f"{entry.number} -> {entry.flow.name}: a caller waits at most "
        f"{say_seconds(wait.seconds)} unanswered"
        for entry, wait in waits.entries()
    ]


def rules_command(
    explain: Annotated[
        str | None, typer.Option("--explain", metavar="CODE", help="print one rule's doc")
    ] = None,
    output: FormatOption = Format.text,
) -> None:
    """List every validation rule, or explain one."""
    if explain is not None:
        _explain(explain, output)
        return
    ordered = sorted(RULES.values(), key=lambda r: r.code)
    if output is Format.json:
        listed = [
            {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary}
            for r in ordered
        ]
        typer.echo(json.dumps(listed, indent=2))
        return
    for rule in ordered:
        typer.echo(f"{rule.code}  {rule.name:<22} {rule.severity.value:<8} {rule.summary}")


def _explain(code: str, output: Format) -> None:
    """One rule's documentation; exit 2 for a code no rule has."""
    rule = RULES.get(code.upper())
    if rule is None:
        typer.echo(f"error: no rule {code!r}; `rules` lists them all", err=True)
        raise typer.Exit(2)
    if output is Format.json:
        explained = {
            "code": rule.code,
            "name": rule.name,
            "severity": rule.severity.value,
            "doc": rule.doc,
        }
        typer.echo(json.dumps(explained, indent=2))
    else:
        typer.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n\n{rule.doc}")
